r"""A fixed symmetric sparse matrix in ELL layout and its kernels.

``y = alpha L x - beta prev`` for pixel-major ``x`` of shape
``(n_pixels, n_signals)``, so that the neighbours of a pixel are whole
contiguous rows. The HEALPix graph has a handful of neighbours per pixel, so
``L`` is stored as ``neighbours`` and ``weights`` of shape ``(n_pixels, k)``,
rows shorter than ``k`` padded with the pixel itself and weight 0. One
application is then a gather of ``k`` rows and a weighted sum, which runs

- on CPU as the C kernel of :mod:`.native` (one pass, built at first use);
- on CPU with ``compile=False``, or without a C compiler, as torch's
  ``embedding_bag`` (a weighted sum of ``k`` rows per pixel is exactly
  that) followed by the subtraction;
- on CUDA as cuSPARSE's CSR product (``torch.sparse.mm``).

``L`` is symmetric, so the gradient of ``L x`` is ``L`` applied to the
output gradient: forward and backward share one kernel.
"""

import numpy as np
import torch
from scipy import sparse
from torch import nn
from torch.nn import functional

from . import native
from .memory import empty_block

__all__ = ["SparseLaplacian", "laplacian_step"]


def ell_arrays(laplacian):
    """``(neighbours, weights)`` of a symmetric scipy matrix, ELL layout."""
    csr = sparse.csr_matrix(laplacian)
    csr.sum_duplicates()
    n = csr.shape[0]
    if csr.shape != (n, n):
        raise ValueError(f"laplacian must be square, got shape {csr.shape}")
    asymmetry = abs(csr - csr.T).max() if csr.nnz else 0.0
    if asymmetry > 1e-5 * max(abs(csr).max() if csr.nnz else 0.0, 1e-30):
        raise ValueError("laplacian must be symmetric: the backward pass "
                         f"applies it again (max |L - L^T| = {asymmetry:.3g})")
    counts = np.diff(csr.indptr)
    width = max(int(counts.max()) if n else 0, 1)
    slot = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], counts)
    rows = np.repeat(np.arange(n), counts)
    # Padding gathers the pixel itself (already in cache) with weight 0.
    neighbours = np.repeat(np.arange(n, dtype=np.int64)[:, None], width, axis=1)
    weights = np.zeros((n, width), dtype=np.float32)
    neighbours[rows, slot] = csr.indices
    weights[rows, slot] = csr.data
    return neighbours, weights


def _uses_sparse_mm(x):
    """cuSPARSE on CUDA (tests force this branch on CPU by monkeypatching)."""
    return x.device.type != "cpu"


def laplacian_step(operator, x, alpha, prev=None, beta=0.0, out=None):
    """``alpha * L x - beta * prev`` (``prev`` may be ``None``), no autograd.

    ``x`` and ``prev`` are contiguous (n_pixels, n_signals); the result is
    written into ``out`` (a fresh block if ``None``, never ``x``).
    """
    x = x.detach()
    prev = None if prev is None or beta == 0 else prev.detach()
    if not _uses_sparse_mm(x):
        kernel = native.kernel(x.dtype)
        if kernel is not None:
            operator.check_operands(x, prev, out)
            x = x.contiguous()
            prev = None if prev is None else prev.contiguous()
            target = out if out is not None and out.is_contiguous() else empty_block(
                x.shape, x.dtype, x.device)
            native.gather(kernel, x, operator.neighbours.long().contiguous(),
                          operator._scaled_weights(1.0, x.dtype).contiguous(), alpha, prev,
                          beta, target)
            return target if out is None or target is out else out.copy_(target)
        # A bag of k weighted rows per pixel is exactly an ELL product;
        # alpha goes into the weights, so the only other pass is the one
        # that subtracts prev into out.
        weights = operator._scaled_weights(alpha, x.dtype)
        product = functional.embedding_bag(operator.neighbours, x, mode="sum",
                                           per_sample_weights=weights)
        return _combine(product, prev, beta, out)
    product = torch.sparse.mm(operator.matrix(x.dtype), x)
    if alpha != 1:
        product.mul_(alpha)
    return _combine(product, prev, beta, out)


def _combine(product, prev, beta, out):
    """``product - beta * prev`` into ``out`` (or into ``product``, a fresh
    block, when ``out`` is None), in one pass."""
    if prev is None:
        return product if out is None else out.copy_(product)
    if out is None:
        return product.sub_(prev, alpha=beta)
    return torch.sub(product, prev, alpha=beta, out=out)


class _Apply(torch.autograd.Function):
    """``L x`` with ``L`` symmetric: the backward applies ``L`` again."""

    @staticmethod
    def forward(ctx, operator, x):
        ctx.operator = operator
        return laplacian_step(operator, x, 1.0)

    @staticmethod
    def backward(ctx, grad):
        return None, laplacian_step(ctx.operator, grad.contiguous(), 1.0)


class SparseLaplacian(nn.Module):
    """A fixed symmetric sparse matrix acting on pixel-major signals.

    Parameters
    ----------
    laplacian : scipy.sparse matrix of shape (n_pixels, n_pixels)
        Symmetric (e.g. the rescaled Laplacian of
        :func:`skdeepsphere.graph.healpix_laplacian`).

    Attributes
    ----------
    n_pixels : int
    neighbours : torch.Tensor of shape (n_pixels, k), int64 buffer
        Column of each stored entry, row by row (ELL layout).
    weights : torch.Tensor of shape (n_pixels, k), float32 buffer
        Value of each stored entry; padding entries are 0.

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.graph import healpix_laplacian
    >>> from skdeepsphere.nn import SparseLaplacian
    >>> operator = SparseLaplacian(healpix_laplacian(4))
    >>> operator(torch.ones(192, 3)).shape
    torch.Size([192, 3])
    """

    def __init__(self, laplacian):
        super().__init__()
        neighbours, weights = ell_arrays(laplacian)
        self.n_pixels = neighbours.shape[0]
        self.register_buffer("neighbours", torch.from_numpy(neighbours))
        self.register_buffer("weights", torch.from_numpy(weights))
        self._csr_cache = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_csr_cache"] = {}
        state["_scaled_cache"] = {}
        state["_checked"] = None
        return state

    def _apply(self, fn, *args, **kwargs):
        self._csr_cache = {}
        self._scaled_cache = {}
        return super()._apply(fn, *args, **kwargs)

    def matrix(self, dtype=None):
        """The operator as a torch sparse CSR tensor (cached per device and dtype)."""
        dtype = self.weights.dtype if dtype is None else dtype
        key = (self.weights.device, dtype)
        if key not in self._csr_cache:
            n, width = self.neighbours.shape
            crow = torch.arange(0, n * width + 1, width, device=self.neighbours.device)
            self._csr_cache[key] = torch.sparse_csr_tensor(
                crow, self.neighbours.reshape(-1), self.weights.reshape(-1).to(dtype),
                size=(n, n), check_invariants=False)
        return self._csr_cache[key]

    def _scaled_weights(self, alpha, dtype):
        """``alpha * weights`` in ``dtype``, cached while the buffer is unchanged
        (the Chebyshev recursion asks for the same two scalings on every step)."""
        if alpha == 1 and dtype == self.weights.dtype:
            return self.weights
        key = (float(alpha), dtype, self.weights.data_ptr(), self.weights._version)
        cache = self.__dict__.setdefault("_scaled_cache", {})
        if key not in cache:
            if len(cache) > 8:
                cache.clear()
            cache[key] = self.weights.to(dtype) * alpha
        return cache[key]

    def check_operands(self, x, prev, out):
        """Guard the C kernel, which gathers without bounds checks."""
        if self.neighbours.device != x.device or self.weights.device != x.device:
            raise ValueError(f"x is on {x.device} but the Laplacian on "
                             f"{self.neighbours.device}: move one with .to()")
        expected = (self.n_pixels,) + tuple(x.shape[1:])
        for name, block in (("x", x), ("prev", prev), ("out", out)):
            if block is not None and tuple(block.shape) != expected:
                raise ValueError(f"{name} must have shape {expected} for a Laplacian of "
                                 f"{self.n_pixels} pixels, got {tuple(block.shape)}")
            if block is not None and block.dtype != x.dtype:
                raise TypeError(f"{name} must have the dtype of x ({x.dtype}), got {block.dtype}")
        if out is not None and out.numel() and out.data_ptr() == x.data_ptr():
            raise ValueError("out must not be x: each row of the result reads several of x's")
        # The buffer may have been replaced (load_state_dict): check it
        # again whenever its memory or version changes.
        key = (self.neighbours.data_ptr(), self.neighbours._version)
        if getattr(self, "_checked", None) != key:
            neighbours = self.neighbours
            if neighbours.numel() and (int(neighbours.min()) < 0
                                       or int(neighbours.max()) >= self.n_pixels):
                raise ValueError(f"neighbours must be in [0, {self.n_pixels}), got "
                                 f"[{int(neighbours.min())}, {int(neighbours.max())}]")
            self._checked = key

    def forward(self, x):
        """Return ``L @ x`` for ``x`` of shape (n_pixels, n_signals)."""
        return _Apply.apply(self, x.contiguous())

    def extra_repr(self):
        return f"n_pixels={self.n_pixels}, neighbours={self.neighbours.shape[1]}"

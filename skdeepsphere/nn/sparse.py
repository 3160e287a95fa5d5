r"""Application of a fixed, symmetric sparse Laplacian to a block of signals.

This is the inner loop of every Chebyshev convolution: ``y = L x`` with
``x`` of shape ``(n_pixels, n_signals)`` (pixel-major, so that the
neighbours of a pixel are whole contiguous rows).

The HEALPix graph has at most a handful of neighbours per pixel, so the
operator is stored in ELL layout: ``neighbours`` and ``weights`` of shape
``(n_pixels, k)``, rows shorter than ``k`` padded with the pixel itself and
weight 0. One application is then a gather of ``k`` contiguous rows and a
weighted sum, which

- on CPU, for large blocks, :func:`torch.compile` turns into one fused loop
  vectorised over the signals (about 1.8x scipy's CSR product and 2-4x
  torch's on a 2-core machine, see ``benchmarks/README.md``);
- on CPU, for small blocks (or when compiling is off or fails), runs as
  scipy's CSR product on numpy views, which needs no compilation;
- on CUDA, runs as cuSPARSE's CSR product.

``L`` is symmetric, so the gradient of ``y = L x`` is ``L`` applied to the
output gradient: forward and backward share one kernel.

The switch ``SKDEEPSPHERE_COMPILE`` (environment variable, read at each call)
chooses the CPU kernel: ``0`` never compiles, ``1`` always does, ``auto``
(the default) compiles only for blocks of at least
:data:`COMPILE_MIN_ELEMENTS` elements, where the one-off compilation (about
10 s) is repaid within a few training steps and small test shapes never pay it.
"""

import os
import warnings

import numpy as np
import torch
from scipy import sparse
from torch import nn

__all__ = ["SparseLaplacian", "COMPILE_MIN_ELEMENTS"]

#: Smallest ``n_pixels * n_signals`` for which ``SKDEEPSPHERE_COMPILE=auto``
#: uses the compiled CPU kernel (nside 32 with 128 signals and up).
COMPILE_MIN_ELEMENTS = 1 << 22

_compiled_kernel = None
_compile_failed = False


def empty_block(shape, dtype=torch.float32, device="cpu"):
    """An uninitialised tensor; large CPU blocks come from numpy.

    numpy advises the kernel to back large arrays with transparent huge
    pages, so first-touch page faults cost a fraction of those of torch's
    CPU allocator (on the 2-core benchmark VM, 40-60 ms per 100 MB with
    torch against 10-20 ms with numpy, which is more than the kernel).
    """
    device = torch.device(device)
    if (device.type == "cpu" and dtype in (torch.float32, torch.float64)
            and int(np.prod(shape)) >= 1 << 20):
        numpy_dtype = np.float32 if dtype == torch.float32 else np.float64
        return torch.from_numpy(np.empty(shape, dtype=numpy_dtype))
    return torch.empty(shape, dtype=dtype, device=device)


def _gather_step(x, neighbours, weights, alpha, prev, beta, out):
    """``out = alpha * L x - beta * prev`` with ``L`` in ELL layout.

    Written as an unrolled sum over neighbour slots so that inductor fuses it
    into a single loop over pixels, vectorised over the contiguous signals,
    that writes straight into ``out``.
    """
    y = weights[:, 0:1] * x[neighbours[:, 0]]
    for slot in range(1, neighbours.shape[1]):
        y = y + weights[:, slot:slot + 1] * x[neighbours[:, slot]]
    out.copy_(alpha * y - beta * prev)
    return out


def _compile_mode(numel):
    mode = os.environ.get("SKDEEPSPHERE_COMPILE", "auto").strip().lower()
    if mode in ("0", "false", "no", "off"):
        return False
    if mode in ("1", "true", "yes", "on"):
        return True
    return numel >= COMPILE_MIN_ELEMENTS


def _run_compiled(*args):
    """The compiled kernel, or ``None`` if compilation is unavailable."""
    global _compiled_kernel, _compile_failed
    if _compile_failed:
        return None
    try:
        if _compiled_kernel is None:
            # dynamic=True: one compilation serves every n_pixels and n_signals.
            _compiled_kernel = torch.compile(_gather_step, dynamic=True)
        return _compiled_kernel(*args)
    except Exception as error:  # no C++ compiler, unsupported platform, ...
        _compile_failed = True
        warnings.warn(f"torch.compile of the Laplacian kernel failed, using scipy "
                      f"instead ({type(error).__name__}: {error})", RuntimeWarning)
        return None


class _Apply(torch.autograd.Function):
    """``alpha * L x - beta * prev``; symmetric ``L``, so the backward reuses it."""

    @staticmethod
    def forward(ctx, operator, x, prev, alpha, beta):
        ctx.operator, ctx.alpha, ctx.beta = operator, alpha, beta
        ctx.has_prev = prev is not None
        return operator._kernel(x, alpha, prev, beta)

    @staticmethod
    def backward(ctx, grad):
        grad_x = ctx.operator._kernel(grad.contiguous(), ctx.alpha, None, 0.0)
        grad_prev = -ctx.beta * grad if ctx.has_prev and ctx.needs_input_grad[2] else None
        return None, grad_x, grad_prev, None, None


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
    >>> from skdeepsphere.nn.sparse import SparseLaplacian
    >>> operator = SparseLaplacian(healpix_laplacian(4))
    >>> operator(torch.ones(192, 3)).shape
    torch.Size([192, 3])
    """

    def __init__(self, laplacian):
        super().__init__()
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
        self.n_pixels = n
        self.register_buffer("neighbours", torch.from_numpy(neighbours))
        self.register_buffer("weights", torch.from_numpy(weights))
        self._csr_cache = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_csr_cache"] = {}
        return state

    def _apply(self, fn, *args, **kwargs):
        self._csr_cache = {}
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

    def _scipy_matrix(self, dtype):
        n, width = self.neighbours.shape
        return sparse.csr_matrix(
            (self.weights.numpy().astype(dtype, copy=False).ravel(),
             self.neighbours.numpy().ravel(), np.arange(0, n * width + 1, width)),
            shape=(n, n))

    def _kernel(self, x, alpha, prev, beta, out=None):
        """``alpha * L x - beta * prev`` (``prev`` may be ``None``), no autograd.

        ``x`` and ``prev`` are contiguous (n_pixels, n_signals); the result is
        written into ``out`` (a fresh tensor if ``None``, never ``x``).
        """
        x = x.detach()
        if x.device.type == "cpu" and _compile_mode(x.numel()):
            # Detached inputs and 0-d scalars keep the guards stable: the only
            # variants compiled are L x (prev is x) and the recursion step.
            scalars = torch.tensor([alpha, 0.0 if prev is None else beta], dtype=x.dtype)
            target = empty_block(x.shape, x.dtype, x.device) if out is None else out
            done = _run_compiled(x, self.neighbours, self.weights.to(x.dtype), scalars[0],
                                 x if prev is None else prev.detach(), scalars[1], target)
            if done is not None:
                return target
        if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
            product = torch.from_numpy(self._scipy_matrix(x.numpy().dtype) @ x.numpy())
        else:
            product = torch.sparse.mm(self.matrix(x.dtype), x)
        out = product if out is None else out.copy_(product)
        if alpha != 1:
            out.mul_(alpha)
        if prev is not None and beta != 0:
            out.sub_(prev, alpha=beta)
        return out

    def forward(self, x):
        """Return ``L @ x`` for ``x`` of shape (n_pixels, n_signals)."""
        return _Apply.apply(self, x.contiguous(), None, 1.0, 0.0)

    def chebyshev_step(self, x, prev):
        r"""Return ``2 L x - prev``, the Chebyshev recursion in one pass."""
        return _Apply.apply(self, x.contiguous(), prev, 2.0, 1.0)

    def extra_repr(self):
        return f"n_pixels={self.n_pixels}, neighbours={self.neighbours.shape[1]}"

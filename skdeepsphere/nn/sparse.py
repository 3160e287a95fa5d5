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
  vectorised over the signals (about 2x scipy's CSR product and 3-4x
  torch.sparse's on a 2-core machine, see ``benchmarks/README.md``); ``L x``
  and the Chebyshev step ``2 L x - prev`` are separate kernels, so that ``L x``
  streams only its input and its output;
- on CPU, for small blocks (or when compiling is off or fails), runs as
  torch's ``embedding_bag`` (a weighted sum of ``k`` rows per pixel is
  exactly that), which needs no compilation;
- on CUDA, runs as cuSPARSE's CSR product.

``L`` is symmetric, so the gradient of ``y = L x`` is ``L`` applied to the
output gradient: forward and backward share one kernel.

The switch ``SKDEEPSPHERE_COMPILE`` (environment variable, read at each call)
chooses the CPU kernel: ``0`` never compiles, ``1`` always does, ``auto``
(the default) compiles only for blocks of at least
:data:`COMPILE_MIN_ELEMENTS` elements, where the one-off compilation (about
10 s per process the first time, about 1 s once inductor's on-disk cache
holds it) is repaid within a few training steps and small test shapes never
pay it.

Large CPU blocks (outputs, Chebyshev terms, layout changes) come from a pool
that recycles the memory of blocks nothing refers to any more, as CUDA's
caching allocator does: fresh memory costs page faults that took as long as
the kernel itself. ``SKDEEPSPHERE_POOL_MB`` (default 2048) caps what the pool
keeps; :func:`release_blocks` empties it (the estimators do at the end of
``fit`` and ``predict``).
"""

import math
import os
import sys
import threading
import warnings

import numpy as np
import torch
from scipy import sparse
from torch import nn
from torch.nn import functional

__all__ = ["SparseLaplacian", "COMPILE_MIN_ELEMENTS", "POOL_MIN_ELEMENTS",
           "release_blocks", "transpose_into"]

#: Smallest ``n_pixels * n_signals`` for which ``SKDEEPSPHERE_COMPILE=auto``
#: uses the compiled CPU kernels (nside 32 with 256 signals and up).
COMPILE_MIN_ELEMENTS = 1 << 21

#: Smallest CPU block (in elements) that :func:`empty_block` takes from the
#: recycling pool rather than from torch's allocator.
POOL_MIN_ELEMENTS = 1 << 18


class _BlockPool:
    """Recycles large CPU blocks whose tensors have all died.

    A fresh 100 MB block costs tens of milliseconds of first-touch page
    faults (the kernel zeroes every page), as much as one Laplacian
    application. Training allocates blocks of the same few shapes at every
    step, so, like the CUDA caching allocator, the pool keeps the numpy
    arrays behind past blocks and hands one out again once nothing refers to
    it: a tensor made by :func:`torch.from_numpy` (and every view of it,
    including tensors saved by autograd) holds a reference to its array
    until its storage is freed, so an array whose only references are the
    pool's is provably unused. At most ``capacity`` bytes are kept (least
    recently used dropped first); :func:`release_blocks` empties the pool.
    """

    def __init__(self, capacity):
        self.capacity = capacity
        self._arrays = []
        self._lock = threading.Lock()

    def acquire(self, numel, dtype):
        with self._lock:
            for index in range(len(self._arrays)):
                array = self._arrays[index]
                # References: the list, `array`, and getrefcount's argument.
                if (array.size == numel and array.dtype == dtype
                        and sys.getrefcount(array) == 3):
                    self._arrays.append(self._arrays.pop(index))
                    return array
            array = np.empty(numel, dtype=dtype)
            if array.nbytes <= self.capacity:
                self._arrays.append(array)
                total = self.nbytes
                while total > self.capacity:
                    total -= self._arrays.pop(0).nbytes
            return array

    def clear(self):
        with self._lock:
            self._arrays = []

    @property
    def nbytes(self):
        return sum(a.nbytes for a in self._arrays)


def _pool_capacity():
    megabytes = os.environ.get("SKDEEPSPHERE_POOL_MB", "2048")
    try:
        return max(int(float(megabytes) * 2**20), 0)
    except ValueError:
        raise ValueError(f"SKDEEPSPHERE_POOL_MB must be a number of megabytes, "
                         f"got {megabytes!r}") from None


_pool = _BlockPool(_pool_capacity())


def release_blocks():
    """Return the memory kept by the CPU block pool to the allocator.

    Blocks in use are unaffected. The estimators call this at the end of
    ``fit``; call it after using :class:`ChebConv` layers directly if the
    memory matters.

    Examples
    --------
    >>> from skdeepsphere.nn.sparse import release_blocks
    >>> release_blocks()
    """
    _pool.clear()


def empty_block(shape, dtype=torch.float32, device="cpu"):
    """An uninitialised tensor; large CPU blocks come from a recycling pool.

    Blocks of at least :data:`POOL_MIN_ELEMENTS` float elements on CPU are
    numpy arrays (numpy advises the kernel to back them with transparent huge
    pages) recycled by a pool once unused (see ``SKDEEPSPHERE_POOL_MB``), so
    that steady-state training does not pay first-touch page faults for its
    temporaries. Anything else is a plain :func:`torch.empty`.
    """
    device = torch.device(device)
    numel = math.prod(shape)
    if (device.type == "cpu" and dtype in (torch.float32, torch.float64)
            and numel >= POOL_MIN_ELEMENTS):
        numpy_dtype = np.dtype(np.float32 if dtype == torch.float32 else np.float64)
        return torch.from_numpy(_pool.acquire(numel, numpy_dtype).reshape(shape))
    return torch.empty(shape, dtype=dtype, device=device)


def _weighted_rows(x, neighbours, weights):
    """``sum_slot weights[:, slot] * x[neighbours[:, slot]]``, for inductor.

    ``_unsafe_index`` drops the per-element wrap-around and bounds checks of
    ``x[index]``, which cost a fifth of the kernel's time: the caller
    guarantees the indices (see ``SparseLaplacian._check_indices``).
    """
    gather = torch.ops.aten._unsafe_index
    y = weights[:, 0:1] * gather(x, [neighbours[:, 0]])
    for slot in range(1, neighbours.shape[1]):
        y = y + weights[:, slot:slot + 1] * gather(x, [neighbours[:, slot]])
    return y


def _gather_apply(x, neighbours, weights, alpha, out):
    """``out = alpha * L x`` with ``L`` in ELL layout.

    Written as an unrolled sum over neighbour slots so that inductor fuses it
    into a single loop over pixels, vectorised over the contiguous signals,
    that reads ``x`` and writes straight into ``out``.
    """
    y = _weighted_rows(x, neighbours, weights)
    out.copy_(alpha * y)
    return out


def _gather_step(x, neighbours, weights, alpha, prev, beta, out):
    """``out = alpha * L x - beta * prev``: one Chebyshev recursion step."""
    y = _weighted_rows(x, neighbours, weights)
    out.copy_(alpha * y - beta * prev)
    return out


def _transpose_copy(source, out):
    """``out = source.T`` for 2-D tensors (inductor tiles it better than eager)."""
    out.copy_(source.T)
    return out


def transpose_into(source, out):
    """Write the transpose of the 2-D ``source`` into the contiguous ``out``.

    Layout changes are a large share of a Chebyshev convolution on CPU; the
    compiled copy (same switch as the Laplacian kernel) runs about twice as
    fast as torch's eager transpose copy.
    """
    if (source.device.type == "cpu" and _compile_mode(source.numel())
            and _run_compiled(_transpose_copy, source.detach(), out) is not None):
        return out
    return _transpose_copy(source, out)


def _compile_mode(numel):
    mode = os.environ.get("SKDEEPSPHERE_COMPILE", "auto").strip().lower()
    if mode in ("0", "false", "no", "off"):
        return False
    if mode in ("1", "true", "yes", "on"):
        return True
    return numel >= COMPILE_MIN_ELEMENTS


_compiled = {}
_compile_failed = False


def _run_compiled(function, *args):
    """``function`` compiled (once per process), or ``None`` if unavailable."""
    global _compile_failed
    if _compile_failed:
        return None
    try:
        if function not in _compiled:
            # dynamic=True: one compilation serves every n_pixels and n_signals.
            _compiled[function] = torch.compile(function, dynamic=True)
        return _compiled[function](*args)
    except Exception as error:  # no C++ compiler, unsupported platform, ...
        _compile_failed = True
        warnings.warn(f"torch.compile of the Laplacian kernel failed, using eager "
                      f"kernels instead ({type(error).__name__}: {error})", RuntimeWarning)
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
        state["_checked"] = None
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

    def _check_indices(self, x, prev, out):
        """Guard the compiled kernels, which gather without bounds checks."""
        expected = (self.n_pixels,) + tuple(x.shape[1:])
        for name, block in (("x", x), ("prev", prev), ("out", out)):
            if block is not None and tuple(block.shape) != expected:
                raise ValueError(f"{name} must have shape {expected} for a Laplacian of "
                                 f"{self.n_pixels} pixels, got {tuple(block.shape)}")
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

    def _kernel(self, x, alpha, prev, beta, out=None):
        """``alpha * L x - beta * prev`` (``prev`` may be ``None``), no autograd.

        ``x`` and ``prev`` are contiguous (n_pixels, n_signals); the result is
        written into ``out`` (a fresh tensor if ``None``, never ``x``).
        """
        x = x.detach()
        weights = self.weights.to(x.dtype)
        if x.device.type == "cpu" and _compile_mode(x.numel()):
            self._check_indices(x, prev, out)
            # Detached inputs and 0-d scalars keep the guards stable: one
            # compilation each for L x and for the recursion step.
            scalars = torch.tensor([alpha, beta], dtype=x.dtype)
            target = empty_block(x.shape, x.dtype, x.device) if out is None else out
            if prev is None or beta == 0:
                done = _run_compiled(_gather_apply, x, self.neighbours, weights,
                                     scalars[0], target)
            else:
                done = _run_compiled(_gather_step, x, self.neighbours, weights,
                                     scalars[0], prev.detach(), scalars[1], target)
            if done is not None:
                return target
        if x.device.type == "cpu":
            # A bag of k weighted rows per pixel is exactly an ELL product:
            # torch's embedding_bag kernel is multi-threaded and needs no
            # compilation (2-8x scipy's single-threaded CSR product).
            product = functional.embedding_bag(
                self.neighbours, x, mode="sum",
                per_sample_weights=weights if alpha == 1 else weights * alpha)
            alpha = 1
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

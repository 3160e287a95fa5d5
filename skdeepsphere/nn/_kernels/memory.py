"""Reuse of large CPU blocks between training steps.

A fresh 100 MB block costs tens of milliseconds of first-touch page faults
(the kernel zeroes every page), as much as one Laplacian application, and
glibc returns every block above 32 MB to the system when it is freed.
Training allocates blocks of the same few shapes at every step, so, like
CUDA's caching allocator, :func:`empty_block` hands out numpy-backed blocks
and takes each one back when the last tensor using it dies: the numpy array
given to :func:`torch.from_numpy` is owned by the tensor's storage alone, and
a :func:`weakref.finalize` on it returns the memory to a free list. Freed
blocks are kept up to ``pool_mb`` (see :func:`skdeepsphere.set_config`) and
for at most :data:`KEEP_SECONDS` without reuse: after a fit, a daemon thread
gives the memory back to the system, so nobody has to release it by hand.

numpy advises the kernel to back arrays of 4 MB or more with transparent
huge pages. For the pool's blocks that advice is kept only from
:data:`HUGE_PAGE_MIN_BYTES` on: below, the first write of a fresh block
cost more with it, and erratically (3-187 ms against 10-12 ms for 48 MB
written by two threads, ``benchmarks/run.py --only ops``), and a first fit
at nside 64 took about 1 s more, while the steps that reuse blocks were no
faster; above (nside 256), a training step that reuses its blocks was
faster with huge pages (``benchmarks/README.md``, stop 23).
"""

import math
import threading
import time
import weakref

import numpy as np
import torch

from ..._config import get_config

__all__ = ["empty_block", "HUGE_PAGE_MIN_BYTES", "POOL_MIN_ELEMENTS", "KEEP_SECONDS"]

#: Smallest CPU block (in elements) that :func:`empty_block` takes from the
#: pool rather than from torch's allocator (1 MB of float32).
POOL_MIN_ELEMENTS = 1 << 18

#: A freed block not reused within this many seconds goes back to the system.
KEEP_SECONDS = 2.0

#: Smallest block (in bytes) that keeps numpy's advice to use transparent
#: huge pages (see the module's docstring).
HUGE_PAGE_MIN_BYTES = 1 << 27

try:  # numpy 2
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # numpy 1
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:
        _set_madvise_hugepage = None


def _empty_array(numel, dtype):
    """``np.empty(numel, dtype)``, advised to use huge pages only from
    :data:`HUGE_PAGE_MIN_BYTES` on (numpy's switch is global: it is put
    back at once)."""
    if _set_madvise_hugepage is None or numel * dtype.itemsize >= HUGE_PAGE_MIN_BYTES:
        return np.empty(numel, dtype=dtype)
    previous = _set_madvise_hugepage(False)
    try:
        return np.empty(numel, dtype=dtype)
    finally:
        _set_madvise_hugepage(previous)


class BlockPool:
    """Free list of numpy arrays by (size, dtype), trimmed by age and size."""

    def __init__(self):
        self._free = {}  # (numel, dtype) -> [(array, freed_at), ...]
        self._nbytes = 0
        # Finalizers run wherever a tensor dies, possibly while this thread
        # already holds the lock (a block dropped inside `acquire`).
        self._lock = threading.RLock()
        self._trimmer = None

    @property
    def nbytes(self):
        """Bytes of freed blocks kept for reuse."""
        return self._nbytes

    def tensor(self, shape, dtype):
        """A tensor of ``shape`` over a pooled array of numpy ``dtype``."""
        numel = math.prod(shape)
        key = (numel, dtype)
        with self._lock:
            blocks = self._free.get(key)
            if blocks:
                array, _ = blocks.pop()
                self._nbytes -= array.nbytes
            else:
                array = _empty_array(numel, dtype)
        # The view is referenced by the tensor's storage only: when the last
        # tensor (or autograd's saved copy) using the memory dies, so does it.
        view = array.reshape(shape)
        finalizer = weakref.finalize(view, self._give_back, array)
        finalizer.atexit = False
        return torch.from_numpy(view)

    def _give_back(self, array):
        capacity = get_config()["pool_mb"] * 2**20
        with self._lock:
            if self._nbytes + array.nbytes > capacity:
                return
            self._free.setdefault((array.size, array.dtype), []).append(
                (array, time.monotonic()))
            self._nbytes += array.nbytes
            if self._trimmer is None or not self._trimmer.is_alive():
                self._trimmer = threading.Thread(target=self._trim_while_holding,
                                                 name="skdeepsphere-block-pool", daemon=True)
                self._trimmer.start()

    def trim(self, older_than=0.0):
        """Drop the freed blocks unused for ``older_than`` seconds or more."""
        limit = time.monotonic() - older_than
        with self._lock:
            for key in list(self._free):
                kept = [(a, t) for a, t in self._free[key] if t > limit]
                self._nbytes -= sum(a.nbytes for a, t in self._free[key] if t <= limit)
                if kept:
                    self._free[key] = kept
                else:
                    del self._free[key]
            return self._nbytes

    def _trim_while_holding(self):
        # Lives while the pool holds anything; a new one starts with the
        # next freed block.
        while True:
            time.sleep(KEEP_SECONDS / 2)
            with self._lock:
                if not self.trim(KEEP_SECONDS):
                    self._trimmer = None
                    return


_pool = BlockPool()


def empty_block(shape, dtype=torch.float32, device="cpu"):
    """An uninitialised tensor; large float CPU blocks are recycled.

    Blocks of at least :data:`POOL_MIN_ELEMENTS` float32/float64 elements on
    CPU come from the pool (backed by transparent huge pages from
    :data:`HUGE_PAGE_MIN_BYTES` on); anything else is a plain :func:`torch.empty`
    (on CUDA, torch's caching allocator does the recycling).
    """
    device = torch.device(device)
    if (device.type == "cpu" and dtype in (torch.float32, torch.float64)
            and math.prod(shape) >= POOL_MIN_ELEMENTS and get_config()["pool_mb"] > 0):
        return _pool.tensor(tuple(shape), np.dtype(np.float32 if dtype == torch.float32
                                                   else np.float64))
    return torch.empty(shape, dtype=dtype, device=device)

"""Maps read lazily, a block of rows at a time, from arrays larger than memory.

A :class:`numpy.memmap` (or an HDF5/zarr dataset, anything with ``shape``,
``dtype`` and row indexing) is never converted to one in-memory array: the
estimators and transformers read it in blocks of :data:`CHUNK_BYTES`,
validate each block with :func:`skdeepsphere.healpix.check_maps` and keep
only what they compute from it (statistics, features, predictions).
:class:`MapDataset` hands such maps to skorch's data loader a row at a time.

This module imports torch only when :class:`MapDataset` is first used, so
that the feature transformers, which read lazy maps through it, do not pay
for torch.
"""

import mmap

import numpy as np

from .healpix import check_maps

__all__ = ["is_lazy", "lazy_shape", "iter_chunks", "release_rows", "channel_statistics",
           "channel_moments", "merge_moments",
           "MapDataset"]

#: Bytes of float32 maps held at once when a lazy array is read in blocks.
CHUNK_BYTES = 32 * 2**20


def is_lazy(X):
    """Whether ``X`` is read block by block instead of as one array.

    True for :class:`numpy.memmap` and for array-likes that are not numpy
    arrays but index rows lazily (``shape``, a numpy ``dtype`` and
    ``__getitem__``, e.g. :class:`h5py.Dataset`).

    Parameters
    ----------
    X : object
        The data given to ``fit``, ``predict`` or ``transform``.

    Returns
    -------
    lazy : bool

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.streaming import is_lazy
    >>> is_lazy(np.zeros((2, 768))), is_lazy([[0.0] * 768])
    (False, False)
    """
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, np.ndarray) or hasattr(X, "toarray") or hasattr(X, "tocsr"):
        return False
    if not all(hasattr(X, name) for name in ("shape", "dtype", "__getitem__")):
        return False
    try:
        np.dtype(X.dtype)
    except TypeError:  # e.g. torch tensors: not a numpy dtype
        return False
    return True


def lazy_shape(X):
    """Validate the shape and dtype of a lazy array without reading it.

    Parameters
    ----------
    X : array-like read lazily (see :func:`is_lazy`)
        Maps of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels).

    Returns
    -------
    shape : tuple of int
        ``(n_samples, n_channels, n_pixels)``.

    Raises
    ------
    TypeError
        If the dtype is not a real number type.
    ValueError
        If ``X`` has the wrong number of dimensions or is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.streaming import lazy_shape
    >>> lazy_shape(np.zeros((4, 2, 768)))
    (4, 2, 768)
    """
    dtype = np.dtype(X.dtype)
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError("Complex data not supported: maps must be real")
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise TypeError(f"maps must be numeric arrays, got dtype {dtype}")
    shape = tuple(int(n) for n in X.shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            "maps must have shape (n_samples, n_pixels) or "
            f"(n_samples, n_channels, n_pixels), got an array of shape {shape}."
        )
    if len(shape) == 2:
        shape = (shape[0], 1, shape[1])
    if shape[0] < 1:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a "
            "minimum of 1 is required: maps must not be empty"
        )
    if shape[1] < 1 or shape[2] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(X.shape)}) while a "
            "minimum of 1 is required: maps must have at least one channel and pixel"
        )
    return shape


def iter_chunks(X, *, allow_nan=False, chunk_bytes=None, dtype=np.float32):
    """Validated blocks of rows of ``X`` as float arrays.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
        In-memory or lazy maps.
    allow_nan : bool, default=False
        Accept NaN (masked) pixels, as :func:`~skdeepsphere.healpix.check_maps`.
    chunk_bytes : int, default=None
        Size of a block in float32 bytes; ``None``: :data:`CHUNK_BYTES`.
    dtype : numpy dtype, default=np.float32
        Dtype of the blocks.

    Yields
    ------
    start : int
        Index of the block's first row.
    maps : ndarray of shape (n_rows, n_channels, n_pixels)
        The block, checked for NaN and infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.streaming import iter_chunks
    >>> [(start, maps.shape) for start, maps in iter_chunks(np.zeros((3, 768)), chunk_bytes=4096)]
    [(0, (1, 1, 768)), (1, (1, 1, 768)), (2, (1, 1, 768))]
    """
    n_samples, n_channels, n_pixels = lazy_shape(X)
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    rows = max(1, chunk_bytes // (4 * n_channels * n_pixels))
    for start in range(0, n_samples, rows):
        try:
            block = check_maps(X[start:start + rows], allow_nan=allow_nan, dtype=dtype)
        except ValueError as error:
            raise ValueError(f"rows {start} to {min(start + rows, n_samples) - 1}: "
                             f"{error}") from None
        yield start, block
        release_rows(X, start, start + rows)


def release_rows(X, start, stop):
    """Drop rows of a read-only :class:`numpy.memmap` from the resident memory.

    Pages of a file mapping stay in the process's resident set (RSS) once
    read, until the kernel needs them back: a pass over a memmap larger than
    memory would look like it holds the whole file. ``madvise(MADV_DONTNEED)``
    unmaps the pages of rows already read (they stay in the page cache and
    are read again on access). Does nothing for anything but a C-contiguous
    memmap opened with ``mode="r"`` (a copy-on-write mapping would lose its
    changes).

    Parameters
    ----------
    X : array-like
        The maps.
    start, stop : int
        Rows ``start`` to ``stop - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.streaming import release_rows
    >>> release_rows(np.zeros((3, 768)), 0, 2)  # not a memmap: nothing to do
    """
    mapping = getattr(X, "_mmap", None)
    if (not isinstance(X, np.memmap) or getattr(X, "mode", None) != "r" or mapping is None
            or not hasattr(mapping, "madvise") or not X.flags.c_contiguous):
        return
    origin = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    stop = min(stop, X.shape[0])
    begin = X.ctypes.data - origin + start * X.strides[0]
    end = X.ctypes.data - origin + stop * X.strides[0]
    begin -= begin % mmap.PAGESIZE
    if end > begin:
        mapping.madvise(mmap.MADV_DONTNEED, begin, end - begin)


def channel_statistics(chunks):
    """Mean and standard deviation of each channel over blocks of maps.

    The blocks are combined with the pairwise update of Chan, Golub and
    LeVeque (1979) in float64, so the result does not depend on how the
    maps are split into blocks beyond rounding.

    Parameters
    ----------
    chunks : iterable of ndarray of shape (n_rows, n_channels, n_pixels)

    Returns
    -------
    mean, std : ndarray of shape (n_channels,), float64

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.streaming import channel_statistics
    >>> maps = np.arange(24.0).reshape(4, 2, 3)
    >>> mean, std = channel_statistics([maps[:1], maps[1:]])
    >>> bool(np.allclose(mean, maps.mean((0, 2))) and np.allclose(std, maps.std((0, 2))))
    True
    """
    count, mean, m2 = channel_moments(chunks)
    return np.asarray(mean), np.sqrt(np.asarray(m2) / count)


def channel_moments(chunks):
    """Count, mean and sum of squared deviations of each channel over blocks.

    What :func:`channel_statistics` computes before its last step, in a
    form that parts of the maps (e.g. read by different processes) can be
    combined in with :func:`merge_moments`.

    Parameters
    ----------
    chunks : iterable of ndarray of shape (n_rows, n_channels, n_pixels)

    Returns
    -------
    count : int
        Values per channel (maps times pixels).
    mean, m2 : ndarray of shape (n_channels,), float64

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.streaming import channel_moments
    >>> count, mean, m2 = channel_moments([np.arange(4.0).reshape(1, 1, 4)])
    >>> count, mean.tolist(), m2.tolist()
    (4, [1.5], [5.0])
    """
    return merge_moments(_chunk_moments(chunks))


def _chunk_moments(chunks):
    """``(count, mean, m2)`` per channel of each block (m2: sum of squared deviations)."""
    for maps in chunks:
        maps = np.asarray(maps, dtype=np.float64)
        chunk_mean = maps.mean(axis=(0, 2))
        yield (maps.shape[0] * maps.shape[2], chunk_mean,
               ((maps - chunk_mean[:, None]) ** 2).sum(axis=(0, 2)))


def merge_moments(moments):
    """Combine per-part ``(count, mean, m2)`` moments into those of the whole.

    The pairwise update of Chan, Golub and LeVeque (1979); parts with a
    count of 0 are skipped.

    Parameters
    ----------
    moments : iterable of (int, ndarray, ndarray)
        Count, mean and sum of squared deviations of each part.

    Returns
    -------
    count : int
    mean, m2 : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.streaming import merge_moments
    >>> count, mean, m2 = merge_moments([(2, np.array([1.0]), np.array([2.0])),
    ...                                  (2, np.array([3.0]), np.array([2.0]))])
    >>> count, mean.tolist(), m2.tolist()  # of the values 0, 2, 2, 4
    (4, [2.0], [8.0])
    """
    count, mean, m2 = 0, 0.0, 0.0
    for n, part_mean, part_m2 in moments:
        if n == 0:
            continue
        delta = part_mean - mean
        total = count + n
        mean = mean + delta * (n / total)
        m2 = m2 + part_m2 + delta**2 * (count * n / total)
        count = total
    return count, mean, m2


def _define_map_dataset():
    import torch

    class MapDataset(torch.utils.data.Dataset):
        """Standardised nested maps read one row at a time from an array.

        Parameters
        ----------
        maps : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
            Maps in the input ordering, e.g. a :class:`numpy.memmap`.
        pixel_order : ndarray of int
            Permutation of the columns to sorted nested order.
        mean, scale : ndarray of shape (n_channels,), float32
            ``(map - mean) / scale`` per channel.
        targets : ndarray, default=None
            One target per map; ``None`` at prediction time.
        validate : bool, default=False
            Check each row as :func:`~skdeepsphere.healpix.check_maps` does
            (a ValueError on NaN, infinite or ``healpy.UNSEEN`` values), for
            data not validated before.

        Examples
        --------
        >>> import numpy as np
        >>> from skdeepsphere.streaming import MapDataset
        >>> data = MapDataset(np.ones((3, 2, 4)), np.arange(4), np.ones(2), np.full(2, 2.0))
        >>> len(data), data[0][0].shape
        (3, torch.Size([2, 4]))
        """

        def __init__(self, maps, pixel_order, mean, scale, targets=None, *, validate=False):
            self.maps = maps
            self.pixel_order = pixel_order
            self.mean = np.asarray(mean, dtype=np.float32)[:, None]
            self.scale = np.asarray(scale, dtype=np.float32)[:, None]
            self.targets = targets
            self.validate = validate

        def __len__(self):
            return int(self.maps.shape[0])

        def __getitem__(self, index):
            row = np.asarray(self.maps[index], dtype=np.float32).reshape(len(self.mean), -1)
            if self.validate:
                try:
                    check_maps(row[None], dtype=np.float32)
                except ValueError as error:
                    raise ValueError(f"map {index}: {error}") from None
            row = (row[:, self.pixel_order] - self.mean) / self.scale
            release_rows(self.maps, index, index + 1)
            target = 0 if self.targets is None else self.targets[index]
            return torch.from_numpy(row), target

    # Found by pickle (DataLoader workers) and sphinx as a module-level class.
    MapDataset.__module__, MapDataset.__qualname__ = __name__, "MapDataset"
    return MapDataset


def __getattr__(name):
    # MapDataset subclasses torch's Dataset (skorch accepts only those as
    # data): it is defined on first use, so that importing this module does
    # not import torch.
    if name == "MapDataset":
        globals()["MapDataset"] = _define_map_dataset()
        return globals()["MapDataset"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

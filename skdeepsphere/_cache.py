"""Every cache of the package (private): graphs in this process and on disk.

- :func:`laplacian_hierarchy` keeps the last Laplacian hierarchies in memory:
  grid searches and cross-validation refit on the same geometry many times.
- :func:`cached_laplacian` stores large rescaled Laplacians on disk, in
  :func:`cache_directory`, for later fits in this or any other process.

The disk cache holds no pickles, only arrays: one ``.npz`` file per
Laplacian, written with :func:`numpy.savez` and read with
``numpy.load(allow_pickle=False)``, so a file planted in a shared cache
cannot run code. Each file stores the digest of the parameters it was built
from; before use its content is checked (digest, shape, dtypes, the sparse
structure), and a corrupt or foreign entry is rebuilt with a warning.
Writes go to a unique temporary file renamed into place, so concurrent fits
sharing a cache never read half a file.

This module does not import torch.
"""

import functools
import hashlib
import json
import os
import warnings
import zipfile

import numpy as np
from scipy import sparse

from ._files import unique_temporary

# Bump when the construction of the graph changes: cached Laplacians of an
# older construction are then ignored (their digest differs).
FORMAT = 2
# Laplacians of fewer pixels (nside < 64) are faster to build than to load.
MIN_PIXELS = 12 * 64**2


def cache_directory():
    """Folder where :func:`~skdeepsphere.graph.laplacian_hierarchy` caches large Laplacians.

    Building the k-nearest-neighbour graph and estimating
    :math:`\\lambda_{max}` take tens of seconds at ``nside = 1024``, so the
    rescaled Laplacians of levels with at least 49 152 pixels
    (``nside >= 64`` on a full sky) are stored as ``.npz`` files of arrays
    (no pickle: a file in a shared cache cannot run code; each is checked
    before use and rebuilt with a warning if corrupt) and loaded by later
    fits, in this or any other process. The folder is
    ``$SKDEEPSPHERE_CACHE`` if that environment variable is set, else
    ``$XDG_CACHE_HOME/skdeepsphere`` (``~/.cache/skdeepsphere``). Setting
    ``SKDEEPSPHERE_CACHE`` to an empty string disables the cache. Delete the
    folder to reclaim the space.

    Returns
    -------
    directory : str or None
        ``None`` when caching is disabled.

    Examples
    --------
    >>> from skdeepsphere.graph import cache_directory
    >>> cache_directory()  # doctest: +SKIP
    '/home/me/.cache/skdeepsphere'
    """
    directory = os.environ.get("SKDEEPSPHERE_CACHE")
    if directory is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache")
        directory = os.path.join(base, "skdeepsphere")
    return directory or None


def _digest(nside, nested_pixels, kwargs):
    pixels = None if nested_pixels is None else hashlib.sha256(
        np.ascontiguousarray(nested_pixels, dtype=np.int64).tobytes()).hexdigest()
    text = json.dumps({"format": FORMAT, "nside": int(nside), "pixels": pixels,
                       **{name: kwargs.get(name) for name in
                          ("graph", "n_neighbors", "kernel_width", "lmax")}},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(directory, nside, nested_pixels, **kwargs):
    """File of the Laplacian with these parameters in ``directory``."""
    return os.path.join(directory, f"laplacian-{_digest(nside, nested_pixels, kwargs)}.npz")


def _read(path, digest, n):
    """The checked CSR matrix in ``path``; ValueError saying what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = set(arrays.files)
            if names != {"digest", "shape", "data", "indices", "indptr"}:
                raise ValueError(f"arrays {sorted(names)}")
            stored, shape = arrays["digest"], arrays["shape"]
            data, indices, indptr = arrays["data"], arrays["indices"], arrays["indptr"]
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{type(error).__name__}: {error}") from None
    if stored.shape != () or str(stored) != digest:
        raise ValueError("built for other parameters")
    if shape.dtype.kind != "i" or shape.tolist() != [n, n]:
        raise ValueError(f"shape {shape.tolist()}, expected {[n, n]}")
    if (data.dtype != np.float32 or indices.dtype not in (np.int32, np.int64)
            or indptr.dtype != indices.dtype or data.ndim != 1 or indices.shape != data.shape
            or indptr.shape != (n + 1,)):
        raise ValueError("dtypes or sizes of the sparse arrays")
    if (indptr[0] != 0 or indptr[-1] != data.size or np.any(np.diff(indptr) < 0)
            or (indices.size and (indices.min() < 0 or indices.max() >= n))
            or not np.isfinite(data).all()):
        raise ValueError("inconsistent sparse structure")
    return sparse.csr_matrix((data, indices, indptr), shape=(n, n))


def _write(path, digest, matrix):
    temporary = unique_temporary(path)
    try:
        with open(temporary, "xb") as file:
            np.savez(file, digest=np.array(digest), shape=np.array(matrix.shape, np.int64),
                     data=matrix.data, indices=matrix.indices, indptr=matrix.indptr)
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.remove(temporary)
        raise


def cached_laplacian(build, nside, nested_pixels, n_pixels, **kwargs):
    """``build(nside, nested_pixels, **kwargs)``, read from or written to the disk cache.

    Only Laplacians of at least :data:`MIN_PIXELS` pixels are cached; an
    unusable folder or a bad entry gives a :class:`RuntimeWarning` and the
    Laplacian is built.
    """
    directory = cache_directory()
    if directory is None or n_pixels < MIN_PIXELS:
        return build(nside, nested_pixels, **kwargs)
    digest = _digest(nside, nested_pixels, kwargs)
    path = entry_path(directory, nside, nested_pixels, **kwargs)
    if os.path.lexists(path):
        try:
            return _read(path, digest, n_pixels)
        except ValueError as reason:
            warnings.warn(
                f"ignoring the graph cache entry {path!r}, which is corrupt or was not "
                f"written by skdeepsphere ({reason}); rebuilding it",
                RuntimeWarning, stacklevel=3,
            )
    matrix = build(nside, nested_pixels, **kwargs)
    try:
        os.makedirs(directory, exist_ok=True)
        _write(path, digest, matrix)
    except OSError as error:  # e.g. a read-only home folder
        warnings.warn(
            f"cannot use the graph cache in {directory!r} ({error}); building "
            "the Laplacian without it. Set SKDEEPSPHERE_CACHE to a writable "
            "folder, or to an empty string to disable the cache.",
            RuntimeWarning, stacklevel=3,
        )
    return matrix


@functools.lru_cache(maxsize=16)
def laplacian_hierarchy(build, nside, pixels_bytes, n_levels, graph, n_neighbors,
                        kernel_width):
    """``build(...)``, i.e. :func:`skdeepsphere.graph.laplacian_hierarchy`, kept
    for the next fits.

    The arguments are hashable: ``pixels_bytes`` holds the int64 nested
    pixels of a partial sky (``None`` for a full sky). The builder is passed
    in, since :mod:`skdeepsphere.graph` uses this module for its disk cache.
    """
    nested_pixels = None if pixels_bytes is None else np.frombuffer(pixels_bytes, np.int64)
    return build(nside, nested_pixels, n_levels, graph=graph, n_neighbors=n_neighbors,
                 kernel_width=kernel_width)

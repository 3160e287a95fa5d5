r"""The HEALPix pixel graph and its Laplacian.

DeepSphere models the sphere as a graph whose vertices are the pixels, with
Gaussian kernel weights on the chord distance between pixel centres
:math:`x_i` (unit vectors),

.. math::

    W_{ij} = \exp\left(-\frac{\|x_i - x_j\|^2}{4 t}\right),

the convention of DeepSphere v2 (Defferrard et al. 2020), where
:math:`t` is the ``kernel_width``. Two graphs are available:

``graph="neighbours"``
    Each pixel is joined to its 8 (at a few pixels 7) HEALPix neighbours,
    the graph of DeepSphere v1 (Perraudin et al. 2019), with
    :math:`t = \operatorname{mean}_{(i, j) \in E} \|x_i - x_j\|^2 / 2`
    (i.e. :math:`\exp(-d^2 / 2\rho)` with :math:`\rho` the mean squared
    edge length).
``graph="knn"``
    Each pixel is joined to its ``n_neighbors`` nearest pixel centres
    (a k-nearest-neighbour graph, symmetrised: an edge is kept if it is
    present in either direction), with :math:`t` taken from a table tuned
    per ``nside`` and ``k`` to minimise the rotation equivariance error
    (:func:`knn_kernel_width`, :func:`harmonic_equivariance_error`). DeepSphere v2
    showed that k = 20 or 40 is much more rotation equivariant than the
    8-neighbour graph.

The symmetric normalised Laplacian :math:`L = I - D^{-1/2} W D^{-1/2}` has
its spectrum in :math:`[0, 2]`; Chebyshev filters need it rescaled to
:math:`\tilde L = 2 L / \lambda_{max} - I`, whose spectrum is in
:math:`[-1, 1]`.

All functions take *sorted nested* pixel indices (see
:func:`skdeepsphere.healpix.nested_order`) and return :mod:`scipy.sparse`
matrices whose rows follow that order. :func:`laplacian_hierarchy` caches
large Laplacians on disk (see :func:`cache_directory`). This module does not
import torch.
"""

import os
import warnings

import healpy as hp
import numpy as np
from joblib import Memory
from scipy import sparse
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from scipy.spatial import cKDTree

from ._kernel_widths import KERNEL_WIDTHS
from .healpix import check_nside, parent_hierarchy

__all__ = [
    "healpix_weights",
    "knn_kernel_width",
    "normalized_laplacian",
    "estimate_max_eigenvalue",
    "rescale_laplacian",
    "healpix_laplacian",
    "laplacian_hierarchy",
    "harmonic_equivariance_error",
    "cache_directory",
]

GRAPHS = ("neighbours", "knn")
DEFAULT_KNN = 20

# Pixels queried per call to the k-d tree: bounds the temporary (chunk, k + 1)
# float64 and int64 arrays that cKDTree returns to ~100 MB at k = 40.
_QUERY_CHUNK = 1 << 18


def _full_sky(nside, nested_pixels):
    if nested_pixels is None:
        return np.arange(hp.nside2npix(nside), dtype=np.int64)
    return np.asarray(nested_pixels, dtype=np.int64)


def _check_graph(graph, n_neighbors):
    """Validate ``graph`` and return the number of neighbours it uses."""
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    if graph == "neighbours":
        if n_neighbors not in (None, 8):
            raise ValueError(
                f"graph='neighbours' is the 8-neighbour HEALPix graph; got "
                f"n_neighbors={n_neighbors}: use graph='knn' for "
                f"{n_neighbors} nearest neighbours"
            )
        return 8
    if n_neighbors is None:
        return DEFAULT_KNN
    if isinstance(n_neighbors, (bool, np.bool_)) or not isinstance(
        n_neighbors, (int, np.integer)
    ):
        raise TypeError(f"n_neighbors must be an int, got {n_neighbors!r}")
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}")
    return int(n_neighbors)


def knn_kernel_width(nside, n_neighbors):
    r"""Tuned kernel width :math:`t` of the k-nearest-neighbour graph.

    :math:`t` minimises the equivariance error of the graph Laplacian
    (:func:`harmonic_equivariance_error`, averaged over degrees
    :math:`1 \le \ell \le 2\, n_{side}`) for weights
    :math:`\exp(-\|x_i - x_j\|^2 / 4t)` on unit vectors. The table
    (``skdeepsphere/_kernel_widths.py``) was computed for ``n_neighbors``
    in 8, 20, 40 and ``nside`` from 4 to 64 by
    ``benchmarks/tune_kernel_width.py``, which minimises that mean error
    over :math:`\log t` with :func:`scipy.optimize.minimize_scalar`.

    Outside the table:

    - ``nside`` beyond the table scales with :math:`t \propto
      n_{side}^{-2}` (as the squared distance between neighbouring
      pixels) from the nearest tabulated ``nside``. The tuned
      :math:`t\, n_{side}^2` levels off: for k = 20 it is 0.42, 0.38,
      0.34, 0.32 at ``nside`` 8 to 64, and a check at ``nside = 128`` gave
      0.31, so extrapolated widths are within a few percent;
    - ``n_neighbors`` between tabulated values interpolates
      :math:`t\, n_{side}^2` linearly in k; beyond them it scales
      :math:`t \propto k` (the area covered by k pixels).

    Parameters
    ----------
    nside : int
        Resolution.
    n_neighbors : int
        Number of nearest neighbours k.

    Returns
    -------
    kernel_width : float
        :math:`t`, in squared chord-distance units of the unit sphere.

    Examples
    --------
    >>> from skdeepsphere.graph import knn_kernel_width
    >>> t32 = knn_kernel_width(32, 20)
    >>> round(t32, 6)
    0.00033
    >>> round(knn_kernel_width(1024, 20) / knn_kernel_width(512, 20), 2)  # 1/nside**2
    0.25
    >>> knn_kernel_width(32, 8) < t32 < knn_kernel_width(32, 40)
    True
    """
    nside = check_nside(nside)
    k = _check_graph("knn", n_neighbors)

    def scaled(k_table):
        # t * nside**2 at the nearest tabulated nside
        widths = KERNEL_WIDTHS[k_table]
        sides = np.array(sorted(widths))
        nearest = sides[np.argmin(np.abs(np.log2(sides) - np.log2(nside)))]
        return widths[int(nearest)] * float(nearest) ** 2

    ks = sorted(KERNEL_WIDTHS)
    if k <= ks[0]:
        value = scaled(ks[0]) * k / ks[0]
    elif k >= ks[-1]:
        value = scaled(ks[-1]) * k / ks[-1]
    else:
        value = float(np.interp(k, ks, [scaled(k_table) for k_table in ks]))
    return value / nside**2


def _knn_squared_distances(vectors, k):
    """Squared chord distances and indices of the k nearest other points."""
    n = len(vectors)
    tree = cKDTree(vectors)
    # int32 indices (half the memory) while the symmetrised graph fits them.
    index_dtype = np.int32 if 2 * n * k < np.iinfo(np.int32).max else np.int64
    indices = np.empty((n, k), dtype=index_dtype)
    # float32 halves the memory at nside 1024 (12.6 M x k); the relative
    # rounding, 6e-8, is far below that of the float32 Laplacian.
    squared = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, _QUERY_CHUNK):
        stop = min(start + _QUERY_CHUNK, n)
        distance, neighbour = tree.query(vectors[start:stop], k=k + 1, workers=-1)
        # The nearest point is the pixel itself (pixel centres are distinct).
        indices[start:stop] = neighbour[:, 1:]
        squared[start:stop] = np.square(distance[:, 1:])
    return squared, indices


def _symmetric_knn(squared, cols):
    """CSR of the k-NN edges united with their reverses, squared distances.

    Equivalent to ``A.maximum(A.T)`` for the directed k-NN matrix ``A``,
    but adds only the few missing reverse edges instead of materialising
    ``A.T`` and scipy's worst-case (2 nnz) result: half the peak memory at
    nside 1024.
    """
    n, k = cols.shape
    kth = squared[:, -1]
    extra = []
    for start in range(0, n, _QUERY_CHUNK):
        block = slice(start, min(start + _QUERY_CHUNK, n))
        # i -> j lacks its reverse only if i is not closer to j than j's
        # k-th neighbour; ties may go either way, so check membership.
        row, position = np.nonzero(squared[block] >= kth[cols[block]])
        source = row + start
        target = cols[block][row, position]
        present = (cols[target] == source[:, None]).any(axis=1)
        extra.append((target[~present], source[~present],
                      squared[block][row, position][~present]))
    extra_rows, extra_cols, extra_squared = (np.concatenate(a) for a in zip(*extra))
    order = np.argsort(extra_rows, kind="stable")
    extra_rows, extra_cols = extra_rows[order], extra_cols[order]
    counts = np.bincount(extra_rows, minlength=n)
    indptr = np.zeros(n + 1, dtype=cols.dtype)
    np.cumsum(k + counts, out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=cols.dtype)
    data = np.empty(indptr[-1], dtype=squared.dtype)
    for start in range(0, n, _QUERY_CHUNK):
        block = slice(start, min(start + _QUERY_CHUNK, n))
        destination = indptr[block, None] + np.arange(k, dtype=cols.dtype)
        indices[destination] = cols[block]
        data[destination] = squared[block]
    first_extra = np.cumsum(counts) - counts  # of each row, in the sorted extras
    destination = (indptr[extra_rows] + k
                   + np.arange(len(extra_rows)) - first_extra[extra_rows])
    indices[destination] = extra_cols
    data[destination] = extra_squared[order]
    weights = sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    weights.sort_indices()
    return weights


def healpix_weights(nside, nested_pixels=None, *, graph="neighbours",
                    n_neighbors=None, kernel_width=None):
    r"""Weighted adjacency matrix of the HEALPix pixel graph.

    :math:`W_{ij} = \exp(-\|x_i - x_j\|^2 / 4t)` on the edges, with
    :math:`x_i` the unit vector of pixel i's centre and :math:`t` the
    ``kernel_width``.

    Parameters
    ----------
    nside : int
        Resolution.
    nested_pixels : array-like of int or None
        Sorted nested indices of the vertices (a partial sky); ``None`` for
        the full sphere. Edges to pixels outside the set are dropped; the
        nearest neighbours of ``graph="knn"`` are searched among the set.
    graph : {"neighbours", "knn"}, default="neighbours"
        ``"neighbours"``: healpy's 8 pixel neighbours (the DeepSphere v1
        graph). ``"knn"``: a symmetrised k-nearest-neighbour graph on the
        pixel centres (DeepSphere v2), built with
        :class:`scipy.spatial.cKDTree`; an edge present in either direction
        is kept, so pixels have at least k neighbours.
    n_neighbors : int or None, default=None
        k of ``graph="knn"``; ``None`` means 20. ``graph="neighbours"``
        accepts only ``None`` or 8.
    kernel_width : float or None, default=None
        :math:`t > 0`. ``None``: for ``"neighbours"``, half the mean
        squared edge length (DeepSphere v1's rule); for ``"knn"``, the tuned
        :func:`knn_kernel_width`.

    Returns
    -------
    weights : scipy.sparse.csr_matrix of shape (n_pixels, n_pixels)
        Symmetric, non-negative, zero diagonal.

    Examples
    --------
    >>> from skdeepsphere.graph import healpix_weights
    >>> W = healpix_weights(4)
    >>> W.shape, int((W > 0).sum(axis=1).min()), int((W > 0).sum(axis=1).max())
    ((192, 192), 7, 8)
    >>> W = healpix_weights(4, graph="knn", n_neighbors=20)
    >>> bool((W != W.T).nnz == 0), int((W > 0).sum(axis=1).min()) >= 20
    (True, True)
    """
    nside = check_nside(nside)
    k = _check_graph(graph, n_neighbors)
    if kernel_width is not None and not kernel_width > 0:
        raise ValueError(f"kernel_width must be positive, got {kernel_width}")
    pixels = _full_sky(nside, nested_pixels)
    n = pixels.size
    vectors = np.stack(hp.pix2vec(nside, pixels, nest=True), axis=1)
    if graph == "neighbours":
        neighbours = hp.get_all_neighbours(nside, pixels, nest=True).T  # (n, 8)
        position = np.searchsorted(pixels, neighbours)
        position = np.minimum(position, n - 1)
        valid = (neighbours >= 0) & (pixels[position] == neighbours)
        rows = np.broadcast_to(np.arange(n)[:, None], neighbours.shape)[valid]
        cols = position[valid]
        squared = np.sum((vectors[rows] - vectors[cols]) ** 2, axis=1)
        if kernel_width is None:
            kernel_width = squared.mean() / 2 if squared.size else 1.0
        # healpy's neighbourhood is symmetric.
        weights = sparse.csr_matrix((squared, (rows, cols)), shape=(n, n))
    else:
        if not k < n:
            raise ValueError(
                f"n_neighbors must be in [1, {n - 1}] for {n} pixels, got {k}"
            )
        if kernel_width is None:
            kernel_width = knn_kernel_width(nside, k)
        # Keep an edge found from either end.
        weights = _symmetric_knn(*_knn_squared_distances(vectors, k))
    values = weights.data.astype(np.float64)
    values *= -1 / (4 * kernel_width)
    weights.data = np.exp(values, out=values)
    return weights


def _normalize_adjacency(weights):
    """Turn csr ``weights`` into :math:`D^{-1/2} W D^{-1/2}`, in place.

    Row blocks keep the temporaries small at nside 1024 (~300 M edges).
    """
    degree = np.asarray(weights.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=inv_sqrt, where=degree > 0)
    indptr, indices, data = weights.indptr, weights.indices, weights.data
    for first in range(0, weights.shape[0], _QUERY_CHUNK):
        last = min(first + _QUERY_CHUNK, weights.shape[0])
        block = slice(indptr[first], indptr[last])
        data[block] *= np.repeat(inv_sqrt[first:last], np.diff(indptr[first:last + 1]))
        data[block] *= inv_sqrt[indices[block]]
    return weights


def normalized_laplacian(weights):
    """Symmetric normalised Laplacian :math:`I - D^{-1/2} W D^{-1/2}`.

    Isolated vertices (degree 0, e.g. a lone pixel of a partial sky) get a
    zero row and column of :math:`D^{-1/2} W D^{-1/2}`.

    Parameters
    ----------
    weights : scipy.sparse matrix of shape (n, n)
        Symmetric weighted adjacency.

    Returns
    -------
    laplacian : scipy.sparse.csr_matrix of shape (n, n)

    Examples
    --------
    >>> from skdeepsphere.graph import healpix_weights, normalized_laplacian
    >>> L = normalized_laplacian(healpix_weights(2))
    >>> float(abs(L.diagonal() - 1).max())
    0.0
    """
    adjacency = _normalize_adjacency(sparse.csr_matrix(weights, dtype=np.float64, copy=True))
    n = weights.shape[0]
    return (sparse.identity(n, format="csr") - adjacency).tocsr()


def estimate_max_eigenvalue(laplacian, *, margin=1.02):
    """Largest eigenvalue of a Laplacian times a safety ``margin``.

    Falls back to 2, the bound of the normalised Laplacian, when the
    Lanczos iteration does not converge or the graph is tiny.

    Parameters
    ----------
    laplacian : scipy.sparse matrix or LinearOperator of shape (n, n)
    margin : float, default=1.02
        DeepSphere multiplies the estimate by 1.02 so that the rescaled
        spectrum stays inside [-1, 1].

    Returns
    -------
    max_eigenvalue : float

    Examples
    --------
    >>> from skdeepsphere.graph import (healpix_weights, normalized_laplacian,
    ...                                 estimate_max_eigenvalue)
    >>> max_eigenvalue = estimate_max_eigenvalue(normalized_laplacian(healpix_weights(4)))
    >>> 1.0 < max_eigenvalue <= 2.04
    True
    """
    n = laplacian.shape[0]
    if n < 3:
        return 2.0
    try:
        # A fixed random start: the constant vector is nearly orthogonal to
        # the top eigenvectors and converges to a low estimate.
        start = np.random.default_rng(0).standard_normal(n)
        # Loose tolerance (the Ritz value is within ~0.1 % of the largest
        # eigenvalue, well inside the margin); tight ones cost seconds at
        # nside 64 because the top of the spectrum is clustered.
        value = eigsh(laplacian, k=1, which="LA", return_eigenvectors=False,
                      tol=5e-3, ncv=min(n - 1, 10), v0=start)[0]
    except ArpackNoConvergence:
        return 2.0
    return float(min(value * margin, 2.0 * margin)) if value > 0 else 2.0


def rescale_laplacian(laplacian, max_eigenvalue=2.0):
    """Rescale a Laplacian to :math:`2 L / \\lambda_{max} - I`.

    Parameters
    ----------
    laplacian : scipy.sparse matrix of shape (n, n)
    max_eigenvalue : float, default=2.0
        Upper bound of the spectrum.

    Returns
    -------
    rescaled : scipy.sparse.csr_matrix of shape (n, n), float32
        Spectrum in [-1, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.graph import healpix_weights, normalized_laplacian, rescale_laplacian
    >>> L = rescale_laplacian(normalized_laplacian(healpix_weights(2)))
    >>> bool(np.all(np.abs(np.linalg.eigvalsh(L.toarray())) <= 1 + 1e-6))
    True
    """
    n = laplacian.shape[0]
    rescaled = (2.0 / max_eigenvalue) * laplacian - sparse.identity(n, format="csr")
    return rescaled.tocsr().astype(np.float32)


def healpix_laplacian(nside, nested_pixels=None, *, graph="neighbours",
                      n_neighbors=None, kernel_width=None, max_eigenvalue="estimate"):
    """Rescaled Laplacian of the HEALPix graph, ready for Chebyshev filters.

    Parameters
    ----------
    nside : int
        Resolution.
    nested_pixels : array-like of int or None
        Sorted nested indices of a partial sky, ``None`` for the full sphere.
    graph : {"neighbours", "knn"}, default="neighbours"
        See :func:`healpix_weights`.
    n_neighbors : int or None, default=None
        See :func:`healpix_weights`.
    kernel_width : float or None, default=None
        See :func:`healpix_weights`.
    max_eigenvalue : "estimate" or float, default="estimate"
        ``"estimate"`` uses :func:`estimate_max_eigenvalue`; a number (e.g. the bound
        2) is used as is.

    Returns
    -------
    rescaled : scipy.sparse.csr_matrix of shape (n_pixels, n_pixels), float32

    Examples
    --------
    >>> from skdeepsphere.graph import healpix_laplacian
    >>> healpix_laplacian(8).shape
    (768, 768)
    >>> L = healpix_laplacian(8, graph="knn", n_neighbors=40)
    >>> int(L.getnnz(axis=1).min())  # the diagonal and at least 40 neighbours
    41
    """
    if isinstance(max_eigenvalue, str) and max_eigenvalue != "estimate":
        raise ValueError(f"max_eigenvalue must be 'estimate' or a number, got {max_eigenvalue!r}")
    adjacency = _normalize_adjacency(healpix_weights(
        nside, nested_pixels, graph=graph, n_neighbors=n_neighbors,
        kernel_width=kernel_width))
    n = adjacency.shape[0]
    # The same as rescale_laplacian(normalized_laplacian(W), max_eigenvalue), without
    # holding W, L and 2 L / max_eigenvalue - I in memory at once.
    if isinstance(max_eigenvalue, str):
        max_eigenvalue = estimate_max_eigenvalue(LinearOperator(
            (n, n), matvec=lambda x: x - adjacency @ x, dtype=np.float64))
    adjacency.data *= -2.0 / max_eigenvalue
    adjacency = sparse.csr_matrix(  # float32, sharing the index arrays
        (adjacency.data.astype(np.float32), adjacency.indices, adjacency.indptr),
        shape=(n, n))
    diagonal = (sparse.identity(n, dtype=np.float32, format="csr")
                * np.float32(2.0 / max_eigenvalue - 1))
    return (adjacency + diagonal).tocsr()


# -- on-disk cache -----------------------------------------------------------

# Bump when the construction of the graph changes: cached Laplacians of an
# older construction are then ignored.
_CACHE_FORMAT = 1
# Laplacians of fewer pixels (nside < 64) are faster to build than to load.
_CACHE_MIN_PIXELS = 12 * 64**2


def cache_directory():
    """Folder where :func:`laplacian_hierarchy` caches large Laplacians.

    Building the k-nearest-neighbour graph and estimating
    :math:`\\lambda_{max}` take tens of seconds at ``nside = 1024``, so the
    rescaled Laplacians of levels with at least 49 152 pixels
    (``nside >= 64`` on a full sky) are stored with :class:`joblib.Memory`
    and loaded by later fits, in this or any other process. The folder is
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


def _build_laplacian(nside, nested_pixels, cache_format, **kwargs):
    # cache_format is part of joblib's key only.
    return healpix_laplacian(nside, nested_pixels, **kwargs)


def _laplacian(nside, nested_pixels, **kwargs):
    """healpix_laplacian, read from / written to the disk cache if large."""
    directory = cache_directory()
    n_pixels = hp.nside2npix(nside) if nested_pixels is None else len(nested_pixels)
    if directory is None or n_pixels < _CACHE_MIN_PIXELS:
        return healpix_laplacian(nside, nested_pixels, **kwargs)
    try:
        build = Memory(directory, verbose=0).cache(_build_laplacian)
        return build(nside, nested_pixels, _CACHE_FORMAT, **kwargs)
    except OSError as error:  # e.g. a read-only home folder
        warnings.warn(
            f"cannot use the graph cache in {directory!r} ({error}); building "
            "the Laplacian without it. Set SKDEEPSPHERE_CACHE to a writable "
            "folder, or to an empty string to disable the cache.",
            RuntimeWarning, stacklevel=3,
        )
        return healpix_laplacian(nside, nested_pixels, **kwargs)


def laplacian_hierarchy(nside, nested_pixels, n_levels, *, graph="neighbours",
                        n_neighbors=None, kernel_width=None, max_eigenvalue="estimate"):
    """Rescaled Laplacians at ``nside``, ``nside / 2``, ... (``n_levels + 1``).

    Each level gets its own graph on its own pixels: for ``graph="knn"``
    the tuned kernel width of its ``nside``
    (:func:`knn_kernel_width`), and k reduced to ``n_pixels - 1`` (every
    pixel joined to every other) at coarse levels with fewer pixels than
    ``n_neighbors + 1``. Levels with at least 49 152 pixels are cached on
    disk (:func:`cache_directory`).

    Parameters
    ----------
    nside : int
        Finest resolution.
    nested_pixels : array-like of int or None
        Sorted nested pixels at the finest level, ``None`` for a full sky.
    n_levels : int
        Number of poolings by 4; ``nside / 2**n_levels`` must be >= 1.
    graph, n_neighbors : see :func:`healpix_weights`
    kernel_width : float or None, default=None
        See :func:`healpix_weights`. A number is used at every level
        (it is a squared distance: the tuned default, which shrinks as
        :math:`n_{side}^{-2}`, is usually what you want).
    max_eigenvalue : "estimate" or float, default="estimate"
        See :func:`healpix_laplacian`.

    Returns
    -------
    laplacians : list of scipy.sparse.csr_matrix
        Finest first.
    pixel_sets : list of ndarray
        Sorted nested pixels of each level.
    parents : list of ndarray
        See :func:`skdeepsphere.healpix.parent_hierarchy`.

    Examples
    --------
    >>> from skdeepsphere.graph import laplacian_hierarchy
    >>> laplacians, _, _ = laplacian_hierarchy(8, None, 2)
    >>> [L.shape[0] for L in laplacians]
    [768, 192, 48]
    >>> laplacians, _, _ = laplacian_hierarchy(4, None, 2, graph="knn")
    >>> [L.shape[0] for L in laplacians]  # k = 20, 20 and 11 at nside 1
    [192, 48, 12]
    """
    nside = check_nside(nside)
    k = _check_graph(graph, n_neighbors)
    if nside >> n_levels < 1:
        raise ValueError(
            f"cannot pool {n_levels} times from nside={nside}: "
            f"at most {int(np.log2(nside))} levels"
        )
    pixel_sets, parents = parent_hierarchy(_full_sky(nside, nested_pixels), n_levels)
    laplacians = []
    for level, pixels in enumerate(pixel_sets):
        level_nside = nside >> level
        kwargs = dict(graph=graph, kernel_width=kernel_width, max_eigenvalue=max_eigenvalue)
        if graph == "knn" and len(pixels) < 2:
            kwargs["graph"] = "neighbours"  # a lone pixel: no edge either way
        elif graph == "knn":
            kwargs["n_neighbors"] = max(1, min(k, len(pixels) - 1))
            if kernel_width is None:
                # The width tuned for the k asked for, not the reduced one.
                kwargs["kernel_width"] = knn_kernel_width(level_nside, k)
        full = nested_pixels is None
        laplacians.append(_laplacian(level_nside, None if full else pixels, **kwargs))
    return laplacians, pixel_sets, parents


# -- equivariance ------------------------------------------------------------

def _harmonic_basis(nside, ell, nested_pixels):
    """Orthonormal basis of the degree-``ell`` harmonics sampled at pixels.

    The columns of healpy's synthesis of the 2 ell + 1 real harmonics
    (a_lm = 1 and, for m > 0, a_lm = i) at the pixel centres,
    orthonormalised by QR.
    """
    size = hp.Alm.getsize(ell)
    alms = np.zeros((2 * ell + 1, size), dtype=np.complex128)
    for m in range(ell + 1):
        alms[m, hp.Alm.getidx(ell, ell, m)] = 1.0
        if m > 0:
            alms[ell + m, hp.Alm.getidx(ell, ell, m)] = 1.0j
    maps = hp.alm2map(alms, nside, lmax=ell, pol=False)
    maps = np.atleast_2d(maps)[:, hp.nest2ring(nside, nested_pixels)]
    basis, _ = np.linalg.qr(maps.T)
    return basis


def harmonic_equivariance_error(laplacian, ells, *, nside=None, nested_pixels=None):
    r"""Per-degree rotation equivariance error of a graph Laplacian.

    An operator commutes with all rotations iff it acts on each
    degree-:math:`\ell` space of spherical harmonics as a multiple of the
    identity (Schur's lemma). For each :math:`\ell`, let :math:`Q_\ell` be
    an orthonormal basis of the spherical harmonics of degree :math:`\ell`
    sampled at the pixel centres (synthesised by healpy); the error is the
    relative distance of :math:`L Q_\ell` from the nearest multiple of
    :math:`Q_\ell`,

    .. math::

        E(\ell) = \min_c \frac{\|L Q_\ell - c\, Q_\ell\|_F}{\|L Q_\ell\|_F}
                = \frac{\|L Q_\ell - \bar\lambda_\ell Q_\ell\|_F}{\|L Q_\ell\|_F},
        \qquad \bar\lambda_\ell = \frac{\operatorname{tr}(Q_\ell^\top L Q_\ell)}{2\ell + 1},

    with :math:`\bar\lambda_\ell` the mean eigenvalue of :math:`L` on
    degree :math:`\ell`. :math:`E^2` is the sum of two orthogonal parts: the
    leakage out of degree :math:`\ell`,
    :math:`\|(I - Q_\ell Q_\ell^\top) L Q_\ell\|_F^2`, and the spread of
    :math:`L` within it, :math:`\|Q_\ell^\top L Q_\ell - \bar\lambda_\ell I\|_F^2`
    (both over :math:`\|L Q_\ell\|_F^2`). :math:`E = 0` for a perfectly
    equivariant Laplacian. Since any polynomial filter :math:`g(L)` is
    built from :math:`L`, it is the equivariance error of the graph
    convolutions' building block; no map is rotated (compare
    :func:`skdeepsphere.rotation.empirical_equivariance_error`, which rotates
    maps by interpolation).

    Parameters
    ----------
    laplacian : scipy.sparse matrix or ndarray of shape (n_pixels, n_pixels)
        A graph Laplacian in nested order, e.g.
        ``normalized_laplacian(healpix_weights(nside, graph="knn"))``. (The
        rescaled :math:`\tilde L = 2L / \lambda_{max} - I` has a different
        denominator: pass the unrescaled one.)
    ells : int or array-like of int
        Degrees :math:`\ell \ge 1`, below about :math:`2\, n_{side}`, where
        the sampled harmonics of different degrees are still close to
        orthogonal.
    nside : int, default=None
        Resolution; inferred from a full-sky ``laplacian``.
    nested_pixels : array-like of int, default=None
        Sorted nested pixels of a partial-sky ``laplacian`` (then the error
        also contains the effect of the sky's border).

    Returns
    -------
    errors : ndarray of shape (n_ells,)

    Examples
    --------
    >>> from skdeepsphere.graph import (harmonic_equivariance_error, healpix_weights,
    ...                                 normalized_laplacian)
    >>> L8 = normalized_laplacian(healpix_weights(16))
    >>> L40 = normalized_laplacian(healpix_weights(16, graph="knn", n_neighbors=40))
    >>> bool(harmonic_equivariance_error(L40, [5])[0] < harmonic_equivariance_error(L8, [5])[0])
    True
    """
    n = laplacian.shape[0]
    if nside is None:
        if nested_pixels is not None:
            raise ValueError("nside is required with nested_pixels")
        nside = hp.npix2nside(n)
    nside = check_nside(nside)
    pixels = _full_sky(nside, nested_pixels)
    if pixels.size != n or laplacian.shape != (n, n):
        raise ValueError(
            f"laplacian of shape {laplacian.shape} does not match the "
            f"{pixels.size} pixels"
        )
    ells = np.atleast_1d(np.asarray(ells))
    if ells.ndim != 1 or not np.issubdtype(ells.dtype, np.integer) or ells.min() < 1:
        raise ValueError(f"ells must be integers >= 1, got {ells!r}")
    return np.array([_leakage(laplacian, _harmonic_basis(nside, int(ell), pixels))
                     for ell in ells])


def _leakage(laplacian, basis):
    """||L Q - mean_eigenvalue Q||_F / ||L Q||_F for an orthonormal basis Q."""
    filtered = np.asarray(laplacian @ basis)
    total = np.sum(filtered**2)
    # ||LQ - c Q||^2 = ||LQ||^2 - 2 c tr(Q^T L Q) + c^2 (2l + 1), smallest
    # at c = tr(Q^T L Q) / (2l + 1), the mean eigenvalue on degree l.
    trace = np.sum(basis * filtered)
    return float(np.sqrt(max(total - trace**2 / basis.shape[1], 0.0) / total))

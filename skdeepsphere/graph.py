r"""The HEALPix pixel graph and its Laplacian.

DeepSphere (Perraudin et al. 2019) models the sphere as a graph whose
vertices are the pixels and whose edges join each pixel to its 8 (at a few
pixels 7) HEALPix neighbours, with Gaussian kernel weights on the chord
distance between pixel centres,

.. math::

    W_{ij} = \exp\left(-\frac{\|x_i - x_j\|^2}{2 \rho}\right), \qquad
    \rho = \operatorname{mean}_{(i, j) \in E} \|x_i - x_j\|^2 .

The symmetric normalised Laplacian :math:`L = I - D^{-1/2} W D^{-1/2}` has
its spectrum in :math:`[0, 2]`; Chebyshev filters need it rescaled to
:math:`\tilde L = 2 L / \lambda_{max} - I`, whose spectrum is in
:math:`[-1, 1]`. DeepSphere v2 (Defferrard et al. 2020) showed that k-nearest
neighbour graphs (k = 20, 40) are more rotation equivariant;
``n_neighbours`` other than 8 builds such a graph.

All functions take *sorted nested* pixel indices (see
:func:`skdeepsphere.healpix.nested_order`) and return :mod:`scipy.sparse`
matrices whose rows follow that order. This module does not import torch.
"""

import healpy as hp
import numpy as np
from scipy import sparse
from scipy.sparse.linalg import ArpackNoConvergence, eigsh
from scipy.spatial import cKDTree

from .healpix import check_nside, parent_hierarchy

__all__ = [
    "healpix_weights",
    "normalized_laplacian",
    "estimate_lmax",
    "rescale_laplacian",
    "healpix_laplacian",
    "laplacian_hierarchy",
]


def _full_sky(nside, nested_pixels):
    if nested_pixels is None:
        return np.arange(hp.nside2npix(nside), dtype=np.int64)
    return np.asarray(nested_pixels, dtype=np.int64)


def healpix_weights(nside, nested_pixels=None, *, n_neighbours=8, kernel_width=None):
    """Weighted adjacency matrix of the HEALPix pixel graph.

    Parameters
    ----------
    nside : int
        Resolution.
    nested_pixels : array-like of int or None
        Sorted nested indices of the vertices (a partial sky); ``None`` for
        the full sphere. Edges to pixels outside the set are dropped.
    n_neighbours : int, default=8
        8 uses healpy's pixel neighbours (the DeepSphere v1 graph). Any other
        value builds a symmetrised k-nearest-neighbour graph on the pixel
        centres (DeepSphere v2 uses 20 or 40).
    kernel_width : float or None
        :math:`\\rho` of the Gaussian kernel on squared chord distances;
        ``None`` uses the mean squared distance over the edges.

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
    """
    nside = check_nside(nside)
    pixels = _full_sky(nside, nested_pixels)
    n = pixels.size
    vectors = np.stack(hp.pix2vec(nside, pixels, nest=True), axis=1)
    if n_neighbours == 8:
        neighbours = hp.get_all_neighbours(nside, pixels, nest=True).T  # (n, 8)
        position = np.searchsorted(pixels, neighbours)
        position = np.minimum(position, n - 1)
        valid = (neighbours >= 0) & (pixels[position] == neighbours)
        rows = np.broadcast_to(np.arange(n)[:, None], neighbours.shape)[valid]
        cols = position[valid]
    else:
        if not 1 <= n_neighbours < n:
            raise ValueError(
                f"n_neighbours must be in [1, {n - 1}] for {n} pixels, "
                f"got {n_neighbours}"
            )
        _, cols = cKDTree(vectors).query(vectors, k=n_neighbours + 1)
        cols = cols[:, 1:].ravel()
        rows = np.repeat(np.arange(n), n_neighbours)
    squared = np.sum((vectors[rows] - vectors[cols]) ** 2, axis=1)
    if kernel_width is None:
        kernel_width = squared.mean() if squared.size else 1.0
    elif kernel_width <= 0:
        raise ValueError(f"kernel_width must be positive, got {kernel_width}")
    values = np.exp(-squared / (2 * kernel_width))
    weights = sparse.csr_matrix((values, (rows, cols)), shape=(n, n))
    # healpy's neighbourhood is symmetric but k-NN is not: keep an edge
    # present in either direction.
    return weights.maximum(weights.T).tocsr()


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
    degree = np.asarray(weights.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=inv_sqrt, where=degree > 0)
    scaling = sparse.diags(inv_sqrt)
    n = weights.shape[0]
    return (sparse.identity(n, format="csr") - scaling @ weights @ scaling).tocsr()


def estimate_lmax(laplacian, *, margin=1.02):
    """Largest eigenvalue of a Laplacian times a safety ``margin``.

    Falls back to 2, the bound of the normalised Laplacian, when the
    Lanczos iteration does not converge or the graph is tiny.

    Parameters
    ----------
    laplacian : scipy.sparse matrix of shape (n, n)
    margin : float, default=1.02
        DeepSphere multiplies the estimate by 1.02 so that the rescaled
        spectrum stays inside [-1, 1].

    Returns
    -------
    lmax : float

    Examples
    --------
    >>> from skdeepsphere.graph import healpix_weights, normalized_laplacian, estimate_lmax
    >>> lmax = estimate_lmax(normalized_laplacian(healpix_weights(4)))
    >>> 1.0 < lmax <= 2.04
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


def rescale_laplacian(laplacian, lmax=2.0):
    """Rescale a Laplacian to :math:`2 L / \\lambda_{max} - I`.

    Parameters
    ----------
    laplacian : scipy.sparse matrix of shape (n, n)
    lmax : float, default=2.0
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
    rescaled = (2.0 / lmax) * laplacian - sparse.identity(n, format="csr")
    return rescaled.tocsr().astype(np.float32)


def healpix_laplacian(nside, nested_pixels=None, *, n_neighbours=8,
                      kernel_width=None, lmax="estimate"):
    """Rescaled Laplacian of the HEALPix graph, ready for Chebyshev filters.

    Parameters
    ----------
    nside : int
        Resolution.
    nested_pixels : array-like of int or None
        Sorted nested indices of a partial sky, ``None`` for the full sphere.
    n_neighbours : int, default=8
        See :func:`healpix_weights`.
    kernel_width : float or None
        See :func:`healpix_weights`.
    lmax : "estimate" or float, default="estimate"
        ``"estimate"`` uses :func:`estimate_lmax`; a number (e.g. the bound
        2) is used as is.

    Returns
    -------
    rescaled : scipy.sparse.csr_matrix of shape (n_pixels, n_pixels), float32

    Examples
    --------
    >>> from skdeepsphere.graph import healpix_laplacian
    >>> healpix_laplacian(8).shape
    (768, 768)
    """
    weights = healpix_weights(nside, nested_pixels, n_neighbours=n_neighbours,
                              kernel_width=kernel_width)
    laplacian = normalized_laplacian(weights)
    if isinstance(lmax, str):
        if lmax != "estimate":
            raise ValueError(f"lmax must be 'estimate' or a number, got {lmax!r}")
        lmax = estimate_lmax(laplacian)
    return rescale_laplacian(laplacian, lmax)


def laplacian_hierarchy(nside, nested_pixels, n_levels, **kwargs):
    """Rescaled Laplacians at ``nside``, ``nside / 2``, ... (``n_levels + 1``).

    Parameters
    ----------
    nside : int
        Finest resolution.
    nested_pixels : array-like of int or None
        Sorted nested pixels at the finest level, ``None`` for a full sky.
    n_levels : int
        Number of poolings by 4; ``nside / 2**n_levels`` must be >= 1.
    **kwargs
        Passed to :func:`healpix_laplacian`.

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
    """
    nside = check_nside(nside)
    if nside >> n_levels < 1:
        raise ValueError(
            f"cannot pool {n_levels} times from nside={nside}: "
            f"at most {int(np.log2(nside))} levels"
        )
    pixel_sets, parents = parent_hierarchy(_full_sky(nside, nested_pixels), n_levels)
    laplacians = [
        healpix_laplacian(nside >> level, pixels, **kwargs)
        for level, pixels in enumerate(pixel_sets)
    ]
    return laplacians, pixel_sets, parents

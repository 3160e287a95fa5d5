"""HEALPix pixel geometry: nside/npix checks, orderings, partial-sky pixel
sets, the nested pooling hierarchy and nested square patches.

Everything in the package works internally on the *nested* ordering, sorted
by pixel index: in that ordering the 4 children of a pixel at resolution
``nside`` are the consecutive pixels ``4 p, ..., 4 p + 3`` at ``2 nside``,
which makes pooling a reshape. Maps given in the RING ordering (healpy's
default) are reordered once, at the boundary, by :func:`nested_order`.

This module wraps :mod:`healpy` and does not import torch.
"""

import numbers

import healpy as hp
import numpy as np

__all__ = [
    "check_nside",
    "npix_to_nside",
    "nested_order",
    "parent_hierarchy",
    "patch_pixels",
    "check_maps",
    "infer_nside",
]


def check_nside(nside):
    """Validate a HEALPix resolution for the nested scheme.

    Parameters
    ----------
    nside : int
        Number of pixels along the side of each of the 12 base pixels.
        The nested scheme (and hence pooling) needs a power of 2.

    Returns
    -------
    nside : int
        The validated value as a Python int.

    Raises
    ------
    TypeError
        If ``nside`` is not an integer.
    ValueError
        If ``nside`` is not a positive power of 2 (at most 2**29).

    Examples
    --------
    >>> from skdeepsphere.healpix import check_nside
    >>> check_nside(32)
    32
    """
    if isinstance(nside, bool) or not isinstance(nside, numbers.Integral):
        raise TypeError(f"nside must be an integer, got {nside!r}")
    nside = int(nside)
    if nside < 1 or nside > 2**29 or nside & (nside - 1):
        raise ValueError(
            f"nside must be a power of 2 between 1 and 2**29, got {nside}"
        )
    return nside


def npix_to_nside(npix):
    """Return the ``nside`` of a full-sky map of ``npix`` pixels.

    Parameters
    ----------
    npix : int
        Number of pixels of a full-sky map, ``12 * nside**2``.

    Returns
    -------
    nside : int

    Raises
    ------
    ValueError
        If ``npix`` is not ``12 * nside**2`` for a power-of-2 ``nside``.

    Examples
    --------
    >>> from skdeepsphere.healpix import npix_to_nside
    >>> npix_to_nside(3072)
    16
    """
    npix = int(npix)
    if npix < 12 or not hp.isnpixok(npix):
        raise ValueError(
            f"{npix} pixels is not a full HEALPix sky (12 * nside**2); "
            "for a partial sky pass `nside` and `pixels`"
        )
    return check_nside(hp.npix2nside(npix))


def infer_nside(n_pixels, nside=None, pixels=None):
    """Return the resolution of maps with ``n_pixels`` columns.

    Parameters
    ----------
    n_pixels : int
        Number of pixels per map (the last axis of the data).
    nside : int or None
        The resolution if known. Required for a partial sky.
    pixels : array-like of int or None
        Observed pixels of a partial sky.

    Returns
    -------
    nside : int

    Raises
    ------
    ValueError
        If ``n_pixels`` does not match ``nside`` (full sky) or ``pixels``.

    Examples
    --------
    >>> from skdeepsphere.healpix import infer_nside
    >>> infer_nside(768)
    8
    """
    if pixels is None:
        if nside is None:
            return npix_to_nside(n_pixels)
        nside = check_nside(nside)
        if n_pixels != hp.nside2npix(nside):
            raise ValueError(
                f"maps have {n_pixels} pixels but a full sky at nside={nside} "
                f"has {hp.nside2npix(nside)}"
            )
        return nside
    if nside is None:
        raise ValueError("a partial sky (`pixels` given) needs `nside` too")
    nside = check_nside(nside)
    n_observed = len(pixels)
    if n_pixels != n_observed:
        raise ValueError(
            f"maps have {n_pixels} pixels but `pixels` lists {n_observed}"
        )
    return nside


def _check_nest(nest):
    # The lowest layer stays free of scikit-learn (see tests/test_conventions.py):
    # this is validate_params' "boolean" by hand.
    if not isinstance(nest, (bool, np.bool_)):
        raise TypeError(f"nest must be True or False, got {nest!r}")
    return bool(nest)


def nested_order(nside, pixels=None, nest=False):
    """Permutation that puts a map's columns in sorted nested order.

    Parameters
    ----------
    nside : int
        Resolution of the maps.
    pixels : array-like of int or None
        Pixel index of each column of the maps, in the ordering given by
        ``nest``. ``None`` means a full sky in the natural order
        ``0, ..., 12 nside**2 - 1``.
    nest : bool, default=False
        Whether ``pixels`` (or the full-sky map) use the NESTED ordering;
        RING otherwise, as in healpy.

    Returns
    -------
    order : ndarray of int, shape (n_pixels,)
        ``maps[..., order]`` is in nested order, sorted by pixel index.
    nested_pixels : ndarray of int, shape (n_pixels,)
        The nested index of each column of ``maps[..., order]``
        (increasing).

    Raises
    ------
    TypeError
        If ``nest`` is not a bool.
    ValueError
        If ``pixels`` is empty, has duplicates, is not 1-D or lies outside
        ``[0, 12 nside**2)``.

    Examples
    --------
    >>> import healpy as hp
    >>> import numpy as np
    >>> from skdeepsphere.healpix import nested_order
    >>> ring_map = np.arange(hp.nside2npix(2), dtype=float)
    >>> order, nested = nested_order(2)
    >>> np.array_equal(ring_map[order], hp.reorder(ring_map, r2n=True))
    True
    """
    nside = check_nside(nside)
    nest = _check_nest(nest)
    npix = hp.nside2npix(nside)
    if pixels is None:
        nested_pixels = np.arange(npix)
        if nest:
            return nested_pixels, nested_pixels
        return hp.nest2ring(nside, nested_pixels).astype(np.int64), nested_pixels
    pixels = np.asarray(pixels)
    if pixels.ndim != 1 or pixels.size == 0:
        raise ValueError("pixels must be a non-empty 1-D array of pixel indices")
    if not np.issubdtype(pixels.dtype, np.integer):
        if not np.all(np.mod(pixels, 1) == 0):
            raise TypeError("pixels must hold integer pixel indices")
    pixels = pixels.astype(np.int64)
    if pixels.min() < 0 or pixels.max() >= npix:
        raise ValueError(
            f"pixels must lie in [0, {npix}) for nside={nside}, got "
            f"[{pixels.min()}, {pixels.max()}]"
        )
    if np.unique(pixels).size != pixels.size:
        raise ValueError("pixels must not contain duplicates")
    nested = pixels if nest else hp.ring2nest(nside, pixels).astype(np.int64)
    order = np.argsort(nested, kind="stable")
    return order, nested[order]


def parent_hierarchy(nested_pixels, n_levels):
    """Pixel sets and parent assignments of the nested pooling hierarchy.

    Each level halves ``nside``: pixel ``p`` has parent ``p // 4``. On a
    partial sky a parent exists as soon as one of its children is observed.

    Parameters
    ----------
    nested_pixels : ndarray of int, shape (n_pixels,)
        Sorted nested indices of the observed pixels at the finest level.
    n_levels : int
        Number of poolings.

    Returns
    -------
    pixel_sets : list of ndarray
        ``n_levels + 1`` sorted nested pixel sets, finest first.
    parents : list of ndarray
        ``n_levels`` arrays; ``parents[i][j]`` is the position in
        ``pixel_sets[i + 1]`` of the parent of ``pixel_sets[i][j]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.healpix import parent_hierarchy
    >>> sets, parents = parent_hierarchy(np.array([0, 1, 5, 6]), 1)
    >>> sets[1], parents[0]
    (array([0, 1]), array([0, 0, 1, 1]))
    """
    pixel_sets = [np.asarray(nested_pixels, dtype=np.int64)]
    parents = []
    for _ in range(n_levels):
        children = pixel_sets[-1]
        coarse, position = np.unique(children // 4, return_inverse=True)
        pixel_sets.append(coarse)
        parents.append(position.astype(np.int64))
    return pixel_sets, parents


def patch_pixels(nside, patch_nside, nest=False):
    """Pixels of the ``12 * patch_nside**2`` nested square patches of the sphere.

    Patch ``i`` is the HEALPix pixel ``i`` at resolution ``patch_nside``; its
    pixels at resolution ``nside`` are the nested indices
    ``i * (nside // patch_nside)**2`` to ``(i + 1) * (nside // patch_nside)**2 - 1``.
    DeepSphere's partial-sky experiments use ``patch_nside`` 1, 2 and 4.

    Parameters
    ----------
    nside : int
        Resolution of the maps.
    patch_nside : int
        Resolution of the patches, a power of 2 not larger than ``nside``.
    nest : bool, default=False
        Return indices in the NESTED ordering (else RING).

    Returns
    -------
    pixels : ndarray of int, shape (12 * patch_nside**2, (nside // patch_nside)**2)
        Row ``i`` holds the pixels of patch ``i``, in nested order within the
        patch (converted to RING indices if ``nest=False``).

    Examples
    --------
    >>> from skdeepsphere.healpix import patch_pixels
    >>> patch_pixels(4, 2, nest=True).shape
    (48, 4)
    """
    nside = check_nside(nside)
    nest = _check_nest(nest)
    patch_nside = check_nside(patch_nside)
    if patch_nside > nside:
        raise ValueError(f"patch_nside={patch_nside} must not exceed nside={nside}")
    n_patches = 12 * patch_nside**2
    pixels = np.arange(hp.nside2npix(nside), dtype=np.int64).reshape(n_patches, -1)
    if not nest:
        pixels = hp.nest2ring(nside, pixels).astype(np.int64)
    return pixels


def check_maps(X, *, allow_nan=False, dtype=np.float64):
    """Validate a batch of maps and return it as a 3-D array.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
        The maps.
    allow_nan : bool, default=False
        Accept NaN and ``healpy.UNSEEN`` (masked) pixels; infinities are
        always rejected.
    dtype : numpy dtype, default=np.float64
        Dtype of the returned array.

    Returns
    -------
    maps : ndarray of shape (n_samples, n_channels, n_pixels)

    Raises
    ------
    TypeError
        If ``X`` is not numeric (e.g. strings, sparse matrices).
    ValueError
        If ``X`` has the wrong number of dimensions, is empty, or holds
        NaN, ``healpy.UNSEEN`` or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.healpix import check_maps
    >>> check_maps(np.zeros((5, 768))).shape
    (5, 1, 768)
    """
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(
            "sparse input is not supported: pass maps as a dense array"
        )
    raw = X if hasattr(X, "dtype") else np.asarray(X)
    if np.issubdtype(raw.dtype, np.complexfloating):
        raise ValueError("Complex data not supported: maps must be real")
    try:
        maps = np.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(f"maps must be numeric arrays: {error}") from None
    given_shape = maps.shape
    if maps.ndim == 2:
        maps = maps[:, None, :]
    if maps.ndim != 3:
        hint = (" Reshape your data with array.reshape(1, -1) if it contains a "
                "single map." if maps.ndim == 1 else "")
        raise ValueError(
            "maps must have shape (n_samples, n_pixels) or "
            f"(n_samples, n_channels, n_pixels), got an array of shape {maps.shape}."
            + hint
        )
    if maps.shape[0] < 1:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={given_shape}) while a minimum "
            "of 1 is required: maps must not be empty"
        )
    if maps.shape[1] < 1 or maps.shape[2] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={given_shape}) while a minimum "
            "of 1 is required: maps must have at least one channel and pixel"
        )
    if allow_nan:
        if np.isinf(maps).any():
            raise ValueError("maps contain infinite values")
    elif not np.isfinite(maps).all():
        raise ValueError(
            "maps contain NaN or infinite values; mask them or fill them first"
        )
    # min() first: no temporary array unless a value is near UNSEEN
    elif maps.min() <= hp.UNSEEN * (1 - 1e-5) and hp.mask_bad(maps).any():
        raise ValueError(
            "maps contain masked pixels (healpy.UNSEEN); fill them, or leave them "
            "out (`pixels` of a partial sky, or ignore_masked=True where available)"
        )
    return maps

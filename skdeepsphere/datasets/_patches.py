"""Cut full-sky HEALPix maps into the nested square patches of DeepSphere."""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from ..healpix import check_maps, check_nside, npix_to_nside, patch_pixels

__all__ = ["extract_patches"]


def check_patch_nside(patch_nside, nside):
    """Validate the patch resolution ``patch_nside`` for maps at ``nside``."""
    if isinstance(patch_nside, bool) or not isinstance(patch_nside, numbers.Integral):
        raise TypeError(f"patch_nside must be an integer, got {patch_nside!r}")
    try:
        patch_nside = check_nside(patch_nside)
    except ValueError:
        raise ValueError(
            f"patch_nside must be a power of 2 (1, 2, 4, ...), got {patch_nside}"
        ) from None
    if patch_nside > nside:
        raise ValueError(f"patch_nside={patch_nside} must not exceed nside={nside}")
    return patch_nside


@validate_params(
    {"maps": ["array-like"],
     "patch_nside": [Interval(numbers.Integral, 1, None, closed="left")],
     "nest": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def extract_patches(maps, patch_nside, *, nest=False):
    """Split full-sky maps into their ``12 * patch_nside**2`` nested patches.

    Patch ``i`` is the HEALPix pixel ``i`` at resolution ``patch_nside`` (in the
    NESTED scheme): a square-ish region of ``(nside // patch_nside)**2`` pixels.
    Within a patch the pixels are in nested order, so every patch has the
    same layout and, up to the small distortions of the HEALPix grid, the
    same graph. This is how DeepSphere turns full-sky simulations into many
    training samples (the paper uses ``patch_nside`` 1, 2 and 4).

    Parameters
    ----------
    maps : array-like of shape (n_pixels,), (n_maps, n_pixels) or \
(n_maps, n_channels, n_pixels)
        Full-sky maps, ``n_pixels = 12 * nside**2`` with ``nside`` a power
        of 2. NaN marks unobserved pixels and is kept.
    patch_nside : int
        Resolution of the patches, a power of 2 not larger than ``nside``.
    nest : bool, default=False
        Ordering of the pixels of ``maps`` and of the returned ``pixels``:
        NESTED if True, RING (healpy's default) otherwise.

    Returns
    -------
    patches : ndarray of shape (n_maps * n_patches, n_patch_pixels) or \
(n_maps * n_patches, n_channels, n_patch_pixels)
        ``patches[i * n_patches + p]`` is patch ``p`` of map ``i``, with
        ``n_patches = 12 * patch_nside**2`` and
        ``n_patch_pixels = (nside // patch_nside)**2``. A channel axis is
        returned when ``maps`` has one. Floating dtypes are kept, other
        inputs become float64.
    pixels : ndarray of int64, shape (n_patches, n_patch_pixels)
        ``pixels[p]`` are the indices, in the ordering given by ``nest``, of
        the pixels of patch ``p``, column by column: for every map,
        ``maps[..., pixels[p]]`` is that map's patch ``p``.

    See Also
    --------
    skdeepsphere.healpix.patch_pixels : The pixel indices alone.
    make_convergence_maps : Simulated maps, already cut when ``patch_nside`` is
        given.

    Notes
    -----
    The estimators take one fixed pixel set through ``pixels=`` (with
    ``nside=`` and ``nest=``) and build their graph from it. To train on
    the patches of all sky regions together, give them the set of one patch,
    e.g. ``pixels=pixels[0]``: it describes the graph used for every patch,
    as in DeepSphere, which treats all patches of a given ``patch_nside`` as the
    same graph. Use ``pixels[p]`` only to put a patch back on the sphere.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.datasets import extract_patches
    >>> maps = np.arange(2 * 768, dtype=float).reshape(2, 768)  # nside 8
    >>> patches, pixels = extract_patches(maps, patch_nside=2)
    >>> patches.shape, pixels.shape
    ((96, 16), (48, 16))
    >>> np.array_equal(patches[48 + 5], maps[1, pixels[5]])
    True
    """
    array = np.asarray(maps)
    dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float64
    ndim = array.ndim
    if ndim == 1:
        array = array[None, :]
    array = check_maps(array, allow_nan=True, dtype=dtype)
    nside = npix_to_nside(array.shape[-1])
    patch_nside = check_patch_nside(patch_nside, nside)
    pixels = patch_pixels(nside, patch_nside, nest=nest)
    n_maps, n_channels = array.shape[:2]
    # (n_maps, n_channels, n_patches, n_patch_pixels) -> patches first.
    patches = array[:, :, pixels].transpose(0, 2, 1, 3)
    patches = patches.reshape(n_maps * pixels.shape[0], n_channels, -1)
    if ndim < 3:
        patches = patches[:, 0, :]
    return np.ascontiguousarray(patches), pixels

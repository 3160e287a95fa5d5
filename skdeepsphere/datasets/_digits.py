"""Spherical digits: 2-D images projected onto the HEALPix sphere."""

from numbers import Integral, Real

import healpy as hp
import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils._param_validation import Interval, validate_params

from ..healpix import check_nside
from ..rotation import random_rotations

__all__ = ["make_spherical_digits"]

#: Images are projected in chunks of this many pixels (times 3 coordinates)
#: to bound the memory of the coordinate arrays.
_CHUNK_POINTS = 2**21


def _bilinear(images, index, row, column):
    """Bilinear samples of ``images[index]`` at fractional (row, column).

    Pixel ``(i, j)`` of an image is the value at its centre ``(i, j)``; the
    image is zero outside, and the interpolation fades to zero over the half
    pixel beyond its edge (as ``scipy.ndimage.map_coordinates`` with
    ``mode="grid-constant"``).
    """
    _, height, width = images.shape
    # Two zero rows/columns after, one before: clipped points sample zeros.
    padded = np.pad(images, ((0, 0), (1, 2), (1, 2)))
    row = np.clip(row, -1, height) + 1
    column = np.clip(column, -1, width) + 1
    top, left = np.floor(row).astype(np.int64), np.floor(column).astype(np.int64)
    down, right = row - top, column - left
    stride = padded.shape[2]
    flat = padded.reshape(-1)
    corner = (index * padded.shape[1] + top) * stride + left
    return ((1 - down) * ((1 - right) * flat[corner] + right * flat[corner + 1])
            + down * ((1 - right) * flat[corner + stride] + right * flat[corner + stride + 1]))


def _project(images, nside, rotations, extent, nest):
    """Sample ``images`` at the stereographic preimage of each pixel centre."""
    n_images, height, width = images.shape
    npix = hp.nside2npix(nside)
    centres = np.stack(hp.pix2vec(nside, np.arange(npix), nest=nest), axis=1)
    maps = np.empty((n_images, npix), dtype=np.float64)
    per_chunk = max(1, _CHUNK_POINTS // npix)
    for start in range(0, n_images, per_chunk):
        stop = min(start + per_chunk, n_images)
        if rotations is None:
            points = np.broadcast_to(centres, (stop - start, npix, 3))
        else:
            # The rotated map at v is the unrotated one at R^{-1} v = R^T v.
            points = centres @ rotations[start:stop]
        x, y, z = points[..., 0], points[..., 1], points[..., 2]
        # Stereographic projection from the south pole onto the plane tangent
        # at the north pole: (x, y, z) -> 2 (x, y) / (1 + z), i.e. a radius
        # of 2 tan(theta / 2) at colatitude theta.
        scale = 2.0 / np.maximum(1.0 + z, 1e-12)
        # Image columns run along +x, rows from +y (top) to -y; pixel centres
        # sit at the middle of the cells of the square [-extent, extent]^2.
        column = (scale * x + extent) / (2 * extent) * width - 0.5
        row = (extent - scale * y) / (2 * extent) * height - 0.5
        index = np.arange(start, stop)[:, None]
        values = _bilinear(images, index, row, column)
        # One hemisphere only: the plane beyond the equator is not used.
        maps[start:stop] = np.where(z >= 0, values, 0.0)
    return maps


@validate_params(
    {"images": ["array-like", None],
     "labels": ["array-like", None],
     "nside": [Interval(Integral, 1, None, closed="left")],
     "rotate": ["boolean"],
     "extent": [Interval(Real, 0, None, closed="neither")],
     "nest": ["boolean"],
     "return_rotations": ["boolean"],
     "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def make_spherical_digits(images=None, labels=None, *, nside=16, rotate=True,
                          extent=1.5, nest=False, return_rotations=False,
                          random_state=None):
    """Digits (or any 2-D images) projected onto the sphere, optionally rotated.

    The spherical MNIST benchmark of Cohen et al. (2018): each image is laid
    on the plane tangent to the sphere at the north pole and projected
    stereographically (from the south pole) onto the northern hemisphere:
    the pixel centre at colatitude :math:`\\theta` and longitude
    :math:`\\phi` takes the bilinearly interpolated image value at the plane
    point :math:`2 \\tan(\\theta / 2) (\\cos\\phi, \\sin\\phi)`. The image
    covers the square :math:`[-e, e]^2` of that plane (``extent`` :math:`e`),
    its columns along :math:`\\phi = 0` (the x axis) and its first row at
    the top (+y), its centre at the north pole. The default
    :math:`e = 1.5` is the one of Cohen et al.'s code: the inscribed circle
    of the image reaches a colatitude of 73.7°, its corners just pass the
    equator, and the southern hemisphere is 0. With ``rotate=True`` each
    map is then rotated by its own uniformly random rotation
    (:func:`skdeepsphere.rotation.random_rotations`); the rotated map is
    sampled directly from the image (one interpolation, not two).

    Parameters
    ----------
    images : array-like of shape (n_images, height, width), default=None
        The images, e.g. MNIST. ``None`` uses scikit-learn's bundled 1797
        8x8 digits (:func:`sklearn.datasets.load_digits`, no download),
        divided by 16 to lie in [0, 1].
    labels : array-like of shape (n_images,), default=None
        Labels of ``images``, returned as ``y``. Ignored (the digits'
        labels are returned) when ``images`` is ``None``.
    nside : int, default=16
        HEALPix resolution of the maps (``12 * nside**2`` pixels). At 16,
        an 8x8 digit covers about 1100 pixels.
    rotate : bool, default=True
        Rotate each map by a uniformly random rotation.
    extent : float, default=1.5
        Half-width of the image on the tangent plane, in units of the
        sphere's radius.
    nest : bool, default=False
        Ordering of the returned maps: NESTED if True, else RING.
    return_rotations : bool, default=False
        Also return the rotation matrices.
    random_state : int, RandomState instance or None, default=None
        Seed of the rotations.

    Returns
    -------
    X : ndarray of float32, shape (n_images, 12 * nside**2)
        The maps.
    y : ndarray of shape (n_images,) or None
        The labels (``None`` if ``images`` was given without ``labels``).
    rotations : ndarray of shape (n_images, 3, 3)
        Only with ``return_rotations=True``: the rotation of each map (the
        identity if ``rotate=False``); the map at :math:`v` is the
        unrotated map at :math:`R^T v`.

    Examples
    --------
    >>> from skdeepsphere.datasets import make_spherical_digits
    >>> X, y = make_spherical_digits(nside=8, random_state=0)
    >>> X.shape, y[:5]
    ((1797, 768), array([0, 1, 2, 3, 4]))
    """
    nside = check_nside(nside)
    if images is None:
        digits = load_digits()
        images, labels = digits.images / 16.0, digits.target
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or min(images.shape) < 1:
        raise ValueError(
            "images must have shape (n_images, height, width), got an array of "
            f"shape {images.shape}"
        )
    if not np.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(images),):
            raise ValueError(
                f"labels must have shape ({len(images)},), got {labels.shape}"
            )
    rotations = random_rotations(len(images), random_state) if rotate else None
    maps = _project(images, nside, rotations, float(extent), nest).astype(np.float32)
    if not return_rotations:
        return maps, labels
    if rotations is None:
        rotations = np.broadcast_to(np.eye(3), (len(images), 3, 3)).copy()
    return maps, labels, rotations

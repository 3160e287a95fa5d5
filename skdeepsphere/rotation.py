r"""Rotations of HEALPix maps and the rotation equivariance of graph filters.

A rotation :math:`R \in SO(3)` acts on a map :math:`x` by
:math:`(R x)(v) = x(R^{-1} v)`: the value of the rotated map at the pixel
centre :math:`v` is the value of the original map at :math:`R^{-1} v`. That
point is generally not a pixel centre, so the map is interpolated there with
healpy's bilinear interpolation (:func:`healpy.get_interp_weights`: 4 pixels
and weights summing to 1 per output pixel). Interpolation smooths the map a
little: rotating a map and rotating it back does not give it back exactly,
and :func:`rotation_roundtrip_error` measures by how much. Only the 8
rotations of :func:`grid_rotations` move pixel centres onto pixel centres:
for them :func:`grid_permutations` rotates exactly.

A map-to-map operator :math:`f` is equivariant if :math:`f(R x) = R f(x)`
and a map-to-label one invariant if :math:`f(R x) = f(x)`. Spherical
convolutions are; DeepSphere's graph convolutions are only approximately
(Perraudin et al. 2019, Defferrard et al. 2020), and
:func:`empirical_equivariance_error` measures how far.

This module needs numpy, scipy and healpy only; torch is imported only to
run a torch module given to :func:`empirical_equivariance_error`. The
training-time augmentation of the estimators (``augment_rotation=True``) is
:class:`skdeepsphere.nn.RandomBatchRotation`; smooth test maps come from
:func:`skdeepsphere.synthesis.random_smooth_maps`.
"""

import functools
import sys

import healpy as hp
import numpy as np
from scipy.spatial.transform import Rotation

from .healpix import check_maps, check_nside, npix_to_nside

__all__ = [
    "grid_rotations",
    "grid_permutations",
    "random_rotations",
    "rotation_resampling",
    "rotate_maps",
    "rotation_roundtrip_error",
    "empirical_equivariance_error",
]


def random_rotations(n_rotations, random_state=None):
    """Rotation matrices drawn uniformly (Haar measure) from SO(3).

    Parameters
    ----------
    n_rotations : int
        Number of rotations.
    random_state : int, RandomState or Generator instance or None, default=None
        Seed, passed to :meth:`scipy.spatial.transform.Rotation.random`.

    Returns
    -------
    rotations : ndarray of shape (n_rotations, 3, 3)
        Orthogonal matrices of determinant 1.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.rotation import random_rotations
    >>> R = random_rotations(2, random_state=0)
    >>> R.shape, bool(np.allclose(R[0] @ R[0].T, np.eye(3)))
    ((2, 3, 3), True)
    """
    n_rotations = int(n_rotations)
    if n_rotations < 1:
        raise ValueError(f"n_rotations must be a positive integer, got {n_rotations}")
    # scipy reads an int or None like sklearn's check_random_state.
    return Rotation.random(n_rotations, random_state=random_state).as_matrix()


def grid_rotations():
    """The 8 rotations that map the HEALPix grid onto itself, at every nside.

    Quarter turns about the polar axis (every ring holds a multiple of 4
    equally spaced pixels), each alone and followed by the half turn about
    the x axis, :math:`(x, y, z) \\mapsto (x, -y, -z)` (the rings of the
    two hemispheres mirror each other). Rotating a map by one of them moves
    pixels onto pixels: no interpolation, no smoothing (see
    :func:`grid_permutations`).

    Returns
    -------
    rotations : ndarray of shape (8, 3, 3)
        Orthogonal matrices of determinant 1; the first is the identity.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.rotation import grid_rotations
    >>> R = grid_rotations()
    >>> R.shape, bool(np.allclose(np.linalg.det(R), 1))
    ((8, 3, 3), True)
    """
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    flip = np.diag([1.0, -1.0, -1.0])
    return np.stack([np.linalg.matrix_power(quarter, k) @ half
                     for half in (np.eye(3), flip) for k in range(4)])


@functools.lru_cache(maxsize=8)
def _grid_permutations(nside, nest):
    centres = _pixel_centres(nside, nest)
    permutations = []
    for rotation in grid_rotations():
        # rotated(v) = maps(R^{-1} v): the pixel whose centre is R^T v.
        theta, phi = hp.vec2ang(centres @ rotation)
        permutations.append(hp.ang2pix(nside, theta, phi, nest=nest))
    permutations = np.stack(permutations).astype(np.int64)
    permutations.flags.writeable = False
    return permutations


def grid_permutations(nside, *, nest=False):
    """Pixel permutations of the 8 rotations of :func:`grid_rotations`.

    Parameters
    ----------
    nside : int
        Resolution of the maps.
    nest : bool, default=False
        Ordering of the maps (and of the returned indices): NESTED if True,
        else RING.

    Returns
    -------
    permutations : ndarray of int64, shape (8, 12 * nside**2)
        ``maps[..., permutations[g]]`` is ``maps`` rotated by
        ``grid_rotations()[g]``, as :func:`rotate_maps` defines a rotation,
        exactly. Read-only (cached).

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.rotation import grid_permutations
    >>> permutations = grid_permutations(2)
    >>> permutations.shape, bool((np.sort(permutations, axis=1) == np.arange(48)).all())
    ((8, 48), True)
    """
    return _grid_permutations(check_nside(nside), bool(nest))


def _check_rotations(rotations):
    rotations = np.asarray(rotations, dtype=np.float64)
    if rotations.shape == (3, 3):
        rotations = rotations[None]
    if rotations.ndim != 3 or rotations.shape[1:] != (3, 3):
        raise ValueError(
            "rotations must be a (3, 3) matrix or an array of shape "
            f"(n_rotations, 3, 3), got shape {rotations.shape}"
        )
    identity = np.broadcast_to(np.eye(3), rotations.shape)
    if not np.allclose(rotations @ rotations.transpose(0, 2, 1), identity, atol=1e-6):
        raise ValueError("rotations must be orthogonal matrices (R @ R.T == I)")
    return rotations


@functools.lru_cache(maxsize=8)
def _pixel_centres(nside, nest):
    centres = np.stack(hp.pix2vec(nside, np.arange(hp.nside2npix(nside)), nest=nest), axis=1)
    centres.flags.writeable = False
    return centres


@functools.lru_cache(maxsize=8)
def _ring_to_nest(nside):
    table = hp.ring2nest(nside, np.arange(hp.nside2npix(nside))).astype(np.int64)
    table.flags.writeable = False
    return table


def rotation_resampling(nside, rotations, *, nest=False):
    """Pixels and weights that rotate full-sky maps by bilinear interpolation.

    For each rotation :math:`R` and output pixel centre :math:`v`, the four
    pixels around :math:`R^{-1} v` and their bilinear weights
    (:func:`healpy.get_interp_weights`), so that the rotated map is
    ``(maps[..., pixels] * weights).sum(-2)``.

    Parameters
    ----------
    nside : int
        Resolution of the maps.
    rotations : array-like of shape (3, 3) or (n_rotations, 3, 3)
        Rotation matrices (e.g. from :func:`random_rotations`).
    nest : bool, default=False
        Ordering of the maps (and of the returned pixel indices): NESTED if
        True, else RING.

    Returns
    -------
    pixels : ndarray of int64, shape (n_rotations, 4, 12 * nside**2)
    weights : ndarray of float64, shape (n_rotations, 4, 12 * nside**2)
        Non-negative, summing to 1 over the second axis.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.rotation import rotation_resampling
    >>> pixels, weights = rotation_resampling(4, np.eye(3))
    >>> pixels.shape, bool(np.allclose(weights.sum(1), 1))
    ((1, 4, 192), True)
    """
    nside = check_nside(nside)
    rotations = _check_rotations(rotations)
    npix = hp.nside2npix(nside)
    centres = _pixel_centres(nside, bool(nest))
    # R^{-1} v = R^T v; for row vectors v^T R.
    sources = (centres @ rotations).reshape(-1, 3)
    theta, phi = hp.vec2ang(sources)
    # healpy interpolates in RING order; its NESTED variant converts every
    # index with a slower per-pixel call than one lookup in a cached table.
    pixels, weights = hp.get_interp_weights(nside, theta, phi)
    if nest:
        pixels = _ring_to_nest(nside)[pixels]
    shape = (4, len(rotations), npix)
    pixels = np.ascontiguousarray(pixels.reshape(shape).transpose(1, 0, 2), dtype=np.int64)
    weights = np.ascontiguousarray(weights.reshape(shape).transpose(1, 0, 2))
    return pixels, weights


def rotate_maps(maps, rotations, *, nest=False):
    """Rotate full-sky maps: ``rotated(v) = maps(R^{-1} v)``, bilinearly.

    Parameters
    ----------
    maps : array-like of shape (n_pixels,), (n_maps, n_pixels) or (n_maps, n_channels, n_pixels)
        Full-sky maps; all channels of a map get the same rotation.
    rotations : array-like of shape (3, 3) or (n_maps, 3, 3)
        One rotation for all maps, or one per map.
    nest : bool, default=False
        Ordering of the maps: NESTED if True, else RING.

    Returns
    -------
    rotated : ndarray of float64, the shape of ``maps``

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.rotation import rotate_maps
    >>> maps = np.random.default_rng(0).normal(size=(3, 192))
    >>> bool(np.allclose(rotate_maps(maps, np.eye(3)), maps))
    True
    """
    given = np.asarray(maps)
    maps = check_maps(given[None] if given.ndim == 1 else given)
    n_maps, _, n_pixels = maps.shape
    nside = npix_to_nside(n_pixels)
    rotations = _check_rotations(rotations)
    if len(rotations) not in (1, n_maps):
        raise ValueError(
            f"got {len(rotations)} rotations for {n_maps} maps: pass one "
            "rotation, or one per map"
        )
    pixels, weights = rotation_resampling(nside, rotations, nest=nest)
    if len(rotations) == 1:
        rotated = np.einsum("ncqp,qp->ncp", maps[..., pixels[0]], weights[0])
    else:
        index = np.arange(n_maps)[:, None, None, None]
        channel = np.arange(maps.shape[1])[None, :, None, None]
        gathered = maps[index, channel, pixels[:, None]]  # (n, C, 4, npix)
        rotated = np.einsum("ncqp,nqp->ncp", gathered, weights)
    return rotated.reshape(given.shape)


def _relative_error(difference, reference):
    """Per-map ||difference|| / ||reference|| over channels and pixels."""
    n_maps = len(reference)
    numerator = np.linalg.norm(difference.reshape(n_maps, -1), axis=1)
    denominator = np.linalg.norm(reference.reshape(n_maps, -1), axis=1)
    return numerator / np.maximum(denominator, np.finfo(float).tiny)


def rotation_roundtrip_error(maps, *, n_rotations=10, nest=False, random_state=None):
    """Relative error of rotating maps and rotating them back.

    :math:`\\|R^{-1}(R x) - x\\| / \\|x\\|`, averaged over maps and random
    rotations: the floor that interpolation puts under
    :func:`empirical_equivariance_error` (two interpolations, as there).

    Parameters
    ----------
    maps : array-like of shape (n_maps, n_pixels) or (n_maps, n_channels, n_pixels)
        Full-sky maps.
    n_rotations : int, default=10
        Random rotations per map.
    nest : bool, default=False
        Ordering of the maps: NESTED if True, else RING.
    random_state : int, RandomState instance or None, default=None
        Seed of the rotations.

    Returns
    -------
    error : float

    Examples
    --------
    >>> from skdeepsphere.rotation import rotation_roundtrip_error
    >>> from skdeepsphere.synthesis import random_smooth_maps
    >>> maps = random_smooth_maps(2, 16, lmax=8, random_state=0)
    >>> rotation_roundtrip_error(maps, n_rotations=2, random_state=0) < 0.1
    True
    """
    maps = check_maps(maps)
    rotations = random_rotations(n_rotations, random_state)
    errors = []
    for rotation in rotations:
        there = rotate_maps(maps, rotation, nest=nest)
        back = rotate_maps(there, rotation.T, nest=nest)
        errors.append(_relative_error(back - maps, maps))
    return float(np.mean(errors))


def _torch_module_function(module):
    """Run a torch module on numpy maps, in evaluation mode, without grad."""
    import torch

    parameter = next(module.parameters(), None)
    dtype = torch.float32 if parameter is None else parameter.dtype
    device = "cpu" if parameter is None else parameter.device

    def function(maps):
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                out = module(torch.as_tensor(maps, dtype=dtype, device=device))
        finally:
            module.train(was_training)
        return out.detach().cpu().numpy().astype(np.float64)

    return function


def empirical_equivariance_error(layer_or_estimator, maps, *, n_rotations=10, nest=None,
                                random_state=None):
    """Relative rotation equivariance (or invariance) error of a model.

    For a *layer* :math:`f` mapping maps to maps (a torch module such as
    :class:`~skdeepsphere.nn.ChebConv`, or a callable on numpy arrays),

    .. math::

        E = \\operatorname{mean}_{x, R}
            \\frac{\\|f(R x) - R f(x)\\|}{\\|f(x)\\|},

    the normalised equivariance error of the DeepSphere papers (Perraudin et
    al. 2019; Defferrard et al. 2020), here averaged without squaring, with
    the norms over the channels and pixels of a map. The output may have another
    resolution than the input (e.g. after pooling): it is rotated at its
    own ``nside``. For a fitted *estimator*, whose output should be
    invariant, :math:`E = \\operatorname{mean}_R \\|F(R X) - F(X)\\| /
    \\|F(X)\\|` with :math:`F(X)` the outputs of all maps (Frobenius norms):
    ``predict_proba`` if the estimator has it, else ``decision_function``,
    else ``predict``.

    Rotations are computed by bilinear interpolation (:func:`rotate_maps`),
    so the error includes an interpolation error: use smooth, band-limited
    maps (:func:`~skdeepsphere.synthesis.random_smooth_maps`) and compare with
    :func:`rotation_roundtrip_error`, the error of a perfectly equivariant
    identity measured the same way (two interpolations).

    Parameters
    ----------
    layer_or_estimator : torch.nn.Module, fitted estimator or callable
        A module taking tensors of shape (n_maps, n_channels, n_pixels); an
        estimator with ``predict``; or a function from numpy arrays of
        shape (n_maps, n_channels, n_pixels) to arrays of shape
        (n_maps, n_out_channels, n_out_pixels).
    maps : array-like of shape (n_maps, n_pixels) or (n_maps, n_channels, n_pixels)
        Full-sky test maps.
    n_rotations : int, default=10
        Random rotations per map.
    nest : bool, default=None
        Ordering of ``maps`` (and of the layer's output): NESTED if True,
        else RING. ``None``: the estimator's ``nest`` parameter if it has one
        (else RING; pass it for a pipeline), NESTED for a layer (the
        package's modules work on NESTED maps).
    random_state : int, RandomState instance or None, default=None
        Seed of the rotations.

    Returns
    -------
    error : float

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.rotation import empirical_equivariance_error
    >>> from skdeepsphere.synthesis import random_smooth_maps
    >>> maps = random_smooth_maps(2, 8, nest=True, random_state=0)
    >>> shuffle = np.random.default_rng(0).permutation(768)
    >>> error = empirical_equivariance_error(lambda x: x[..., shuffle], maps,
    ...                                     n_rotations=2, random_state=0)
    >>> error > 0.5
    True
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(layer_or_estimator, torch.nn.Module):
        kind, function = "layer", _torch_module_function(layer_or_estimator)
    elif hasattr(layer_or_estimator, "predict"):
        kind = "estimator"
        name = next(name for name in ("predict_proba", "decision_function", "predict")
                    if hasattr(layer_or_estimator, name))
        function = getattr(layer_or_estimator, name)
        if nest is None:
            nest = bool(getattr(layer_or_estimator, "nest", False))
    elif callable(layer_or_estimator):
        kind, function = "layer", layer_or_estimator
    else:
        raise TypeError(
            "layer_or_estimator must be a torch module, a fitted estimator or a "
            f"callable, got {type(layer_or_estimator).__name__}"
        )
    nest = True if nest is None else nest
    given_2d = np.ndim(maps) == 2
    maps = check_maps(maps)
    npix_to_nside(maps.shape[2])  # full sky only
    rotations = random_rotations(n_rotations, random_state)

    def apply(x):
        # An estimator (like the caller's data) may take 2-D maps only.
        if kind == "estimator" and given_2d and x.shape[1] == 1:
            x = x[:, 0]
        return np.asarray(function(x), dtype=np.float64)

    reference = apply(maps)
    if kind == "layer" and (reference.ndim != 3 or len(reference) != len(maps)):
        raise ValueError(
            "a layer must return maps of shape (n_maps, n_channels, n_pixels), "
            f"got shape {reference.shape}"
        )
    errors = []
    for rotation in rotations:
        rotated_output = apply(rotate_maps(maps, rotation, nest=nest))
        if kind == "layer":
            difference = rotated_output - rotate_maps(reference, rotation, nest=nest)
            errors.append(_relative_error(difference, reference))
        else:
            difference = (rotated_output - reference).reshape(1, -1)
            errors.append(_relative_error(difference, reference.reshape(1, -1)))
    return float(np.mean(errors))

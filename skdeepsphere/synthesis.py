"""Gaussian random maps drawn from a seed.

``healpy.synfast`` draws from numpy's global random state; the functions here
draw the harmonic coefficients from a given seed and call
``healpy.alm2map``, so that maps are reproducible. They are the common base
of the simulated data sets (:mod:`skdeepsphere.datasets`) and of the test
signals of :mod:`skdeepsphere.rotation`.
"""

import healpy as hp
import numpy as np
from sklearn.utils import check_random_state

from .healpix import check_nside

__all__ = ["gaussian_map", "random_smooth_maps"]


def gaussian_map(cl, nside, random_state):
    """One Gaussian map of spectrum ``cl`` drawn with ``random_state``.

    ``healpy.synfast`` draws from numpy's global state; drawing the a_lm
    here and calling ``healpy.alm2map`` makes the maps reproducible.
    Re and Im of a_lm (m > 0) have variance C_ell / 2, a_l0 is real with
    variance C_ell. No pixel window is applied: the map is the band-limited
    field evaluated at the pixel centres.

    Parameters
    ----------
    cl : ndarray of shape (lmax + 1,)
        Angular power spectrum :math:`C_\\ell`, :math:`\\ell = 0, \\dots, \\ell_{max}`.
    nside : int
    random_state : int, RandomState instance or None
        Seed; a RandomState is drawn from (two standard normals per
        coefficient).

    Returns
    -------
    map : ndarray of float64, shape (12 * nside**2,)
        RING ordered.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.synthesis import gaussian_map
    >>> m = gaussian_map(np.ones(17), 8, np.random.RandomState(0))
    >>> m.shape
    (768,)
    """
    random_state = check_random_state(random_state)
    lmax = len(cl) - 1
    ell, _ = hp.Alm.getlm(lmax)
    alm = _white_alm(lmax, random_state) * np.sqrt(cl[ell] / 2)
    return hp.alm2map(alm, nside, lmax=lmax, pol=False)


def _white_alm(lmax, random_state, n_fields=None):
    """Harmonic coefficients of white noise, ``E|a_lm|^2 = 2``, healpy's order.

    Re and Im of a_lm (m > 0) are standard normal, a_l0 is real with
    variance 2: times ``sqrt(C_ell / 2)`` they are a field of spectrum
    C_ell. The real parts of all fields are drawn first, then the
    imaginary parts. Shape ``(n_alm,)``, or ``(n_fields, n_alm)``.
    """
    ell, m = hp.Alm.getlm(lmax)
    shape = (ell.size,) if n_fields is None else (n_fields, ell.size)
    real = random_state.standard_normal(shape)
    imag = random_state.standard_normal(shape)
    real[..., m == 0] *= np.sqrt(2)
    imag[..., m == 0] = 0.0
    return real + 1j * imag


def random_smooth_maps(n_maps, nside, *, lmax=None, nest=False, random_state=None):
    """Band-limited Gaussian random maps with a flat spectrum up to ``lmax``.

    Test signals for rotations: smooth on the scale of a pixel, so that the
    bilinear interpolation of :func:`skdeepsphere.rotation.rotate_maps` is
    accurate. The
    harmonic coefficients :math:`a_{\\ell m}`, :math:`1 \\le \\ell \\le
    \\ell_{max}`, are standard complex normals drawn from the given seed
    (healpy's ``synfast`` uses numpy's global state), the monopole is 0 and
    each map is scaled to unit standard deviation.

    Parameters
    ----------
    n_maps : int
    nside : int
    lmax : int, default=None
        Band limit; ``None`` uses ``nside``.
    nest : bool, default=False
        Ordering of the returned maps: NESTED if True, else RING.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    maps : ndarray of float64, shape (n_maps, 12 * nside**2)

    Examples
    --------
    >>> from skdeepsphere.synthesis import random_smooth_maps
    >>> maps = random_smooth_maps(2, 8, random_state=0)
    >>> maps.shape, round(float(maps[0].std()), 6)
    ((2, 768), 1.0)
    """
    nside = check_nside(nside)
    lmax = nside if lmax is None else int(lmax)
    if not 1 <= lmax <= 3 * nside - 1:
        raise ValueError(f"lmax must be in [1, {3 * nside - 1}] for nside={nside}, got {lmax}")
    random_state = check_random_state(random_state)
    spectrum = np.ones(lmax + 1)
    spectrum[0] = 0.0
    maps = []
    for _ in range(int(n_maps)):
        map_ = gaussian_map(spectrum, nside, random_state)
        maps.append(map_ / map_.std())
    maps = np.array(maps).reshape(int(n_maps), -1)
    if nest:
        maps = maps[:, hp.nest2ring(nside, np.arange(hp.nside2npix(nside)))]
    return maps

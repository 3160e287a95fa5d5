"""Dense (per-pixel) tasks: point-source segmentation and map denoising.

- :func:`make_point_source_maps`: a CMB-like Gaussian sky, point sources
  convolved with the beam and white noise; the label of a pixel says
  whether it lies within the beam of a source.
- :func:`make_denoising_maps`: lognormal convergence maps with and without
  white noise, for map-to-map regression.

Both draw every random number from ``random_state`` (not healpy's global
numpy state), so that a seed gives the same maps.
"""

import healpy as hp
import numpy as np
from sklearn.utils import check_random_state

from ..healpix import _healpy_threads
from ..synthesis import gaussian_map as _gaussian_map
from ._convergence import (
    _BAND_FACTOR,
    _check_common,
    _pixel_variance,
    _smooth,
    _smoothed_variance,
    convergence_spectrum,
    lognormal_gaussian_spectrum,
)

__all__ = ["cmb_spectrum", "make_point_source_maps", "make_denoising_maps"]

#: FWHM of the default beam, in pixels (``healpy.nside2resol``).
_BEAM_PIXELS = 2.5


def cmb_spectrum(lmax):
    """A CMB-like temperature power spectrum :math:`C_\\ell` in μK².

    An analytic shape of :math:`D_\\ell = \\ell (\\ell + 1) C_\\ell / 2\\pi`:
    a Sachs-Wolfe plateau of 1100 μK² and Gaussian acoustic peaks at
    :math:`\\ell` = 220, 540 and 810 (before damping, 5750, 2550 and 2500 μK² at their top),
    damped above :math:`\\ell \\sim 1400`. It follows the best-fit ΛCDM
    spectrum shipped with healpy (``totcls.dat``) to 25 % up to
    :math:`\\ell = 1000`; it is hard-coded so that the maps do not depend on
    data files or Boltzmann codes.

    Parameters
    ----------
    lmax : int
        Largest multipole.

    Returns
    -------
    cl : ndarray of shape (lmax + 1,)
        Zero for :math:`\\ell < 2`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.datasets import cmb_spectrum
    >>> cl = cmb_spectrum(300)
    >>> ell = np.arange(301)
    >>> int(np.argmax(ell * (ell + 1) * cl))
    218
    """
    ell = np.arange(int(lmax) + 1, dtype=float)
    d_ell = (1100.0
             + 4650.0 * np.exp(-0.5 * ((ell - 220) / 86) ** 2)
             + 1500.0 * np.exp(-0.5 * ((ell - 540) / 80) ** 2)
             + 1700.0 * np.exp(-0.5 * ((ell - 810) / 90) ** 2))
    d_ell *= np.exp(-((ell / 1400) ** 2))
    cl = np.zeros_like(ell)
    cl[2:] = 2 * np.pi * d_ell[2:] / (ell[2:] * (ell[2:] + 1))
    return cl


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return float(value)


def make_point_source_maps(
    n_samples,
    nside,
    *,
    n_sources=100,
    amplitude_range=(50.0, 1000.0),
    amplitude_slope=2.0,
    fwhm=None,
    noise_level=30.0,
    nest=False,
    return_sources=False,
    random_state=None,
):
    """Full-sky CMB maps with point sources, and per-pixel source labels.

    Each map is a Gaussian CMB-like sky (:func:`cmb_spectrum`) plus point
    sources, both convolved with a Gaussian beam of full width at half
    maximum ``fwhm``, plus white noise. The number of sources of a map is
    Poisson with mean ``n_sources``; their positions are uniform on the
    sphere and their peak amplitudes (after the beam) follow
    :math:`dN/dA \\propto A^{-\\alpha}` between ``amplitude_range``, so most
    sources are faint: at the defaults about half have a peak below the
    CMB's pixel standard deviation (about 100 μK).

    A pixel is labelled 1 (source) if its centre lies within ``fwhm / 2``
    of a source, i.e. inside the beam's half-maximum contour, else 0.

    Parameters
    ----------
    n_samples : int
        Number of maps.
    nside : int
        HEALPix resolution.
    n_sources : float, default=100
        Mean number of sources per map (full sky).
    amplitude_range : tuple of 2 floats, default=(50.0, 1000.0)
        Smallest and largest peak amplitude of a source, in μK.
    amplitude_slope : float, default=2.0
        Power-law index :math:`\\alpha` of the amplitude distribution.
    fwhm : float, default=None
        Beam FWHM in arcminutes; ``None``: 2.5 pixel sizes
        (``2.5 * healpy.nside2resol(nside, arcmin=True)``, 137 arcmin at
        ``nside=64``).
    noise_level : float, default=30.0
        Standard deviation of the white noise per pixel, in μK.
    nest : bool, default=False
        Ordering of the returned maps, labels and source pixels.
    return_sources : bool, default=False
        Also return the source catalogue.
    random_state : int, RandomState instance or None, default=None
        Seed of the CMB, the sources and the noise.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, 12 * nside**2)
        Temperature maps in μK.
    y : ndarray of int64, shape (n_samples, 12 * nside**2)
        1 within the beam of a source, 0 elsewhere.
    sources : dict of ndarray
        Only with ``return_sources``: one entry per source, ``"sample"``
        (its map), ``"pixel"`` (the pixel of its centre, in the ordering
        given by ``nest``) and ``"amplitude"`` (peak amplitude, μK).

    Examples
    --------
    >>> from skdeepsphere.datasets import make_point_source_maps
    >>> X, y = make_point_source_maps(2, nside=16, random_state=0)
    >>> X.shape, y.shape, sorted(set(y.ravel().tolist()))
    ((2, 3072), (2, 3072), [0, 1])
    """
    n_samples, nside = _check_common(n_samples, nside, 0.0, 0.0, None, nest)
    n_sources = _check_positive("n_sources", n_sources)
    noise_level = float(noise_level)
    if not np.isfinite(noise_level) or noise_level < 0:
        raise ValueError(f"noise_level must be finite and >= 0, got {noise_level}")
    try:
        low, high = (float(a) for a in amplitude_range)
    except (TypeError, ValueError):
        raise TypeError(
            f"amplitude_range must be two numbers, got {amplitude_range!r}") from None
    if not 0 < low < high < np.inf:
        raise ValueError(f"amplitude_range must satisfy 0 < low < high, got {amplitude_range!r}")
    slope = _check_positive("amplitude_slope", amplitude_slope)
    fwhm_arcmin = (_BEAM_PIXELS * hp.nside2resol(nside, arcmin=True) if fwhm is None
                   else _check_positive("fwhm", fwhm))
    fwhm_rad = np.radians(fwhm_arcmin / 60)
    sigma = fwhm_rad / np.sqrt(8 * np.log(2))
    random_state = check_random_state(random_state)
    cmb_state, source_state, noise_state = (
        np.random.RandomState(seed)
        for seed in random_state.randint(np.iinfo(np.int32).max, size=3))

    lmax = 3 * nside - 1
    beam = hp.gauss_beam(fwhm_rad, lmax=lmax)
    cl = cmb_spectrum(lmax) * beam**2
    npix = hp.nside2npix(nside)
    maps = np.empty((n_samples, npix), dtype=np.float32)
    labels = np.zeros((n_samples, npix), dtype=np.int64)
    catalogue = {"sample": [], "pixel": [], "amplitude": []}
    with _healpy_threads(nside):
        for i in range(n_samples):
            sky = _gaussian_map(cl, nside, cmb_state)
            count = source_state.poisson(n_sources)
            z = source_state.uniform(-1, 1, count)
            phi = source_state.uniform(0, 2 * np.pi, count)
            u = source_state.uniform(size=count)
            if slope == 1:
                amplitude = low * (high / low) ** u
            else:
                # Inverse CDF of A**-slope on [low, high].
                a, b = low ** (1 - slope), high ** (1 - slope)
                amplitude = (a + u * (b - a)) ** (1 / (1 - slope))
            centres = np.stack([np.sqrt(1 - z**2) * np.cos(phi),
                                np.sqrt(1 - z**2) * np.sin(phi), z], axis=1)
            for centre, peak in zip(centres, amplitude):
                # The beam profile evaluated at pixel centres out to 4 sigma.
                disc = hp.query_disc(nside, centre, 4 * sigma)
                distance = np.arccos(np.clip(
                    np.stack(hp.pix2vec(nside, disc), axis=1) @ centre, -1, 1))
                sky[disc] += peak * np.exp(-0.5 * (distance / sigma) ** 2)
                labels[i, disc[distance < fwhm_rad / 2]] = 1
                labels[i, hp.vec2pix(nside, *centre)] = 1
            maps[i] = sky + noise_level * noise_state.standard_normal(npix)
            catalogue["sample"].append(np.full(count, i))
            catalogue["pixel"].append(hp.vec2pix(nside, *centres.T, nest=nest))
            catalogue["amplitude"].append(amplitude)
    if nest:
        ring = hp.nest2ring(nside, np.arange(npix))
        maps, labels = maps[:, ring], labels[:, ring]
    if not return_sources:
        return maps, labels
    sources = {key: np.concatenate(value) for key, value in catalogue.items()}
    sources["sample"] = sources["sample"].astype(np.int64)
    sources["pixel"] = sources["pixel"].astype(np.int64)
    return maps, labels, sources


def make_denoising_maps(
    n_samples,
    nside,
    *,
    noise_level=1.0,
    shift=1.0,
    smoothing=1.0,
    nest=False,
    random_state=None,
):
    """Noisy and clean convergence maps, for map-to-map regression.

    The clean maps are the shifted lognormal convergence fields of
    :func:`make_convergence_maps` (spectrum
    :math:`C_\\ell \\propto \\ell / (\\ell + 10)^{2.4}`), one shift
    :math:`\\lambda` for all maps, smoothed by ``smoothing`` pixels and
    scaled to unit pixel variance in expectation: the convergence in units
    of its standard deviation. The noisy maps add white Gaussian noise of
    standard deviation ``noise_level`` (galaxy shape noise). As the field
    is not Gaussian (skewness about :math:`3 / \\lambda` before
    smoothing), the Wiener filter is the best *linear* denoiser but not
    the best one.

    Parameters
    ----------
    n_samples : int
        Number of pairs of maps.
    nside : int
        HEALPix resolution.
    noise_level : float, default=1.0
        Standard deviation of the noise per pixel, in units of the clean
        map's standard deviation.
    shift : float, default=1.0
        Shift :math:`\\lambda` of the lognormal field (smaller: more
        skewed), in units of the unsmoothed field's standard deviation.
    smoothing : float, default=1.0
        Standard deviation, in pixels, of the Gaussian kernel applied to the
        clean field.
    nest : bool, default=False
        Ordering of the returned maps.
    random_state : int, RandomState instance or None, default=None
        Seed of the signal and the noise.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, 12 * nside**2)
        Noisy maps.
    y : ndarray of float32, shape (n_samples, 12 * nside**2)
        Clean maps.

    See Also
    --------
    skdeepsphere.filters.WienerFilter : The linear baseline.

    Examples
    --------
    >>> from skdeepsphere.datasets import make_denoising_maps
    >>> X, y = make_denoising_maps(2, nside=8, random_state=0)
    >>> X.shape, y.shape
    ((2, 768), (2, 768))
    """
    n_samples, nside = _check_common(n_samples, nside, noise_level, smoothing, None, nest)
    shift = _check_positive("shift", shift)
    random_state = check_random_state(random_state)
    signal_state, noise_state = (
        np.random.RandomState(seed)
        for seed in random_state.randint(np.iinfo(np.int32).max, size=2))
    band = int(_BAND_FACTOR * 3 * nside)
    cl_kappa = convergence_spectrum(nside, band - 1)
    cl_gaussian, _ = lognormal_gaussian_spectrum(cl_kappa, shift, lmax_match=3 * nside - 1)
    scale = 1.0 / np.sqrt(_smoothed_variance(cl_kappa, nside, smoothing))
    npix = hp.nside2npix(nside)
    clean = np.empty((n_samples, npix), dtype=np.float32)
    with _healpy_threads(nside):
        for i in range(n_samples):
            gaussian = _gaussian_map(cl_gaussian, nside, signal_state)
            kappa = shift * np.expm1(gaussian - _pixel_variance(cl_gaussian) / 2)
            clean[i] = scale * _smooth(kappa, nside, smoothing)
    noisy = clean + (noise_level * noise_state.standard_normal(clean.shape)).astype(np.float32)
    if nest:
        ring = hp.nest2ring(nside, np.arange(npix))
        noisy, clean = noisy[:, ring], clean[:, ring]
    return noisy, clean


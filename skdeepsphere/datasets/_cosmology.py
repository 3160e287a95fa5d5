"""Weak-lensing convergence spectra of a cosmology, with pyccl (optional).

The ``cosmo`` extra (``pip install 'skdeepsphere[cosmo]'``) installs
pyccl, the Core Cosmology Library of LSST DESC (BSD-3), which computes
spectra offline. Everything else in :mod:`skdeepsphere.datasets` works
without it.
"""

import functools
import numbers

import numpy as np

__all__ = ["ccl_convergence_spectrum"]

#: Parameters held fixed while (Omega_m, sigma_8) vary: Planck 2015
#: (TT+lowP+lensing+ext) values, as used by cosmological N-body suites.
FIXED_PARAMETERS = {"Omega_b": 0.0486, "h": 0.6774, "n_s": 0.9667}
#: Speed of light in km/s.
_C_KM_S = 299792.458
_TRANSFER_FUNCTIONS = ("eisenstein_hu", "boltzmann_camb")


def _import_ccl():
    try:
        import pyccl
    except ImportError:
        raise ImportError(
            "the 'ccl' spectra need pyccl: pip install 'skdeepsphere[cosmo]' "
            "(or pip install pyccl); spectra='builtin' works without it"
        ) from None
    return pyccl


def default_transfer_function():
    """``"boltzmann_camb"`` if camb is installed, else ``"eisenstein_hu"``."""
    try:
        import camb  # noqa: F401
    except ImportError:
        return "eisenstein_hu"
    return "boltzmann_camb"


def source_redshift_distribution(z, z0=0.5):
    """Unnormalised ``n(z) = z**2 exp(-(z / z0)**1.5)`` (median 0.7 for z0 = 0.5).

    The Smail et al. (1994) shape common in forecasts of Stage-III lensing
    surveys.
    """
    z = np.asarray(z, dtype=float)
    return z**2 * np.exp(-((z / z0) ** 1.5))


def _check_parameter(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not low < value < high:
        raise ValueError(f"{name} must be in ({low}, {high}), got {value}")
    return float(value)


def _cosmology(omega_m, sigma_8, transfer_function):
    pyccl = _import_ccl()
    return pyccl.Cosmology(
        Omega_c=omega_m - FIXED_PARAMETERS["Omega_b"],
        Omega_b=FIXED_PARAMETERS["Omega_b"],
        h=FIXED_PARAMETERS["h"],
        n_s=FIXED_PARAMETERS["n_s"],
        sigma8=sigma_8,
        transfer_function=transfer_function,
        matter_power_spectrum="halofit",
    )


def _redshifts(redshift, dndz):
    if (redshift is None) != (dndz is None):
        raise ValueError("give both redshift and dndz, or neither")
    if redshift is None:
        redshift = np.linspace(0.0, 3.0, 301)
        return redshift, source_redshift_distribution(redshift)
    redshift = np.asarray(redshift, dtype=float)
    dndz = np.asarray(dndz, dtype=float)
    if redshift.ndim != 1 or redshift.shape != dndz.shape or len(redshift) < 3:
        raise ValueError("redshift and dndz must be 1-d arrays of the same length >= 3")
    if np.any(np.diff(redshift) <= 0) or redshift[0] < 0:
        raise ValueError("redshift must be non-negative and increasing")
    if np.any(dndz < 0) or not dndz.sum() > 0:
        raise ValueError("dndz must be non-negative and not all zero")
    return redshift, dndz


def _empty_beam_shift(cosmo, omega_m, z, nz):
    """Lognormal shift of sources distributed as ``nz`` over ``z``.

    Convergence of an empty beam to a source at chi_s (Hilbert et al. 2011):
    kappa_e = -3/2 Omega_m (H0/c)^2 int_0^chi_s chi (chi_s - chi) / (chi_s a) dchi,
    averaged over n(z). Its magnitude is the shift of the lognormal model.
    """
    pyccl = _import_ccl()
    fine = np.linspace(0.0, z.max(), 2001)
    a = 1.0 / (1.0 + fine)
    chi = pyccl.comoving_radial_distance(cosmo, a)
    step = np.diff(chi)
    first = np.concatenate([[0.0], np.cumsum(step * 0.5 * (chi[1:] / a[1:] + chi[:-1] / a[:-1]))])
    second = np.concatenate(
        [[0.0], np.cumsum(step * 0.5 * (chi[1:] ** 2 / a[1:] + chi[:-1] ** 2 / a[:-1]))]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        integral = np.where(chi > 0, first - second / chi, 0.0)
    h0_over_c = 100 * FIXED_PARAMETERS["h"] / _C_KM_S
    kappa_empty = -1.5 * omega_m * h0_over_c**2 * integral
    weights = np.interp(fine, z, nz)
    return float(-np.sum(weights * kappa_empty) / np.sum(weights))


@functools.lru_cache(maxsize=32)
def _spectrum_and_shift(omega_m, sigma_8, lmax, transfer_function, redshift, dndz):
    """Cached on hashable arguments (tuples for the redshift distribution)."""
    cl, shifts = _tomographic_spectra(omega_m, sigma_8, lmax, transfer_function,
                                      redshift, (dndz,))
    return cl[0, 0], shifts[0]


def _tomographic_spectra(omega_m, sigma_8, lmax, transfer_function, redshift, bins):
    """Auto and cross spectra ``(n_bins, n_bins, lmax + 1)`` and shifts of ``bins``."""
    pyccl = _import_ccl()
    cosmo = _cosmology(omega_m, sigma_8, transfer_function)
    z = np.array(redshift)
    tracers = [pyccl.WeakLensingTracer(cosmo, dndz=(z, np.array(nz))) for nz in bins]
    n_bins = len(bins)
    cl = np.zeros((n_bins, n_bins, lmax + 1))
    ell = np.arange(2, lmax + 1)
    if len(ell):
        for i in range(n_bins):
            for j in range(i, n_bins):
                cl[i, j, 2:] = cl[j, i, 2:] = pyccl.angular_cl(cosmo, tracers[i], tracers[j], ell)
    shifts = np.array([_empty_beam_shift(cosmo, omega_m, z, np.array(nz)) for nz in bins])
    return cl, shifts


def tomographic_bins(n_bins, *, redshift=None, dndz=None, photo_z_scatter=0.05):
    """Split a source distribution into ``n_bins`` bins of equal source count.

    The edges are the quantiles of ``dndz``; each bin's distribution is
    ``dndz`` times the probability that a photometric redshift with a
    Gaussian error of standard deviation ``photo_z_scatter * (1 + z)``
    falls between the edges, so neighbouring bins overlap as in a real
    survey.

    Parameters
    ----------
    n_bins : int
        Number of bins, at least 1.
    redshift, dndz : array-like of shape (n_z,) or None, default=None
        Source redshift distribution (unnormalised); both or neither
        (default: ``source_redshift_distribution`` on ``0 <= z <= 3``).
    photo_z_scatter : float, default=0.05
        Photometric-redshift scatter in units of ``1 + z``; 0 cuts sharply.

    Returns
    -------
    redshift : ndarray of shape (n_z,)
    bins : ndarray of shape (n_bins, n_z)
        The (unnormalised) distribution of each bin; they sum to ``dndz``.

    Examples
    --------
    >>> from skdeepsphere.datasets._cosmology import tomographic_bins
    >>> z, bins = tomographic_bins(3)
    >>> bins.shape
    (3, 301)
    """
    from scipy.special import ndtr

    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    photo_z_scatter = float(photo_z_scatter)
    if not (np.isfinite(photo_z_scatter) and photo_z_scatter >= 0):
        raise ValueError(f"photo_z_scatter must be >= 0, got {photo_z_scatter}")
    z, nz = _redshifts(redshift, dndz)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (nz[1:] + nz[:-1]) * np.diff(z))])
    edges = np.interp(np.linspace(0, 1, n_bins + 1), cumulative / cumulative[-1], z)
    edges[0], edges[-1] = -np.inf, np.inf
    if photo_z_scatter == 0:
        inside = [(z >= low) & (z < high) for low, high in zip(edges[:-1], edges[1:])]
        return z, np.array([nz * w for w in inside])
    scatter = photo_z_scatter * (1 + z)
    probability = np.diff(ndtr((edges[:, None] - z) / scatter), axis=0)
    return z, nz * probability


def ccl_convergence_spectrum(
    omega_m, sigma_8, lmax, *, redshift=None, dndz=None, transfer_function=None
):
    """Convergence power spectrum and lognormal shift of a flat ΛCDM cosmology.

    The weak-lensing convergence :math:`C_\\ell` of sources distributed as
    ``dndz`` over ``redshift`` (default: ``source_redshift_distribution``,
    median redshift 0.7), with a halofit non-linear matter power spectrum
    (Takahashi et al. 2012) on a linear spectrum from the Eisenstein & Hu
    (1998) fit or camb, computed by pyccl in the Limber approximation.
    :math:`\\Omega_b`, :math:`h` and :math:`n_s` are fixed
    (``FIXED_PARAMETERS``).

    Parameters
    ----------
    omega_m : float
        Matter density :math:`\\Omega_m`, in (0.1, 0.6).
    sigma_8 : float
        Amplitude of matter fluctuations :math:`\\sigma_8`, in (0.4, 1.4).
    lmax : int
        Largest multipole.
    redshift, dndz : array-like of shape (n_z,) or None, default=None
        Source redshift distribution (unnormalised); both or neither.
    transfer_function : {"eisenstein_hu", "boltzmann_camb"} or None, default=None
        Linear transfer function; ``None`` uses camb when it is installed
        and the Eisenstein & Hu fit (no extra dependency) otherwise.

    Returns
    -------
    cl : ndarray of shape (lmax + 1,)
        :math:`C_\\ell` of the convergence (dimensionless), zero at
        ``ell < 2``.
    shift : float
        Shift :math:`\\lambda` of the lognormal model: the magnitude of the
        convergence of an empty beam (no matter along the line of sight),
        averaged over the sources. It grows with :math:`\\Omega_m`, so the
        low-:math:`\\Omega_m` cosmology is the more non-Gaussian at equal
        spectrum amplitude.

    Raises
    ------
    ImportError
        If pyccl is not installed.

    Examples
    --------
    >>> from skdeepsphere.datasets import ccl_convergence_spectrum
    >>> cl_a, shift_a = ccl_convergence_spectrum(0.31, 0.82, lmax=1000)
    >>> cl_b, shift_b = ccl_convergence_spectrum(0.26, 0.91, lmax=1000)
    >>> print(f"C_1000 ratio {cl_b[1000] / cl_a[1000]:.3f}, shifts "
    ...       f"{shift_a:.4f} {shift_b:.4f}")  # doctest: +SKIP
    """
    omega_m = _check_parameter("omega_m", omega_m, 0.1, 0.6)
    sigma_8 = _check_parameter("sigma_8", sigma_8, 0.4, 1.4)
    if isinstance(lmax, bool) or not isinstance(lmax, numbers.Integral) or lmax < 0:
        raise ValueError(f"lmax must be a non-negative integer, got {lmax!r}")
    if transfer_function is None:
        transfer_function = default_transfer_function()
    if transfer_function not in _TRANSFER_FUNCTIONS:
        raise ValueError(
            f"transfer_function must be one of {_TRANSFER_FUNCTIONS} or None, "
            f"got {transfer_function!r}"
        )
    z, nz = _redshifts(redshift, dndz)
    cl, shift = _spectrum_and_shift(
        omega_m, sigma_8, int(lmax), transfer_function, tuple(z), tuple(nz)
    )
    return cl.copy(), shift

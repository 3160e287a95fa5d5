"""Simulated weak-lensing convergence maps: a two-cosmology classification
task and a regression task with tomographic channels.

The maps are shifted lognormal fields, the standard cheap stand-in for
ray-traced convergence maps: a Gaussian field ``g`` is drawn from its
angular power spectrum and transformed pixel by pixel into

.. math::

    \\kappa = \\lambda \\left(e^{g - \\sigma_g^2 / 2} - 1\\right),

which has mean zero, is bounded below by :math:`-\\lambda` (the convergence
of an empty line of sight) and has a skewness that grows as the shift
:math:`\\lambda` shrinks. Its correlation function is
:math:`\\xi_\\kappa = \\lambda^2 (e^{\\xi_g} - 1)`, so a target convergence
spectrum is reached exactly by inverting
:math:`\\xi_g = \\ln(1 + \\xi_\\kappa / \\lambda^2)` with Legendre transforms.
"""

import functools
import numbers

import healpy as hp
import numpy as np
from scipy.special import roots_legendre
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from threadpoolctl import threadpool_limits

from ..healpix import check_nside
from ..synthesis import gaussian_map
from ._patches import check_patch_nside, extract_patches

__all__ = ["make_convergence_maps", "make_convergence_regression"]

#: (Omega_m, sigma_8) of the paper's two classes. Both lie on the lensing
#: degeneracy line sigma_8 * Omega_m**_DEGENERACY_EXPONENT = const.
COSMOLOGIES = ((0.31, 0.82), (0.26, 0.91))
_DEGENERACY_EXPONENT = np.log(0.91 / 0.82) / np.log(0.31 / 0.26)  # ~0.59

#: Small-scale kernel (standard deviation, in pixels) applied to the target
#: spectrum before the lognormal transform: it makes the Gaussian spectrum
#: decay within the synthesis band, which the inversion needs to be exact.
_INTRINSIC_SMOOTHING = 0.5
#: The Gaussian field is synthesised up to this multiple of 3 * nside, since
#: the exponential puts power above the band limit of the map.
_BAND_FACTOR = 1.5
#: Up to this nside a spherical harmonic transform takes milliseconds and
#: healpy's OpenMP threads cost more than they save (much more on a loaded
#: machine or under pytest-xdist), so the generators run them serially.
_SERIAL_NSIDE = 128


def _legendre(mu, lmax):
    """Yield ``(ell, P_ell(mu))`` for ``ell = 0 .. lmax`` by recurrence."""
    previous, current = np.ones_like(mu), mu.copy()
    yield 0, previous
    if lmax >= 1:
        yield 1, current
    for ell in range(2, lmax + 1):
        previous, current = current, (
            (2 * ell - 1) * mu * current - (ell - 1) * previous
        ) / ell
        yield ell, current


@functools.lru_cache(maxsize=4)
def _gauss_legendre(n_nodes):
    """Nodes and weights of Gauss-Legendre quadrature (cached, read-only)."""
    nodes, weights = roots_legendre(n_nodes)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


def _spectrum_to_correlation(cl, mu):
    """xi(mu) = sum_ell (2 ell + 1) / (4 pi) C_ell P_ell(mu)."""
    xi = np.zeros_like(mu)
    for ell, legendre in _legendre(mu, len(cl) - 1):
        xi += (2 * ell + 1) / (4 * np.pi) * cl[ell] * legendre
    return xi


def _correlation_to_spectrum(xi, mu, weights, lmax):
    """C_ell = 2 pi int xi(mu) P_ell(mu) dmu, by Gauss-Legendre quadrature."""
    weighted = 2 * np.pi * weights * xi
    return np.array([weighted @ legendre for _, legendre in _legendre(mu, lmax)])


def _pixel_variance(cl):
    ell = np.arange(len(cl))
    return float(np.sum((2 * ell + 1) / (4 * np.pi) * cl))


def convergence_spectrum(nside, lmax):
    """Convergence-like angular power spectrum of unit pixel variance.

    ``C_ell = ell / (ell + 10)**2.4`` (zero for ``ell < 2``), times a
    Gaussian kernel of standard deviation half a pixel. The shape fits to
    within 16 % over ``2 <= ell <= 4000`` the halofit convergence spectrum
    (pyccl, Omega_m = 0.31, sigma_8 = 0.82) of sources distributed as
    ``z**2 exp(-(z / 0.5)**1.5)`` (median redshift 0.7); it is hard-coded so
    that the maps do not depend on optional packages.
    """
    ell = np.arange(lmax + 1, dtype=float)
    cl = np.zeros(lmax + 1)
    cl[2:] = ell[2:] / (ell[2:] + 10.0) ** 2.4
    sigma = _INTRINSIC_SMOOTHING * hp.nside2resol(nside)
    cl *= np.exp(-ell * (ell + 1) * sigma**2)
    return cl / _pixel_variance(cl)


def lognormal_gaussian_spectrum(cl_kappa, shift):
    """Spectrum of the Gaussian field whose shifted lognormal has ``cl_kappa``.

    Negative values (the monopole and dipole, since the convergence has
    none, and round-off at the highest multipoles) are clipped to zero.
    """
    lmax = len(cl_kappa) - 1
    mu, weights = _gauss_legendre(2 * (lmax + 1))
    xi_kappa = _spectrum_to_correlation(cl_kappa, mu)
    xi_gaussian = np.log1p(xi_kappa / shift**2)
    cl = _correlation_to_spectrum(xi_gaussian, mu, weights, lmax)
    return np.clip(cl, 0.0, None)


def _smooth(maps, nside, smoothing):
    """Gaussian kernel of ``smoothing`` pixels (standard deviation)."""
    if smoothing == 0:
        return maps
    sigma = smoothing * hp.nside2resol(nside)
    # One Jacobi iteration of map2alm: the smoothing is the same linear
    # operator for both classes, and more iterations cost more than the
    # rest of the generation at high nside.
    return hp.smoothing(maps, sigma=sigma, lmax=3 * nside - 1, pol=False, iter=1)


def _smoothed_variance(cl, nside, smoothing):
    """Pixel variance of a field of spectrum ``cl`` after :func:`_smooth`."""
    if smoothing == 0:
        return _pixel_variance(cl)
    ell = np.arange(min(3 * nside, len(cl)))
    sigma = smoothing * hp.nside2resol(nside)
    beam = np.exp(-0.5 * ell * (ell + 1) * sigma**2)
    return _pixel_variance(cl[ell] * beam**2)


def _healpy_threads(nside):
    """Context limiting healpy's OpenMP threads to one at small ``nside``."""
    return threadpool_limits(1 if nside <= _SERIAL_NSIDE else None, user_api="openmp")


# Types and ranges of the arguments both generators share; the rules that
# need several arguments (patch_nside <= nside, powers of 2) are checked inside.
_COMMON_CONSTRAINTS = {
    "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
    "nside": [Interval(numbers.Integral, 1, None, closed="left")],
    "noise_level": [Interval(numbers.Real, 0, None, closed="left")],
    "patch_nside": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "nest": ["boolean"],
    "smoothing": [Interval(numbers.Real, 0, None, closed="left")],
    "random_state": ["random_state"],
}


def _check_common(n_samples, nside, noise_level, smoothing, patch_nside, nest):
    nside = check_nside(nside)
    for name, value in (("noise_level", noise_level), ("smoothing", smoothing)):
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite and >= 0, got {value}")
    if patch_nside is not None:
        check_patch_nside(patch_nside, nside)
    return int(n_samples), nside


def _finish(maps, targets, nside, patch_nside, nest):
    """Reorder and cut into patches, shared by both generators."""
    if nest:
        # healpy synthesises in RING; the nested maps are a permutation.
        maps = maps[..., hp.nest2ring(nside, np.arange(maps.shape[-1]))]
    if patch_nside is None:
        return maps, targets
    patches, pixels = extract_patches(maps, patch_nside, nest=nest)
    targets = np.repeat(targets, pixels.shape[0], axis=0)
    return patches, targets, pixels


@validate_params(
    {**_COMMON_CONSTRAINTS, "shifts": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def make_convergence_maps(
    n_samples,
    nside,
    *,
    noise_level=0.0,
    patch_nside=None,
    nest=False,
    shifts=(4.0, 0.8),
    smoothing=1.0,
    random_state=None,
):
    """Full-sky convergence maps of two cosmologies with equal power spectra.

    A stand-in for the weak-lensing maps of the DeepSphere paper, whose two
    cosmologies, :math:`(\\Omega_m, \\sigma_8) = (0.31, 0.82)` (class 0)
    and :math:`(0.26, 0.91)` (class 1), lie on the lensing degeneracy line
    :math:`\\sigma_8 \\Omega_m^{0.59} \\approx` const: their convergence power
    spectra agree, so a power-spectrum classifier is near chance, while the
    higher-order statistics (skewness, peaks, the tail of the histogram)
    differ.

    Each map is a shifted lognormal field
    :math:`\\kappa = \\lambda_c (e^{g - \\sigma_g^2 / 2} - 1)` whose shift
    :math:`\\lambda_c` depends on the class. The shift is the magnitude of
    the convergence of an empty line of sight, which is proportional to
    :math:`\\Omega_m`, so the low-:math:`\\Omega_m` class is the more skewed.
    The Gaussian field ``g`` of each class has its own spectrum, obtained
    by inverting :math:`\\xi_g = \\ln(1 + \\xi_\\kappa / \\lambda_c^2)`
    with Legendre transforms, so both classes have the *same* convergence
    spectrum :math:`C_\\ell \\propto \\ell / (\\ell + 10)^{2.4}` (a fit to a
    halofit convergence spectrum). The maps are then smoothed, as the paper
    smoothed its maps with a 3 arcmin kernel (about one pixel at nside 1024).

    Parameters
    ----------
    n_samples : int
        Number of full-sky maps, split evenly between the two classes
        (class 0 gets the extra map of an odd number), in random order.
    nside : int
        HEALPix resolution, a power of 2 (8 to 1024 are tested; memory
        grows as ``nside**2``).
    noise_level : float, default=0.0
        Standard deviation of the white Gaussian pixel noise added to every
        map, in units of the signal's standard deviation (the signal has
        unit variance in expectation, so this is the noise's standard
        deviation itself). The paper uses levels up to 2.
    patch_nside : int or None, default=None
        If given, every map is cut into its ``12 * patch_nside**2`` nested
        patches with :func:`extract_patches` and the patches are returned as
        samples, as in the paper (which uses ``patch_nside`` 1, 2 and 4).
    nest : bool, default=False
        Ordering of the returned maps and pixel indices: NESTED if True,
        RING (healpy's default) otherwise.
    shifts : tuple of 2 floats, default=(4.0, 0.8)
        The shifts :math:`\\lambda_0, \\lambda_1` of the two classes, in
        units of the standard deviation of the unsmoothed field. Before
        smoothing, a class has minimum :math:`-\\lambda` and skewness
        :math:`3 / \\lambda + 1 / \\lambda^3` (0.77 and 5.7 for the
        defaults). The empty-beam argument gives
        :math:`\\lambda_1 / \\lambda_0 = 0.26 / 0.31 \\approx 0.84`; that
        contrast needs the paper's large patches (65,536 pixels). The
        default contrast is for patches of a few hundred pixels: at
        ``nside=32, patch_nside=2`` and 10 maps per class, a linear SVM on
        100-bin histograms scores about 98 %, 80 % and 59 % at
        ``noise_level`` 0, 1 and 2, and at ``noise_level=2`` smoothing the
        noisy maps first lifts it to about 73 %: the gain a convolutional
        network can learn. A linear SVM on binned power spectra is at
        chance; a kernel SVM gets up to about 75 % (without noise) from the
        larger patch-to-patch scatter of the power of the more
        non-Gaussian class, as the paper's power-spectrum SVM did.
    smoothing : float, default=1.0
        Standard deviation, in pixels (``healpy.nside2resol(nside)``), of
        the Gaussian kernel applied after the lognormal transform; 0 turns
        it off. Smooth signal in white noise is what lets a convolutional
        network beat pixel statistics at high noise.
    random_state : int, RandomState instance or None, default=None
        Seed for the labels, the signal and the noise. The same seed gives
        the same signal maps and the same noise pattern (scaled by
        ``noise_level``) whatever ``noise_level`` is.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, 12 * nside**2)
        The maps. With ``patch_nside``, shape
        ``(n_samples * 12 * patch_nside**2, (nside // patch_nside)**2)`` instead:
        ``X[i * 12 * patch_nside**2 + p]`` is patch ``p`` of map ``i`` (group
        the rows by ``i`` with ``GroupKFold`` to keep a map's patches
        together).
    y : ndarray of int64, shape (n_samples,) or (n_samples * 12 * patch_nside**2,)
        Class of each map (patch): 0 for (0.31, 0.82), 1 for (0.26, 0.91).
    pixels : ndarray of int64, shape (12 * patch_nside**2, (nside // patch_nside)**2)
        Only returned when ``patch_nside`` is given: ``pixels[p]`` are the pixel
        indices of patch ``p`` on the sphere, see :func:`extract_patches`.
        Pass ``pixels=pixels[0], nside=nside, nest=nest`` to the
        estimators: the graph of one patch stands for all of them.

    Raises
    ------
    ValueError
        If ``n_samples < 1``, ``nside`` or ``patch_nside`` is not a power of 2,
        ``patch_nside > nside``, ``noise_level`` or ``smoothing`` is negative, or
        a shift is not positive.

    See Also
    --------
    make_convergence_regression : Maps whose statistics depend continuously
        on two cosmological parameters.
    extract_patches : Cut your own full-sky maps.

    Notes
    -----
    Generation follows ``healpy.synfast`` (draw :math:`a_{\\ell m}`, then
    :func:`healpy.alm2map`), with the :math:`a_{\\ell m}` drawn from
    ``random_state`` for reproducibility and no pixel window. The Gaussian
    field is band-limited at ``1.5 * 3 * nside`` and the target spectrum
    carries an extra half-pixel kernel, which keeps the inversion exact: the
    mean spectra of the two classes agree to better than 1 % in every
    multipole, far below the cosmic variance of one map, while their
    skewness differs by many standard deviations. The noise is
    :math:`n \\sim \\mathcal{N}(0, \\texttt{noise\\_level}^2)` per pixel,
    independent between pixels and maps.

    Examples
    --------
    >>> from skdeepsphere.datasets import make_convergence_maps
    >>> X, y = make_convergence_maps(4, nside=8, random_state=0)
    >>> X.shape, X.dtype, y.tolist()
    ((4, 768), dtype('float32'), [0, 1, 0, 1])
    >>> X, y, pixels = make_convergence_maps(
    ...     4, nside=8, patch_nside=2, noise_level=1.0, random_state=0)
    >>> X.shape, y.shape, pixels.shape
    ((192, 16), (192,), (48, 16))
    """
    n_samples, nside = _check_common(
        n_samples, nside, noise_level, smoothing, patch_nside, nest
    )
    try:
        shifts = tuple(float(shift) for shift in shifts)
    except (TypeError, ValueError):
        raise TypeError(f"shifts must be two positive numbers, got {shifts!r}") from None
    if len(shifts) != 2 or not all(np.isfinite(s) and s > 0 for s in shifts):
        raise ValueError(f"shifts must be two positive numbers, got {shifts!r}")
    random_state = check_random_state(random_state)
    # Independent streams: the signal does not depend on noise_level.
    signal_state, noise_state = (
        np.random.RandomState(seed)
        for seed in random_state.randint(np.iinfo(np.int32).max, size=2)
    )
    y = random_state.permutation(np.arange(n_samples) % 2)

    band = int(_BAND_FACTOR * 3 * nside)
    cl_kappa = convergence_spectrum(nside, band - 1)
    gaussian_cls = [lognormal_gaussian_spectrum(cl_kappa, shift) for shift in shifts]
    scale = 1.0 / np.sqrt(_smoothed_variance(cl_kappa, nside, smoothing))

    npix = hp.nside2npix(nside)
    maps = np.empty((n_samples, npix), dtype=np.float32)
    with _healpy_threads(nside):
        for i, label in enumerate(y):
            cl = gaussian_cls[label]
            gaussian = gaussian_map(cl, nside, signal_state)
            kappa = shifts[label] * np.expm1(gaussian - _pixel_variance(cl) / 2)
            maps[i] = scale * _smooth(kappa, nside, smoothing)
            if noise_level > 0:
                maps[i] += noise_level * noise_state.standard_normal(npix)
    return _finish(maps, y, nside, patch_nside, nest)


def _uniform_or_fixed(name, value, n_samples, random_state):
    """Draw ``n_samples`` values in the range ``value`` or repeat a float."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
        return np.full(n_samples, float(value)), False
    try:
        low, high = (float(bound) for bound in value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a positive number or a (low, high) range, "
            f"got {value!r}"
        ) from None
    if not 0 < low < high:
        raise ValueError(f"{name} range must satisfy 0 < low < high, got {value!r}")
    return random_state.uniform(low, high, n_samples), True


@validate_params(
    {**_COMMON_CONSTRAINTS,
     "n_channels": [Interval(numbers.Integral, 1, None, closed="left")],
     "omega_m": ["array-like", Interval(numbers.Real, None, None, closed="neither")],
     "sigma_8": ["array-like", Interval(numbers.Real, None, None, closed="neither")],
     "shift": [Interval(numbers.Real, 0, None, closed="neither")]},
    prefer_skip_nested_validation=True,
)
def make_convergence_regression(
    n_samples,
    nside,
    *,
    n_channels=2,
    omega_m=(0.2, 0.4),
    sigma_8=(0.6, 1.0),
    noise_level=0.0,
    patch_nside=None,
    nest=False,
    shift=2.0,
    smoothing=1.0,
    random_state=None,
):
    """Tomographic convergence maps whose statistics depend on two parameters.

    A stand-in for DeepSphere's "regression from multiple spherical maps":
    each sample is a set of ``n_channels`` full-sky maps (the convergence in
    tomographic redshift bins) simulated at its own :math:`\\Omega_m` and
    :math:`\\sigma_8`, and the targets are these parameters.

    Bin :math:`b = 0, \\dots, B - 1` (``B = n_channels``) sees the matter of
    the redshift shells :math:`0, \\dots, b`: with independent Gaussian
    shell fields :math:`h_j` of unit variance,
    :math:`g_b = \\sum_{j \\le b} h_j / \\sqrt{b + 1}`, so the bins are
    correlated (:math:`\\mathrm{corr}(g_b, g_{b'}) = \\sqrt{(b+1)/(b'+1)}`
    for :math:`b \\le b'`). Each bin is a shifted lognormal field of
    standard deviation and shift

    .. math::

        \\sigma_b = \\frac{b + 1}{B} \\frac{\\sigma_8}{0.82}
        \\left(\\frac{\\Omega_m}{0.31}\\right)^{0.59}, \\qquad
        \\lambda_b = s \\left(\\frac{b + 1}{B}\\right)^{1.5}
        \\frac{\\Omega_m}{0.31},

    so the amplitude grows with redshift and only constrains the
    degenerate combination :math:`\\sigma_8 \\Omega_m^{0.59}`, while the
    non-Gaussianity :math:`\\sigma_b / \\lambda_b \\propto \\sigma_8
    \\Omega_m^{-0.41}` breaks the degeneracy, as higher-order statistics do
    for real lensing maps. This is a toy law, not a derived one.

    Parameters
    ----------
    n_samples : int
        Number of samples (sets of full-sky maps).
    nside : int
        HEALPix resolution, a power of 2 (16 to 64 keeps it fast).
    n_channels : int, default=2
        Number of tomographic bins.
    omega_m, sigma_8 : (float, float) or float, default=(0.2, 0.4), (0.6, 1.0)
        Range from which the parameter is drawn uniformly for each sample,
        or a fixed value. The ranged parameters are the targets.
    noise_level : float, default=0.0
        Standard deviation of the white Gaussian noise of each bin, in units
        of that bin's signal standard deviation at the fiducial
        :math:`(\\Omega_m, \\sigma_8) = (0.31, 0.82)`; it does not depend
        on the sample's parameters.
    patch_nside : int or None, default=None
        If given, every map is cut into its ``12 * patch_nside**2`` nested
        patches, as in :func:`make_convergence_maps`.
    nest : bool, default=False
        Ordering of the returned maps and pixel indices: NESTED if True,
        RING otherwise.
    shift : float, default=2.0
        :math:`s` above: the shift of the deepest bin at the fiducial
        :math:`\\Omega_m`, in units of its fiducial standard deviation.
    smoothing : float, default=1.0
        Standard deviation, in pixels, of the Gaussian kernel applied to the
        lognormal maps; 0 turns it off.
    random_state : int, RandomState instance or None, default=None
        Seed for the parameters, the signal and the noise.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, n_channels, 12 * nside**2)
        The maps, in units of the fiducial standard deviation of the
        deepest bin (so that bin has about unit variance at the fiducial
        parameters). With ``patch_nside``, shape
        ``(n_samples * 12 * patch_nside**2, n_channels, (nside // patch_nside)**2)``,
        rows grouped by sample as in :func:`make_convergence_maps`.
    y : ndarray of float64, shape (n_samples, n_targets)
        The ranged parameters among ``(omega_m, sigma_8)``, in that order
        (repeated for each patch with ``patch_nside``).
    pixels : ndarray of int64, shape (12 * patch_nside**2, (nside // patch_nside)**2)
        Only returned when ``patch_nside`` is given, see
        :func:`make_convergence_maps`.

    Raises
    ------
    ValueError
        If an argument is out of range, or if both ``omega_m`` and
        ``sigma_8`` are fixed (there would be nothing to predict).

    See Also
    --------
    make_convergence_maps : The two-class version.

    Examples
    --------
    >>> from skdeepsphere.datasets import make_convergence_regression
    >>> X, y = make_convergence_regression(3, nside=8, random_state=0)
    >>> X.shape, X.dtype, y.shape
    ((3, 2, 768), dtype('float32'), (3, 2))
    >>> X, y = make_convergence_regression(
    ...     3, nside=8, n_channels=3, omega_m=0.31, random_state=0)
    >>> X.shape, y.shape
    ((3, 3, 768), (3, 1))
    """
    n_samples, nside = _check_common(
        n_samples, nside, noise_level, smoothing, patch_nside, nest
    )
    if not np.isfinite(shift):
        raise ValueError(f"shift must be positive, got {shift}")
    random_state = check_random_state(random_state)
    signal_state, noise_state = (
        np.random.RandomState(seed)
        for seed in random_state.randint(np.iinfo(np.int32).max, size=2)
    )
    omega, omega_free = _uniform_or_fixed("omega_m", omega_m, n_samples, random_state)
    sigma, sigma_free = _uniform_or_fixed("sigma_8", sigma_8, n_samples, random_state)
    if not (omega_free or sigma_free):
        raise ValueError(
            "omega_m and sigma_8 are both fixed: give at least one a (low, high) range"
        )
    y = np.column_stack(
        [values for values, free in ((omega, omega_free), (sigma, sigma_free)) if free]
    )

    cl = convergence_spectrum(nside, int(_BAND_FACTOR * 3 * nside) - 1)
    scale = 1.0 / np.sqrt(_smoothed_variance(cl, nside, smoothing))
    depth = np.arange(1, n_channels + 1) / n_channels
    amplitude = np.outer(
        sigma / COSMOLOGIES[0][1] * (omega / COSMOLOGIES[0][0]) ** _DEGENERACY_EXPONENT,
        depth,
    )
    shifts = shift * np.outer(omega / COSMOLOGIES[0][0], depth**1.5)
    # Variance of g_b so that the lognormal field has standard deviation sigma_b.
    log_variance = np.log1p((amplitude / shifts) ** 2)

    npix = hp.nside2npix(nside)
    maps = np.empty((n_samples, n_channels, npix), dtype=np.float32)
    with _healpy_threads(nside):
        for i in range(n_samples):
            shells = np.cumsum(
                [gaussian_map(cl, nside, signal_state) for _ in range(n_channels)],
                axis=0,
            )
            for b in range(n_channels):
                g = shells[b] / np.sqrt(b + 1) * np.sqrt(log_variance[i, b])
                kappa = shifts[i, b] * np.expm1(g - log_variance[i, b] / 2)
                maps[i, b] = scale * _smooth(kappa, nside, smoothing)
            if noise_level > 0:
                noise = noise_state.standard_normal((n_channels, npix))
                maps[i] += noise_level * depth[:, None] * noise
    return _finish(maps, y, nside, patch_nside, nest)

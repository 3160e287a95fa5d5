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
import warnings

import healpy as hp
import numpy as np
from scipy.special import roots_legendre
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..healpix import _healpy_threads, check_nside
from ..synthesis import _white_alm, gaussian_map
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
#: Largest relative difference tolerated between a class's lognormal
#: spectrum and the shared target before the generator warns.
_SPECTRUM_RTOL = 1e-3


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
    cl *= _intrinsic_kernel(nside, lmax)
    return cl / _pixel_variance(cl)


def _intrinsic_kernel(nside, lmax):
    """The kernel of ``_INTRINSIC_SMOOTHING`` pixels applied to target spectra."""
    ell = np.arange(lmax + 1)
    return np.exp(-ell * (ell + 1) * (_INTRINSIC_SMOOTHING * hp.nside2resol(nside)) ** 2)


def _lognormal_forward(cl_gaussian, shift, mu, weights):
    """Spectrum of the shifted lognormal of a Gaussian field of ``cl_gaussian``."""
    xi_gaussian = _spectrum_to_correlation(cl_gaussian, mu)
    lmax = len(cl_gaussian) - 1
    return _correlation_to_spectrum(shift**2 * np.expm1(xi_gaussian), mu, weights, lmax)


def lognormal_gaussian_spectrum(cl_kappa, shift, *, lmax_match=None, n_iter=30, rtol=1e-6):
    """Spectrum of the Gaussian field whose shifted lognormal has ``cl_kappa``.

    The direct inversion :math:`\\xi_g = \\ln(1 + \\xi_\\kappa / \\lambda^2)`
    gives a slightly negative monopole (and sometimes dipole and highest
    multipoles), which no field can have; clipping them to zero raises the
    lognormal spectrum at every multipole by a factor that depends on the
    shift (0.2 % for a shift of 0.8), i.e. differently for two classes. The
    clipped spectrum is therefore corrected by fixed-point iterations on the
    target until the exact forward transform matches ``cl_kappa`` to
    ``rtol`` at ``2 <= ell <= lmax_match`` (the multipoles the map
    resolves; above them a lognormal field cannot always be as steep as the
    target). The monopole and dipole are left free: the generators project
    them out of every map.

    Returns
    -------
    cl_gaussian : ndarray
        Same length as ``cl_kappa``.
    mismatch : float
        Largest relative error of the forward spectrum at
        ``2 <= ell <= lmax_match``.
    """
    lmax = len(cl_kappa) - 1
    stop = lmax + 1 if lmax_match is None else lmax_match + 1
    mu, weights = _gauss_legendre(2 * (lmax + 1))
    target = np.array(cl_kappa, dtype=float)
    for _ in range(n_iter):
        xi_kappa = _spectrum_to_correlation(target, mu)
        xi_gaussian = np.log1p(np.maximum(xi_kappa / shift**2, -1 + 1e-12))
        cl = np.clip(_correlation_to_spectrum(xi_gaussian, mu, weights, lmax), 0.0, None)
        forward = _lognormal_forward(cl, shift, mu, weights)
        ratio = cl_kappa[2:stop] / forward[2:stop]
        mismatch = float(np.max(np.abs(1 / ratio - 1)))
        if mismatch < rtol:
            break
        target[2:stop] *= ratio
    return cl, mismatch


@functools.lru_cache(maxsize=8)
def _low_multipole_projector(nside):
    """Least-squares projector onto the monopole and dipole of RING maps.

    Returns ``(basis, pinv)``, basis (npix, 4) = ``[1, x, y, z]`` of the
    pixel centres and its pseudo-inverse. ``Y_00`` and ``Y_1m`` are linear
    in ``(1, x, y, z)`` and healpy's ``map2alm`` (``iter=0``) weighs every
    pixel equally, so a map minus its projection has ``a_00 = a_1m = 0``
    to round-off.
    """
    xyz = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside)))).T
    basis = np.column_stack([np.ones(len(xyz)), xyz])
    pinv = np.linalg.pinv(basis)
    basis.flags.writeable = pinv.flags.writeable = False
    return basis, pinv


def _remove_monopole_dipole(maps, nside):
    """Subtract from each RING map (last axis) its monopole and dipole.

    A convergence map reconstructed from shear has no ``ell < 2`` modes,
    and a lognormal field's monopole and dipole scatter with its shift:
    left in, they tell the classes apart (issue 14).
    """
    basis, pinv = _low_multipole_projector(nside)
    return maps - (maps @ pinv.T) @ basis.T


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


def _check_common(n_samples, nside, noise_level, smoothing, patch_nside, nest):
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise TypeError(f"n_samples must be an integer, got {n_samples!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    nside = check_nside(nside)
    for name, value in (("noise_level", noise_level), ("smoothing", smoothing)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {value!r}")
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {value}")
    if patch_nside is not None:
        check_patch_nside(patch_nside, nside)
    if not isinstance(nest, (bool, np.bool_)):
        raise TypeError(f"nest must be True or False, got {nest!r}")
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


def _ccl_classes(nside, lmax):
    """pyccl spectra (with the half-pixel kernel) and shifts of the two classes."""
    from ._cosmology import ccl_convergence_spectrum

    kernel = _intrinsic_kernel(nside, lmax)
    spectra, shifts = [], []
    for omega_m, sigma_8 in COSMOLOGIES:
        cl, shift = ccl_convergence_spectrum(omega_m, sigma_8, lmax)
        spectra.append(cl * kernel)
        shifts.append(shift)
    return spectra, shifts


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


@validate_params(
    {**_COMMON_CONSTRAINTS, "shifts": ["array-like"],
     "spectra": [StrOptions({"builtin", "ccl"})]},
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
    spectra="builtin",
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
        The shifts :math:`\\lambda_0, \\lambda_1` of the two classes (ignored
        with ``spectra="ccl"``, which sets them from the cosmologies), in
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
    spectra : {"builtin", "ccl"}, default="builtin"
        ``"builtin"``: both classes have *exactly* the same convergence
        spectrum (the hard-coded shape above) and differ only through the
        shift, so every two-point statistic is uninformative by
        construction (a control experiment). ``"ccl"`` (needs pyccl, the
        ``cosmo`` extra): each class has its own halofit spectrum from
        :func:`ccl_convergence_spectrum` for its :math:`(\\Omega_m,
        \\sigma_8)` and the shift of its empty-beam convergence
        (``shifts`` is ignored): the paper's situation, where the spectra
        are close but not identical. With sources at median redshift 0.7
        class 1 has 38 % more power at ``ell = 2``, 26 % at ``ell = 10``,
        0.3-3.2 % at ``100 <= ell <= 1000``, and a shift 11 % smaller
        (0.040 vs 0.045). The maps are in units of the standard deviation
        of class 0 (one factor for both classes), so the amplitude
        difference stays. A full-sky power-spectrum classifier is *not* at
        chance in this mode, as in the paper, and at low ``nside`` the
        maps are nearly Gaussian (pixel skewness about 0.1 at nside 32):
        the non-Gaussian signal of the paper lives at arcminute scales.
        The ccl spectra are flatter than the built-in one at the pixel
        scale, so with ``smoothing=0`` power above ``3 * nside`` aliases
        into the top third of the multipoles.
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
        ``patch_nside > nside``, ``noise_level`` or ``smoothing`` is negative,
        a shift is not positive, or ``spectra`` is unknown.
    ImportError
        If ``spectra="ccl"`` and pyccl is not installed.

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
    carries an extra half-pixel kernel.

    **Equal spectra at every multipole.** Two things would otherwise tell
    the classes apart by their power spectrum alone. (i) A lognormal field
    has a monopole and dipole that scatter with its shift (about 20 times
    more power at ``ell = 0, 1`` in the more skewed class); a convergence
    map reconstructed from shear has no ``ell < 2`` modes, so every signal
    map has its monopole and dipole projected out (pixel-space least
    squares, exact for ``healpy.anafast(iter=0)``). (ii) The Gaussian
    spectrum of the direct inversion has a negative monopole; clipping it
    raises the lognormal spectrum by a shift-dependent factor, so the
    Gaussian spectrum is corrected iteratively until the exact (Legendre)
    forward transform matches the target to :math:`10^{-6}` at
    ``2 <= ell < 3 * nside`` (a ``UserWarning`` says when a shift is too
    small for this). What remains is power the exponential puts above
    ``3 * nside``, aliased by the pixelisation: with 1,500 maps per class
    at ``nside=8`` the highest multipoles of the skewed class are 2-3 %
    higher, a tenth of the cosmic variance of one map. The test suite
    checks every multipole of 200 maps per class against the error bar of
    the class means. The map minimum is then :math:`-\\lambda` up to the
    removed monopole and dipole (a few percent of :math:`\\lambda`). The noise is
    :math:`n \\sim \\mathcal{N}(0, \\texttt{noise\\_level}^2)` per pixel,
    independent between pixels and maps.

    **What differs from the paper's maps.** The paper ray-traced N-body
    simulations (L-PICOLA) at nside 1024 with a 3 arcmin smoothing; here a
    lognormal field stands for them. It reproduces the spectrum (exactly)
    and the one-point skewness approximately, but not the shapes of halos,
    filaments and voids, so peaks and Minkowski functionals carry less
    information than in simulations. The ``"ccl"`` spectra use the Limber
    approximation and halofit, without baryons, intrinsic alignments or
    shape noise other than the white pixel noise of ``noise_level`` (as in
    the paper); the source distribution is one bin of median redshift 0.7.

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
    if not isinstance(spectra, str) or spectra not in ("builtin", "ccl"):
        raise ValueError(f"spectra must be 'builtin' or 'ccl', got {spectra!r}")
    if spectra == "builtin":
        try:
            shifts = tuple(float(shift) for shift in shifts)
        except (TypeError, ValueError):
            raise TypeError(
                f"shifts must be two positive numbers, got {shifts!r}"
            ) from None
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
    if spectra == "builtin":
        cl_kappa = [convergence_spectrum(nside, band - 1)] * 2
    else:
        cl_kappa, shifts = _ccl_classes(nside, band - 1)
    gaussian_cls = []
    for cl_class, shift in zip(cl_kappa, shifts):
        cl, mismatch = lognormal_gaussian_spectrum(cl_class, shift, lmax_match=3 * nside - 1)
        if mismatch > _SPECTRUM_RTOL:
            warnings.warn(
                f"a lognormal field of shift {shift:g} cannot reach the target spectrum "
                f"at nside={nside}: it is off by up to {mismatch:.1%} at some multipole, "
                "so the classes no longer have their intended spectra; use a larger "
                "shift or nside",
                UserWarning,
                stacklevel=2,
            )
        gaussian_cls.append(cl)
    # One scale for both classes: class 0 has unit variance in expectation,
    # and the ccl classes keep their (small) difference in amplitude.
    scale = 1.0 / np.sqrt(_smoothed_variance(cl_kappa[0], nside, smoothing))

    npix = hp.nside2npix(nside)
    maps = np.empty((n_samples, npix), dtype=np.float32)
    with _healpy_threads(nside):
        for i, label in enumerate(y):
            cl = gaussian_cls[label]
            gaussian = gaussian_map(cl, nside, signal_state)
            kappa = shifts[label] * np.expm1(gaussian - _pixel_variance(cl) / 2)
            kappa = _smooth(kappa, nside, smoothing)
            maps[i] = scale * _remove_monopole_dipole(kappa, nside)
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
     "sigma_8": ["array-like", Interval(numbers.Real, None, None, closed="neither"), None],
     "s_8": ["array-like", Interval(numbers.Real, None, None, closed="neither"), None],
     "shift": [Interval(numbers.Real, 0, None, closed="neither"), None],
     "spectra": [StrOptions({"builtin", "ccl"})]},
    prefer_skip_nested_validation=True,
)
def make_convergence_regression(
    n_samples,
    nside,
    *,
    n_channels=2,
    omega_m=(0.2, 0.4),
    sigma_8=None,
    s_8=None,
    noise_level=0.0,
    patch_nside=None,
    nest=False,
    shift=None,
    smoothing=1.0,
    spectra="builtin",
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

    With ``spectra="ccl"`` (needs pyccl, the ``cosmo`` extra) the toy law is
    replaced by the physics: the source distribution of
    :func:`ccl_convergence_spectrum` is split into ``n_channels`` bins of
    equal source count with a photometric-redshift scatter of
    :math:`0.05 (1 + z)` (so neighbouring bins overlap), and for every
    sample pyccl computes the auto and cross convergence spectra of the
    bins (halofit, Limber) and each bin's lognormal shift (the convergence
    of an empty beam) at that sample's :math:`(\\Omega_m, \\sigma_8)`.
    The Gaussian fields are drawn jointly with the cross-spectra that make
    the lognormal bins reach the ccl auto and cross spectra
    (:math:`\\xi_g^{ij} = \\ln(1 + \\xi_\\kappa^{ij} / (\\lambda_i
    \\lambda_j))`, inverted per pair as in :func:`make_convergence_maps`;
    where that matrix is not positive semi-definite at some multipole, its
    negative eigenvalues are set to zero). pyccl takes about 0.5 s per
    sample.

    Parameters
    ----------
    n_samples : int
        Number of samples (sets of full-sky maps).
    nside : int
        HEALPix resolution, a power of 2 (16 to 64 keeps it fast).
    n_channels : int, default=2
        Number of tomographic bins.
    omega_m : (float, float) or float, default=(0.2, 0.4)
        Range from which :math:`\\Omega_m` is drawn uniformly for each
        sample, or a fixed value.
    sigma_8 : (float, float), float or None, default=None
        The same for :math:`\\sigma_8`; ``None`` means ``(0.6, 1.0)``, or,
        with ``s_8``, that :math:`\\sigma_8` follows from ``s_8``.
    s_8 : (float, float), float or None, default=None
        Draw along or across the lensing degeneracy instead of in a box:
        :math:`\\sigma_8 = S_8 / (\\Omega_m / 0.3)^{0.5}` with
        :math:`S_8` fixed (along: the samples differ in :math:`\\Omega_m`
        at nearly equal spectrum amplitude, and only the non-Gaussianity
        tells them apart) or drawn from a range (across, with ``omega_m``
        fixed). Not with ``sigma_8``. The toy amplitude law below uses the
        exponent 0.59 of the paper's two classes, so along :math:`S_8` it
        still varies as :math:`\\Omega_m^{0.09}` (4 % over 0.2-0.4).
        The targets are the parameters among :math:`(\\Omega_m, \\sigma_8)`
        that vary.
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
    shift : float or None, default=None
        :math:`s` above: the shift of the deepest bin at the fiducial
        :math:`\\Omega_m`, in units of its fiducial standard deviation;
        ``None`` means 2.0. Only for ``spectra="builtin"``: the ccl shifts
        follow from the cosmology.
    smoothing : float, default=1.0
        Standard deviation, in pixels, of the Gaussian kernel applied to the
        lognormal maps; 0 turns it off.
    spectra : {"builtin", "ccl"}, default="builtin"
        ``"builtin"``: the toy law above, no extra dependency. ``"ccl"``:
        spectra, cross-spectra and shifts of each sample's cosmology from
        pyccl (see above).
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
    ImportError
        If ``spectra="ccl"`` and pyccl is not installed.

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
    if isinstance(n_channels, bool) or not isinstance(n_channels, numbers.Integral):
        raise TypeError(f"n_channels must be an integer, got {n_channels!r}")
    if n_channels < 1:
        raise ValueError(f"n_channels must be at least 1, got {n_channels}")
    if not isinstance(spectra, str) or spectra not in ("builtin", "ccl"):
        raise ValueError(f"spectra must be 'builtin' or 'ccl', got {spectra!r}")
    if spectra == "ccl" and shift is not None:
        raise ValueError("shift is set by the cosmology with spectra='ccl'; leave it None")
    shift = 2.0 if shift is None else shift
    if isinstance(shift, bool) or not isinstance(shift, numbers.Real):
        raise TypeError(f"shift must be a real number, got {shift!r}")
    if not (np.isfinite(shift) and shift > 0):
        raise ValueError(f"shift must be positive, got {shift}")
    random_state = check_random_state(random_state)
    signal_state, noise_state = (
        np.random.RandomState(seed)
        for seed in random_state.randint(np.iinfo(np.int32).max, size=2)
    )
    omega, omega_free = _uniform_or_fixed("omega_m", omega_m, n_samples, random_state)
    if s_8 is None:
        sigma_8 = (0.6, 1.0) if sigma_8 is None else sigma_8
        sigma, sigma_free = _uniform_or_fixed("sigma_8", sigma_8, n_samples, random_state)
    elif sigma_8 is not None:
        raise ValueError("give sigma_8 or s_8, not both")
    else:
        s8, s8_free = _uniform_or_fixed("s_8", s_8, n_samples, random_state)
        sigma = s8 / np.sqrt(omega / 0.3)
        sigma_free = s8_free or omega_free
    if not (omega_free or sigma_free):
        raise ValueError(
            "omega_m and sigma_8 are both fixed: give at least one a (low, high) range"
        )
    y = np.column_stack(
        [values for values, free in ((omega, omega_free), (sigma, sigma_free)) if free]
    )

    if spectra == "ccl":
        maps = _ccl_tomographic_maps(omega, sigma, n_channels, nside, noise_level, smoothing,
                                     signal_state, noise_state)
        return _finish(maps, y, nside, patch_nside, nest)

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
                kappa = _smooth(kappa, nside, smoothing)
                maps[i, b] = scale * _remove_monopole_dipole(kappa, nside)
            if noise_level > 0:
                noise = noise_state.standard_normal((n_channels, npix))
                maps[i] += noise_level * depth[:, None] * noise
    return _finish(maps, y, nside, patch_nside, nest)


def _correlated_gaussian_maps(cl_matrix, nside, random_state):
    """Gaussian maps of the bins with auto and cross spectra ``cl_matrix``.

    ``cl_matrix`` has shape ``(n_bins, n_bins, lmax + 1)``; at every
    multipole the matrix is made positive semi-definite (negative
    eigenvalues set to zero) and its square root mixes independent
    standard normal a_lm (:func:`~skdeepsphere.synthesis._white_alm`).
    Returns the maps and the spectra actually used.
    """
    n_bins, _, n_ell = cl_matrix.shape
    lmax = n_ell - 1
    values, vectors = np.linalg.eigh(np.moveaxis(cl_matrix, -1, 0))
    root = vectors * np.sqrt(np.clip(values, 0, None))[:, None, :]
    used = np.moveaxis(root @ np.swapaxes(root, 1, 2), 0, -1)
    ell, _ = hp.Alm.getlm(lmax)
    white = _white_alm(lmax, random_state, n_bins) / np.sqrt(2)
    alm = np.einsum("lbc,cl->bl", root[ell], white)
    maps = np.array([hp.alm2map(np.ascontiguousarray(a), nside, lmax=lmax, pol=False)
                     for a in alm])
    return maps, used


def _ccl_tomographic_maps(omega, sigma, n_bins, nside, noise_level, smoothing,
                          signal_state, noise_state):
    """The maps of ``make_convergence_regression(spectra="ccl")``."""
    from ._cosmology import _tomographic_spectra, default_transfer_function, tomographic_bins

    redshift, bins = tomographic_bins(n_bins)
    redshift, bins = tuple(redshift), tuple(tuple(b) for b in bins)
    transfer = default_transfer_function()
    band = int(_BAND_FACTOR * 3 * nside)
    kernel = _intrinsic_kernel(nside, band - 1)

    def spectra(omega_m, sigma_8):
        cl, shifts = _tomographic_spectra(float(omega_m), float(sigma_8), band - 1, transfer,
                                          redshift, bins)
        return cl * kernel, shifts

    # Units: the fiducial standard deviation of the deepest bin; noise of
    # each bin in units of its own fiducial standard deviation.
    fiducial, _ = spectra(*COSMOLOGIES[0])
    fiducial_std = np.sqrt([_smoothed_variance(fiducial[b, b], nside, smoothing)
                            for b in range(n_bins)])
    scale = 1.0 / fiducial_std[-1]
    npix = hp.nside2npix(nside)
    maps = np.empty((len(omega), n_bins, npix), dtype=np.float32)
    worst = 0.0
    with _healpy_threads(nside):
        for i, (omega_m, sigma_8) in enumerate(zip(omega, sigma)):
            cl_kappa, shifts = spectra(omega_m, sigma_8)
            cl_gaussian = np.zeros_like(cl_kappa)
            for a in range(n_bins):
                for b in range(a, n_bins):
                    cl, mismatch = lognormal_gaussian_spectrum(
                        cl_kappa[a, b], np.sqrt(shifts[a] * shifts[b]),
                        lmax_match=3 * nside - 1)
                    cl_gaussian[a, b] = cl_gaussian[b, a] = cl
                    worst = max(worst, mismatch)
            gaussian, used = _correlated_gaussian_maps(cl_gaussian, nside, signal_state)
            for b in range(n_bins):
                variance = _pixel_variance(used[b, b])
                kappa = shifts[b] * np.expm1(gaussian[b] - variance / 2)
                kappa = _smooth(kappa, nside, smoothing)
                maps[i, b] = scale * _remove_monopole_dipole(kappa, nside)
            if noise_level > 0:
                noise = noise_state.standard_normal((n_bins, npix))
                maps[i] += (noise_level * scale * fiducial_std)[:, None] * noise
    if worst > _SPECTRUM_RTOL:
        warnings.warn(
            f"the lognormal bins miss their ccl spectra by up to {worst:.1%} at some "
            f"multipole at nside={nside}; use a larger nside",
            UserWarning,
            stacklevel=3,
        )
    return maps

"""Tests of skdeepsphere.datasets: generators, FITS loader, patches."""

import doctest
import os
import sys

import healpy as hp
import numpy as np
import pytest
from scipy.stats import norm, skew
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from skdeepsphere import datasets
from skdeepsphere.datasets import (
    extract_patches,
    load_healpix_maps,
    ccl_convergence_spectrum,
    load_survey_mask,
    make_convergence_maps,
    make_convergence_regression,
    make_spherical_digits,
)
from skdeepsphere.datasets import _convergence, _digits, _cosmology, _loaders, _masks, _patches
from skdeepsphere.features import HistogramFeatures, PowerSpectrumFeatures
from skdeepsphere.healpix import patch_pixels


@pytest.mark.parametrize("module", [_convergence, _cosmology, _digits, _loaders, _masks, _patches])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_public_api():
    assert sorted(datasets.__all__) == sorted(
        [
            "make_convergence_maps",
            "make_convergence_regression",
            "make_weak_non_gaussian_maps",
            "make_point_source_maps",
            "make_denoising_maps",
            "cmb_spectrum",
            "make_spherical_digits",
            "load_healpix_maps",
            "extract_patches",
            "load_survey_mask",
            "ccl_convergence_spectrum",
        ]
    )


# --- make_convergence_maps ---------------------------------------------------


@pytest.mark.parametrize("nside", [8, 16])
@pytest.mark.parametrize("nest", [False, True])
def test_convergence_maps_shapes(nside, nest):
    X, y = make_convergence_maps(5, nside, nest=nest, random_state=0)
    assert X.shape == (5, 12 * nside**2) and X.dtype == np.float32
    assert y.shape == (5,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [3, 2]
    assert np.isfinite(X).all()


@pytest.mark.parametrize("order", [1, 2, 4])
@pytest.mark.parametrize("nest", [False, True])
def test_convergence_maps_patches(order, nest):
    nside = 8
    full, y_full = make_convergence_maps(3, nside, nest=nest, random_state=1)
    X, y, pixels = make_convergence_maps(3, nside, patch_nside=order, nest=nest, random_state=1)
    n_patches = 12 * order**2
    assert X.shape == (3 * n_patches, (nside // order) ** 2) and X.dtype == np.float32
    np.testing.assert_array_equal(y, np.repeat(y_full, n_patches))
    np.testing.assert_array_equal(pixels, patch_pixels(nside, order, nest=nest))
    # patch p of map i is the map's values at pixels[p]
    np.testing.assert_array_equal(X.reshape(3, n_patches, -1), full[:, pixels])


def test_convergence_maps_nest_is_a_reordering():
    ring, y_ring = make_convergence_maps(2, 8, random_state=3)
    nested, y_nested = make_convergence_maps(2, 8, nest=True, random_state=3)
    np.testing.assert_array_equal(y_ring, y_nested)
    np.testing.assert_array_equal(nested, hp.reorder(ring, r2n=True))


def test_convergence_maps_determinism():
    a, ya = make_convergence_maps(4, 8, random_state=42)
    b, yb = make_convergence_maps(4, 8, random_state=np.random.RandomState(42))
    c, _ = make_convergence_maps(4, 8, random_state=43)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(a, c)


def test_noise_is_scaled_white_noise_on_the_same_signal():
    nside = 16
    clean, y0 = make_convergence_maps(6, nside, random_state=7)
    noisy1, y1 = make_convergence_maps(6, nside, noise_level=1.0, random_state=7)
    noisy2, _ = make_convergence_maps(6, nside, noise_level=2.0, random_state=7)
    np.testing.assert_array_equal(y0, y1)
    noise1 = noisy1.astype(float) - clean
    noise2 = noisy2.astype(float) - clean
    np.testing.assert_allclose(noise2, 2 * noise1, atol=1e-5)
    assert abs(noise1.std() - 1.0) < 0.02
    assert abs(noise1.mean()) < 0.02
    # white: no correlation between neighbouring pixels
    assert abs(np.corrcoef(noise1[:, :-1].ravel(), noise1[:, 1:].ravel())[0, 1]) < 0.02


@pytest.fixture(scope="module")
def two_classes():
    """20 full-sky maps per class at nside 32 (about 2 s)."""
    return make_convergence_maps(40, 32, random_state=1)


def _binned_spectra(maps, nside):
    lmax = 3 * nside - 1
    cl = np.array([hp.anafast(m.astype(float), lmax=lmax) for m in maps])
    edges = np.unique(np.geomspace(2, lmax + 1, 7).astype(int))
    return np.add.reduceat(cl, edges[:-1], axis=1)[:, : len(edges) - 1], edges


def test_power_spectra_agree_within_cosmic_variance(two_classes):
    X, y = two_classes
    nside = 32
    spectra, edges = _binned_spectra(X, nside)
    mean0, mean1 = spectra[y == 0].mean(0), spectra[y == 1].mean(0)
    scatter = spectra.std(0)
    assert np.all(np.abs(mean0 - mean1) < scatter)

    # Both agree with the analytic spectrum (smoothing kernel included).
    lmax = 3 * nside - 1
    band = int(_convergence._BAND_FACTOR * 3 * nside)
    cl = _convergence.convergence_spectrum(nside, band - 1)
    ell = np.arange(lmax + 1)
    beam = np.exp(-0.5 * ell * (ell + 1) * hp.nside2resol(nside) ** 2)
    target = cl[: lmax + 1] * beam**2 / _convergence._smoothed_variance(cl, nside, 1.0)
    target = np.add.reduceat(target, edges[:-1])[: len(edges) - 1]
    for label in (0, 1):
        class_spectra = spectra[y == label]
        error = class_spectra.std(0) / np.sqrt(len(class_spectra))
        assert np.all(np.abs(class_spectra.mean(0) - target) < 3 * error + 0.02 * target)


#: Family-wise false-alarm rate of the statistical tests below: a correct
#: generator fails one of them with probability at most this (for a seed
#: drawn at random; the seeds are fixed, so the tests are deterministic).
FALSE_ALARM = 1e-3


@pytest.mark.parametrize("nside", [8, 16])
def test_class_spectra_agree_at_every_multipole(nside):
    """Per-multipole two-sample z-scores of 200 maps per class, Bonferroni.

    z_ell = (mean_0 - mean_1) / sqrt(s_0^2 / n_0 + s_1^2 / n_1) with the
    empirical scatter of each class (the lognormal spectra scatter more
    than Gaussian cosmic variance). Under equal spectra each z_ell is
    close to N(0, 1) (n = 200); Bonferroni over the 3 nside multipoles
    bounds the family-wise false-alarm rate by FALSE_ALARM whatever the
    correlations between multipoles. The old generator failed at ell = 0
    and 1 with |z| of 9 and 14.
    """
    X, y = make_convergence_maps(400, nside, random_state=0)
    lmax = 3 * nside - 1
    with threadpool_limits(1, user_api="openmp"):  # 100x faster on a busy machine
        cl = np.array([hp.anafast(m.astype(float), lmax=lmax, iter=0) for m in X])
    groups = [cl[y == label] for label in (0, 1)]
    assert [len(g) for g in groups] == [200, 200]
    mean = [g.mean(0) for g in groups]
    error = np.sqrt(sum(g.var(0, ddof=1) / len(g) for g in groups))
    z = (mean[0] - mean[1]) / error
    threshold = norm.isf(FALSE_ALARM / (2 * (lmax + 1)))
    assert np.all(np.abs(z) < threshold), (np.abs(z).argmax(), np.abs(z).max())
    # the monopole and dipole are not just equal but absent (round-off)
    assert np.all(cl[:, :2] < 1e-12 * mean[0][2])
    # and the test has power: every multipole's error bar is below 10 % of
    # the spectrum (a 45 % leak at any one ell fails it)
    assert np.all(error[2:] < 0.1 * mean[0][2:])


def test_psd_linear_svm_is_at_chance_on_full_sky_maps():
    """5-fold accuracy of a linear SVM on power spectra, binomial criterion.

    Under "no information" the number of correct out-of-fold predictions of
    N maps is about Binomial(N, 1/2): the accuracy exceeds
    1/2 + z_{FALSE_ALARM} / (2 sqrt(N)) with probability FALSE_ALARM. The
    histogram SVM on the same maps must clear that bar (the maps do differ).
    """
    nside, n_maps = 8, 400
    X, y = make_convergence_maps(n_maps, nside, random_state=1)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    bar = 0.5 + norm.isf(FALSE_ALARM) / (2 * np.sqrt(n_maps))
    scores = {}
    for name, features in (
        ("psd", PowerSpectrumFeatures(nside=nside)),
        ("histogram", HistogramFeatures(bins=20)),
    ):
        model = make_pipeline(features, StandardScaler(), LinearSVC(max_iter=20000))
        # healpy's OpenMP threads make small transforms 100x slower on a busy machine
        with threadpool_limits(1, user_api="openmp"):
            scores[name] = cross_val_score(model, X, y, cv=folds).mean()
    assert scores["psd"] < bar, scores
    assert scores["histogram"] > bar, scores


def test_higher_order_statistics_differ(two_classes):
    X, y = two_classes
    skewness = skew(X, axis=1)
    s0, s1 = skewness[y == 0], skewness[y == 1]
    # class 1 (smaller shift) is clearly more skewed: every map of it
    assert s1.min() > s0.max()
    assert s1.mean() - s0.mean() > 5 * np.hypot(s0.std(), s1.std()) / np.sqrt(len(s0))
    # and its histogram has a lighter lower tail (bounded by -shift)
    lower_tail = (X < -1.5).mean(axis=1)
    assert lower_tail[y == 0].mean() > 10 * lower_tail[y == 1].mean()
    # both have unit variance in expectation
    np.testing.assert_allclose(X.var(axis=1).mean(), 1.0, atol=0.1)


@pytest.mark.parametrize("shift", [3.0, 1.0])
def test_unsmoothed_skewness_matches_lognormal_theory(shift):
    X, y = make_convergence_maps(
        20, 32, shifts=(shift, shift), smoothing=0.0, random_state=5
    )
    skewness = skew(X, axis=1)
    expected = 3 / shift + 1 / shift**3
    error = skewness.std() / np.sqrt(len(skewness))
    assert abs(skewness.mean() - expected) < 3 * error + 0.02 * expected
    # the field is bounded below by -shift, up to the removed monopole and dipole
    assert X.min() >= -shift * 1.05


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_samples": 0}, ValueError, r"'n_samples' .*range \[1, inf\)\. Got 0"),
        ({"n_samples": 2.5}, TypeError, r"'n_samples' .*int .* Got 2.5"),
        ({"nside": 12}, ValueError, r"nside must be a power of 2 .* got 12"),
        ({"nside": 8.0}, TypeError, r"'nside' .*int .* Got 8.0"),
        ({"noise_level": -1.0}, ValueError, r"'noise_level' .*range \[0.0, inf\)\. Got -1.0"),
        ({"noise_level": np.nan}, ValueError, r"'noise_level' .*Got nan"),
        ({"noise_level": "high"}, TypeError, r"'noise_level' .*float .* Got 'high'"),
        ({"smoothing": -0.5}, ValueError, r"'smoothing' .*Got -0.5"),
        ({"patch_nside": 3}, ValueError, r"patch_nside must be a power of 2 .*got 3"),
        ({"patch_nside": 16}, ValueError, r"patch_nside=16 must not exceed nside=8"),
        ({"patch_nside": 2.0}, TypeError, r"'patch_nside' .*int .* Got 2.0"),
        ({"nest": "yes"}, TypeError, r"'nest' .*must be an instance of 'bool'"),
        ({"shifts": (1.0,)}, ValueError, r"shifts must be two positive numbers, got \(1.0,\)"),
        ({"shifts": (1.0, 0.0)}, ValueError, r"shifts must be two positive .* \(1.0, 0.0\)"),
        ({"shifts": 2.0}, TypeError, r"'shifts' .*must be an array-like\. Got 2.0"),
    ],
)
def test_convergence_maps_rejects_bad_arguments(kwargs, error, match):
    arguments = {"n_samples": 2, "nside": 8, **kwargs}
    with pytest.raises(error, match=match):
        make_convergence_maps(arguments.pop("n_samples"), arguments.pop("nside"), **arguments)


def test_order_error_names_order():
    with pytest.raises(ValueError, match="patch_nside"):
        make_convergence_maps(2, 8, patch_nside=3)


# --- make_convergence_regression ---------------------------------------------


@pytest.mark.parametrize("n_channels", [1, 3])
@pytest.mark.parametrize("order", [None, 2])
def test_regression_shapes(n_channels, order):
    nside = 8
    result = make_convergence_regression(
        4, nside, n_channels=n_channels, patch_nside=order, random_state=0
    )
    X, y = result[:2]
    n_patches = 1 if order is None else 12 * order**2
    n_pixels = 12 * nside**2 // n_patches
    assert X.shape == (4 * n_patches, n_channels, n_pixels) and X.dtype == np.float32
    assert y.shape == (4 * n_patches, 2) and y.dtype == np.float64
    assert np.all((y[:, 0] >= 0.2) & (y[:, 0] <= 0.4))
    assert np.all((y[:, 1] >= 0.6) & (y[:, 1] <= 1.0))
    if order is not None:
        full, y_full = make_convergence_regression(
            4, nside, n_channels=n_channels, random_state=0
        )
        pixels = result[2]
        np.testing.assert_array_equal(y, np.repeat(y_full, n_patches, axis=0))
        np.testing.assert_array_equal(
            X.reshape(4, n_patches, n_channels, -1),
            full[:, :, pixels].transpose(0, 2, 1, 3),
        )


@pytest.mark.parametrize(
    "omega_m, sigma_8, expected",
    [(0.31, (0.7, 0.9), [(0.7, 0.9)]), ((0.25, 0.35), 0.8, [(0.25, 0.35)])],
)
def test_regression_fixed_parameter(omega_m, sigma_8, expected):
    _, y = make_convergence_regression(
        5, 8, omega_m=omega_m, sigma_8=sigma_8, random_state=0
    )
    assert y.shape == (5, 1)
    low, high = expected[0]
    assert np.all((y >= low) & (y <= high))


def test_regression_determinism():
    a, ya = make_convergence_regression(3, 8, random_state=11)
    b, yb = make_convergence_regression(3, 8, random_state=11)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)


@pytest.fixture(scope="module")
def regression_maps():
    return make_convergence_regression(30, 16, n_channels=3, random_state=2)


def test_regression_statistics_follow_the_parameters(regression_maps):
    X, y = regression_maps
    omega_m, sigma_8 = y.T
    deepest = X[:, -1].astype(float)
    # the amplitude measures sigma_8 * omega_m**0.59 ...
    amplitude = sigma_8 / 0.82 * (omega_m / 0.31) ** _convergence._DEGENERACY_EXPONENT
    assert np.corrcoef(deepest.std(axis=1), amplitude)[0, 1] > 0.9
    # ... and the skewness breaks the degeneracy
    non_gaussianity = sigma_8 * omega_m ** (_convergence._DEGENERACY_EXPONENT - 1)
    assert np.corrcoef(skew(deepest, axis=1), non_gaussianity)[0, 1] > 0.7


def test_regression_maps_carry_no_monopole_or_dipole(regression_maps):
    """The targets leak only through the documented statistics.

    The variance (amplitude sigma_8 omega_m^0.59) and the skewness are the
    intended signal; the mean and the dipole of a lognormal map scatter
    with its shift (hence with omega_m), so they are projected out.
    """
    X, _ = regression_maps
    nside = 16
    npix = hp.nside2npix(nside)
    basis = np.column_stack([np.ones(npix), *hp.pix2vec(nside, np.arange(npix))])
    maps = X.reshape(-1, npix).T.astype(float)
    coefficients = np.linalg.lstsq(basis, maps, rcond=None)[0]
    assert np.abs(coefficients).max() < 1e-5 * X.std()


def test_lognormal_spectrum_inversion_matches_an_independent_forward_transform():
    """The Gaussian spectrum's lognormal has the target spectrum at ell >= 2.

    Reference: numpy's Legendre series and scipy's adaptive quadrature,
    xi_kappa = shift^2 (exp(xi_g) - 1), C_ell = 2 pi int xi P_ell dmu.
    """
    from numpy.polynomial import legendre
    from scipy.integrate import quad

    nside = 8
    lmax = int(_convergence._BAND_FACTOR * 3 * nside) - 1
    target = _convergence.convergence_spectrum(nside, lmax)
    for shift in (4.0, 0.8):
        cl_g, mismatch = _convergence.lognormal_gaussian_spectrum(
            target, shift, lmax_match=3 * nside - 1
        )
        assert mismatch < 1e-6
        ell = np.arange(lmax + 1)
        xi_g = legendre.Legendre((2 * ell + 1) / (4 * np.pi) * cl_g)
        for check in (2, 5, 12, 3 * nside - 1):
            p_ell = legendre.Legendre.basis(check)
            value = quad(
                lambda mu: shift**2 * np.expm1(xi_g(mu)) * p_ell(mu), -1, 1, limit=400
            )[0]
            np.testing.assert_allclose(2 * np.pi * value, target[check], rtol=1e-5)


def test_regression_channels_are_correlated_and_grow(regression_maps):
    X, _ = regression_maps
    X = X.astype(float)
    std = X.std(axis=(0, 2))
    assert np.all(np.diff(std) > 0)
    for low, high in [(0, 1), (1, 2), (0, 2)]:
        corr = np.mean([np.corrcoef(m[low], m[high])[0, 1] for m in X])
        # Gaussian correlation sqrt((low + 1) / (high + 1)), a bit less after
        # the lognormal transform
        assert 0.5 * np.sqrt((low + 1) / (high + 1)) < corr <= np.sqrt((low + 1) / (high + 1)) + 0.05


def test_regression_noise_is_relative_to_each_bin():
    clean, _ = make_convergence_regression(4, 16, n_channels=2, random_state=4)
    noisy, _ = make_convergence_regression(
        4, 16, n_channels=2, noise_level=1.0, random_state=4
    )
    noise = noisy.astype(float) - clean
    np.testing.assert_allclose(noise.std(axis=(0, 2)), [0.5, 1.0], rtol=0.03)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_channels": 0}, ValueError, r"'n_channels' .*range \[1, inf\)\. Got 0"),
        ({"n_channels": 1.5}, TypeError, r"'n_channels' .*int .* Got 1.5"),
        ({"omega_m": (0.4, 0.2)}, ValueError, r"omega_m range must satisfy 0 < low < high"),
        ({"omega_m": (0.2,)}, TypeError, r"omega_m must be a positive number or a"),
        ({"omega_m": 0.3, "sigma_8": 0.8}, ValueError, r"omega_m and sigma_8 are both fixed"),
        ({"sigma_8": -0.8}, ValueError, r"sigma_8 must be positive, got -0.8"),
        ({"shift": 0.0}, ValueError, r"'shift' .*range \(0.0, inf\) or None\. Got 0.0"),
        ({"spectra": "camb"}, ValueError, r"'spectra' .*\{.*'ccl'.*\}.* Got 'camb'"),
        ({"spectra": "ccl", "shift": 1.0}, ValueError, r"shift is set by the cosmology"),
        ({"noise_level": -1.0}, ValueError, r"'noise_level' .*range \[0.0, inf\)\. Got -1.0"),
        ({"patch_nside": 16}, ValueError, r"patch_nside=16 must not exceed nside=8"),
    ],
)
def test_regression_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_convergence_regression(2, 8, **kwargs)


def test_correlated_gaussian_maps_have_the_cross_spectra():
    # 40 realisations of two correlated fields (correlation 0.8 at every
    # ell), spectra by healpy.anafast against the input, within the
    # statistical error of the mean over maps and multipoles.
    from skdeepsphere.datasets._convergence import _correlated_gaussian_maps

    nside, lmax = 16, 24
    ell = np.arange(lmax + 1)
    auto = np.zeros(lmax + 1)
    auto[2:] = 1.0 / ell[2:] ** 2
    cl = np.array([[auto, 0.8 * 2 * auto], [0.8 * 2 * auto, 4 * auto]])
    state = np.random.RandomState(0)
    spectra = []
    for _ in range(40):
        maps, used = _correlated_gaussian_maps(cl, nside, state)
        spectra.append(hp.anafast(maps, lmax=lmax, iter=3, pol=False))
    np.testing.assert_allclose(used, cl, atol=1e-12)
    auto_0, auto_1, cross = np.mean(spectra, axis=0)[:, 2:]  # anafast: 00, 11, 01
    for measured, expected in ((auto_0, cl[0, 0]), (cross, cl[0, 1]), (auto_1, cl[1, 1])):
        ratio = measured / expected[2:]
        # Per ell the mean over 40 maps of (2 ell + 1) modes; pooled over ell.
        error = np.sqrt(2 / (40 * np.sum(2 * ell[2:] + 1)))
        assert abs(np.average(ratio, weights=2 * ell[2:] + 1) - 1) < 4 * error


def test_correlated_gaussian_maps_clip_an_impossible_correlation():
    from skdeepsphere.datasets._convergence import _correlated_gaussian_maps

    auto = np.r_[0.0, 0.0, np.ones(7)]
    cl = np.array([[auto, 1.5 * auto], [1.5 * auto, auto]])  # correlation 1.5
    maps, used = _correlated_gaussian_maps(cl, 4, np.random.RandomState(0))
    eigenvalues = np.linalg.eigvalsh(np.moveaxis(used, -1, 0))
    assert eigenvalues.min() > -1e-12
    # The projection keeps the positive eigenvalue: both fields equal.
    np.testing.assert_allclose(used[:, :, 2:], 1.25 * np.ones((2, 2, 7)))
    np.testing.assert_allclose(maps[0], maps[1])


def test_regression_with_ccl_spectra_follows_the_cosmology():
    pytest.importorskip("pyccl")
    X, y = make_convergence_regression(8, 16, n_channels=3, omega_m=0.31,
                                       spectra="ccl", random_state=0)
    assert X.shape == (8, 3, 3072) and y.shape == (8, 1)
    std = X.std(axis=2)
    # Deeper bins see more matter: larger fluctuations; the deepest bin has
    # about unit standard deviation at the fiducial cosmology.
    assert np.all(np.diff(std, axis=1) > 0)
    # The amplitude follows sigma_8 (cosmic variance scatters it by a few %).
    assert np.corrcoef(std[:, 2], y[:, 0])[0, 1] > 0.9
    assert np.all(np.abs(std[:, 2] / (y[:, 0] / 0.82) - 1) < 0.3)
    # Overlapping bins are correlated, neighbours more than distant ones.
    corr = np.corrcoef(X.transpose(1, 0, 2).reshape(3, -1))
    assert 0.5 < corr[0, 2] < corr[1, 2] < 1


# --- load_healpix_maps -------------------------------------------------------


@pytest.fixture
def ring_maps():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, hp.nside2npix(8)))


def _write(path, ring_map, nest):
    """Write a RING map with healpy in the given file ordering."""
    data = hp.reorder(ring_map, r2n=True) if nest else ring_map
    hp.write_map(str(path), data, nest=nest, dtype=np.float64)
    return path


@pytest.mark.parametrize("file_nest", [False, True])
@pytest.mark.parametrize("nest", [False, True])
def test_fits_round_trip(tmp_path, ring_maps, file_nest, nest):
    paths = [
        _write(tmp_path / f"map{i}.fits", m, file_nest) for i, m in enumerate(ring_maps)
    ]
    maps = load_healpix_maps(paths, nest=nest, dtype=np.float64)
    expected = hp.reorder(ring_maps, r2n=True) if nest else ring_maps
    assert maps.shape == (2, hp.nside2npix(8))
    np.testing.assert_array_equal(maps, expected)


def test_fits_mixed_orderings_and_default_dtype(tmp_path, ring_maps):
    paths = [
        str(_write(tmp_path / "ring.fits", ring_maps[0], False)),
        _write(tmp_path / "nest.fits", ring_maps[1], True),
    ]
    maps = load_healpix_maps(paths)
    assert maps.dtype == np.float32
    np.testing.assert_allclose(maps, ring_maps, rtol=1e-6)
    single = load_healpix_maps(paths[0], dtype=np.float64)
    np.testing.assert_array_equal(single, ring_maps[:1])


@pytest.mark.parametrize("nest", [False, True])
@pytest.mark.parametrize("nside_out", [4, 16])
def test_fits_regrade(tmp_path, ring_maps, nest, nside_out):
    path = _write(tmp_path / "map.fits", ring_maps[0], True)
    maps = load_healpix_maps(path, nside=nside_out, nest=nest, dtype=np.float64)
    expected = hp.ud_grade(ring_maps[0], nside_out)
    if nest:
        expected = hp.reorder(expected, r2n=True)
    np.testing.assert_allclose(maps[0], expected)


def test_fits_regrade_mixes_resolutions(tmp_path, ring_maps):
    low = hp.ud_grade(ring_maps[0], 4)
    paths = [
        _write(tmp_path / "high.fits", ring_maps[0], False),
        _write(tmp_path / "low.fits", low, True),
    ]
    with pytest.raises(ValueError, match="low.fits.*nside=4|nside=4"):
        load_healpix_maps(paths)
    maps = load_healpix_maps(paths, nside=4, dtype=np.float64)
    np.testing.assert_allclose(maps, [low, low])


def test_fits_fields_become_channels(tmp_path, ring_maps):
    path = tmp_path / "two.fits"
    hp.write_map(str(path), ring_maps, nest=False, dtype=np.float64)
    for field in [(0, 1), None]:
        maps = load_healpix_maps([path, path], field=field, dtype=np.float64)
        assert maps.shape == (2, 2, hp.nside2npix(8))
        np.testing.assert_array_equal(maps[1], ring_maps)
    second = load_healpix_maps(path, field=1, dtype=np.float64)
    np.testing.assert_array_equal(second, ring_maps[1:])
    with pytest.raises(ValueError, match="two.fits"):
        load_healpix_maps(path, field=5)


def test_fits_unseen_becomes_nan(tmp_path, ring_maps):
    masked = ring_maps[0].copy()
    masked[:10] = hp.UNSEEN
    path = _write(tmp_path / "masked.fits", masked, False)
    maps = load_healpix_maps(path, dtype=np.float64)
    assert np.isnan(maps[0, :10]).all()
    np.testing.assert_array_equal(maps[0, 10:], masked[10:])


def test_fits_partial_sky_and_column_names(tmp_path):
    nside = 16
    ring = np.arange(hp.nside2npix(nside), dtype=float)
    ring[1000:] = hp.UNSEEN
    path = tmp_path / "partial.fits"
    hp.write_map(str(path), [ring, 2 * ring], partial=True, column_names=["A", "B"])
    maps = load_healpix_maps(path, field="B", nest=True, dtype=np.float64)
    expected = hp.reorder(np.where(ring == hp.UNSEEN, np.nan, 2 * ring), r2n=True)
    np.testing.assert_array_equal(maps[0], expected)


def test_fits_errors_name_the_file(tmp_path, ring_maps):
    missing = tmp_path / "missing.fits"
    with pytest.raises(FileNotFoundError, match="missing.fits"):
        load_healpix_maps(missing)
    garbage = tmp_path / "garbage.fits"
    garbage.write_text("not a FITS file")
    with pytest.raises(ValueError, match="garbage.fits"):
        load_healpix_maps(garbage)
    odd = tmp_path / "odd.fits"
    hp.write_map(str(odd), np.zeros(hp.nside2npix(3)))
    with pytest.raises(ValueError, match="odd.fits"):
        load_healpix_maps(odd)
    with pytest.raises(ValueError, match="at least one"):
        load_healpix_maps([])
    good = _write(tmp_path / "good.fits", ring_maps[0], False)
    with pytest.raises(ValueError, match="power of 2"):
        load_healpix_maps(good, nside=6)
    with pytest.raises(TypeError, match="'nest' parameter of load_healpix_maps must be"):
        load_healpix_maps(good, nest="ring")
    with pytest.raises(TypeError, match="field must be an int, a column name, .* got 1.5"):
        load_healpix_maps(good, field=1.5)


# --- extract_patches ---------------------------------------------------------


@pytest.mark.parametrize("nside, order", [(8, 1), (8, 4), (16, 2), (8, 8)])
@pytest.mark.parametrize("nest", [False, True])
def test_patches_reassemble_the_map(nside, order, nest):
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((3, hp.nside2npix(nside))).astype(np.float32)
    patches, pixels = extract_patches(maps, order, nest=nest)
    n_patches = 12 * order**2
    assert patches.shape == (3 * n_patches, (nside // order) ** 2)
    assert patches.dtype == np.float32 and pixels.dtype == np.int64
    rebuilt = np.full_like(maps, np.nan)
    rebuilt[:, pixels] = patches.reshape(3, n_patches, -1)
    np.testing.assert_array_equal(rebuilt, maps)


@pytest.mark.parametrize("nest", [False, True])
def test_patch_pixels_lie_in_their_base_pixel(nest):
    nside, order = 16, 2
    _, pixels = extract_patches(np.zeros(hp.nside2npix(nside)), order, nest=nest)
    theta, phi = hp.pix2ang(nside, pixels, nest=nest)
    parent = hp.ang2pix(order, theta, phi, nest=True)
    np.testing.assert_array_equal(parent, np.repeat(np.arange(48)[:, None], 64, axis=1))


def test_patches_keep_channels_and_nan():
    nside, order = 8, 2
    rng = np.random.default_rng(1)
    maps = rng.standard_normal((2, 3, hp.nside2npix(nside)))
    maps[0, 1, 5] = np.nan
    patches, pixels = extract_patches(maps, order)
    assert patches.shape == (2 * 48, 3, 16)
    np.testing.assert_array_equal(patches[48 + 7], maps[1][:, pixels[7]])
    assert np.isnan(patches).sum() == 1
    single, _ = extract_patches(maps[0, 0], order)
    np.testing.assert_array_equal(single, extract_patches(maps[:1, 0], order)[0])
    integer, _ = extract_patches(np.arange(hp.nside2npix(nside)), order)
    assert integer.dtype == np.float64


@pytest.mark.parametrize(
    "maps, order, error, match",
    [
        (np.zeros(768), 3, ValueError, r"patch_nside must be a power of 2 .*got 3"),
        (np.zeros(768), 16, ValueError, r"patch_nside=16 must not exceed nside=8"),
        (np.zeros(768), 2.0, TypeError, r"'patch_nside' .*extract_patches must be an int"),
        (np.zeros(700), 2, ValueError, r"700 pixels is not a full HEALPix sky"),
        (np.zeros((1, 1, 1, 768)), 2, ValueError, r"got an array of shape \(1, 1, 1, 768\)"),
    ],
)
def test_patches_reject_bad_arguments(maps, order, error, match):
    with pytest.raises(error, match=match):
        extract_patches(maps, order)


# --- make_spherical_digits ---------------------------------------------------


def test_spherical_digits_shapes_labels_determinism():
    from sklearn.datasets import load_digits

    X, y = make_spherical_digits(nside=8, random_state=0)
    assert X.shape == (1797, 768) and X.dtype == np.float32
    np.testing.assert_array_equal(y, load_digits().target)
    again, _ = make_spherical_digits(nside=8, random_state=0)
    np.testing.assert_array_equal(X, again)
    other, _ = make_spherical_digits(nside=8, random_state=1)
    assert not np.allclose(X, other)
    assert 0 <= X.min() and X.max() <= 1


def test_spherical_digits_projection_matches_pointwise_reference():
    """Reference: the stereographic projection written per pixel, scalar code."""
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 5, 7))
    nside, extent = 8, 1.2
    X, labels = make_spherical_digits(images, nside=nside, rotate=False, extent=extent,
                                      nest=True)
    assert labels is None
    for pixel in rng.choice(hp.nside2npix(nside), 60, replace=False):
        theta, phi = hp.pix2ang(nside, pixel, nest=True)
        radius = 2 * np.tan(theta / 2)
        x, y = radius * np.cos(phi), radius * np.sin(phi)
        column = (x + extent) / (2 * extent) * 7 - 0.5
        row = (extent - y) / (2 * extent) * 5 - 0.5
        for image, projected in zip(images, X):
            padded = np.pad(image, 1)  # zero outside the image
            r, c = row + 1, column + 1
            if theta > np.pi / 2 or not (0 <= r < 6 and 0 <= c < 8):
                expected = 0.0
            else:
                r0, c0 = int(np.floor(r)), int(np.floor(c))
                dr, dc = r - r0, c - c0
                expected = ((1 - dr) * (1 - dc) * padded[r0, c0]
                            + (1 - dr) * dc * padded[r0, c0 + 1]
                            + dr * (1 - dc) * padded[r0 + 1, c0]
                            + dr * dc * padded[r0 + 1, c0 + 1])
            np.testing.assert_allclose(projected[pixel], expected, atol=1e-6)


def some_digits(n=100):
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images[:n] / 16, digits.target[:n]


def test_spherical_digits_unrotated_lie_on_the_northern_hemisphere():
    X, _ = make_spherical_digits(*some_digits(), nside=16, rotate=False)
    theta, _ = hp.pix2ang(16, np.arange(hp.nside2npix(16)))
    assert np.all(X[:, theta > np.pi / 2] == 0)
    assert np.all(X[:, theta < np.pi / 2].sum(axis=1) > 0)
    # the digits' centre of mass is near the north pole
    z = np.cos(theta)
    assert np.mean(X @ z / X.sum(axis=1)) > 0.6


def test_spherical_digits_rotations_can_be_undone():
    from skdeepsphere.rotation import rotate_maps

    images, labels = some_digits()
    flat, y = make_spherical_digits(images, labels, nside=16, rotate=False)
    rotated, y_rotated, R = make_spherical_digits(images, labels, nside=16, random_state=0,
                                                  return_rotations=True)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(y_rotated, labels)
    assert R.shape == (100, 3, 3)
    back = rotate_maps(rotated, R.transpose(0, 2, 1))
    error = np.linalg.norm(back - flat) / np.linalg.norm(flat)
    assert error < 0.15
    assert np.linalg.norm(rotated - flat) / np.linalg.norm(flat) > 0.8
    _, _, identity = make_spherical_digits(images, nside=8, rotate=False,
                                           return_rotations=True)
    np.testing.assert_array_equal(identity, np.broadcast_to(np.eye(3), (100, 3, 3)))


def test_spherical_digits_bad_input():
    with pytest.raises(ValueError, match="images must have shape"):
        make_spherical_digits(np.zeros((3, 8)), nside=8)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        make_spherical_digits(np.zeros((3, 8, 8)), np.zeros(2), nside=8)
    with pytest.raises(ValueError, match="NaN"):
        make_spherical_digits(np.full((1, 2, 2), np.nan), nside=8)
    with pytest.raises(ValueError, match=r"'extent' parameter of make_spherical_digits must be "
                                         r"a float in the range \(0.0, inf\)"):
        make_spherical_digits(np.zeros((1, 2, 2)), nside=8, extent=0)
    with pytest.raises(ValueError, match="power of 2"):
        make_spherical_digits(nside=12)


# --- load_survey_mask ----------------------------------------------------------

WMAP_MASK = "/usr/share/healpy/test/data/wmap_temperature_analysis_mask_r9_7yr_v4_udgraded32.fits"
needs_wmap = pytest.mark.skipif(
    not os.path.isfile(WMAP_MASK), reason="Debian's healpy-data is not installed"
)


@pytest.mark.parametrize("survey", ["des", "decals"])
def test_survey_mask_matches_matplotlib_rasterisation(survey):
    """Pixel centres inside the skyproj outline, against matplotlib's Path."""
    pytest.importorskip("skyproj")
    path_module = pytest.importorskip("matplotlib.path")
    from skyproj.utils import get_datafile

    nside = 32
    mask = load_survey_mask(survey, nside)
    lon, lat = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    expected = np.zeros_like(mask)
    data = np.loadtxt(get_datafile(_masks._SKYPROJ_FILES[survey]), ndmin=2)
    labels = data[:, 2] if data.shape[1] > 2 else np.zeros(len(data))
    for label in np.unique(labels):
        vertices = data[labels == label, :2]
        start = vertices[:, 0].min()
        points = np.column_stack([(lon - start) % 360 + start, lat])
        expected |= path_module.Path(vertices).contains_points(points)
    # pixel centres on an edge (DES has edges along rings of constant
    # latitude) may go either way: at most 1 % of the footprint
    assert np.count_nonzero(mask != expected) <= 0.01 * mask.sum()
    assert mask.sum() > 0.05 * mask.size


def test_survey_mask_des_area_and_nest():
    pytest.importorskip("skyproj")
    ring = load_survey_mask("des", 64)
    nested = load_survey_mask("des", 64, nest=True)
    np.testing.assert_array_equal(nested[hp.ring2nest(64, np.arange(ring.size))], ring)
    # the DES wide field is about 5,000 deg²
    area = ring.mean() * 4 * np.pi * (180 / np.pi) ** 2
    assert 4800 < area < 5300


@needs_wmap
def test_wmap_mask_is_the_file_read_independently():
    from astropy.io import fits

    with fits.open(WMAP_MASK) as hdus:
        column = np.asarray(hdus[1].data["I_STOKES"], dtype=float).ravel()
    np.testing.assert_array_equal(load_survey_mask("wmap", 32), column > 0.5)
    coarse = load_survey_mask("wmap", 16)
    np.testing.assert_array_equal(coarse, hp.ud_grade(column, 16) > 0.5)
    assert 0.55 < column.mean() < 0.7


def test_wmap_mask_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="healpy-data"):
        load_survey_mask("wmap", 32, directory=tmp_path)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"survey": "sdss"}, ValueError, "survey must be one of"),
        ({"survey": "des", "nside": 12}, ValueError, "nside"),
        ({"survey": "des", "nest": 1}, TypeError, "nest"),
        ({"survey": "des", "directory": "."}, ValueError, "directory"),
    ],
)
def test_survey_mask_rejects_bad_arguments(kwargs, error, match):
    arguments = {"nside": 16, **kwargs}
    with pytest.raises(error, match=match):
        load_survey_mask(arguments.pop("survey"), arguments.pop("nside"), **arguments)


@pytest.mark.parametrize("survey", ["des", pytest.param("wmap", marks=needs_wmap)])
def test_estimator_trains_on_an_irregular_footprint(survey):
    """Partial-sky training from a real mask, not a union of base pixels."""
    if survey != "wmap":
        pytest.importorskip("skyproj")
    from skdeepsphere import SphericalCNNClassifier

    nside = 16
    pixels = np.flatnonzero(load_survey_mask(survey, nside, nest=True))
    X, y = make_convergence_maps(4, nside, nest=True, random_state=0)
    model = SphericalCNNClassifier(
        nside=nside, pixels=pixels, nest=True, architecture="fcn", channels=(4, 4),
        max_epochs=1, batch_size=4, random_state=0,
    ).fit(X[:, pixels], y)
    assert model.predict(X[:, pixels]).shape == (4,)
    with threadpool_limits(1, user_api="openmp"):
        features = PowerSpectrumFeatures(nside=nside, pixels=pixels, nest=True).fit(
            X[:, pixels]
        )
    assert features.transform(X[:, pixels]).shape[0] == 4


# --- spectra="ccl" ---------------------------------------------------------------


def test_ccl_spectra_without_pyccl_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyccl", None)  # import pyccl raises
    with pytest.raises(ImportError, match=r"skdeepsphere\[cosmo\]"):
        make_convergence_maps(2, 8, spectra="ccl", random_state=0)
    # the built-in spectra do not need it
    assert make_convergence_maps(2, 8, random_state=0)[0].shape == (2, 768)


def test_ccl_spectra_of_the_paper_cosmologies():
    """The numbers quoted in make_convergence_maps' docstring."""
    pytest.importorskip("pyccl")
    cl0, shift0 = ccl_convergence_spectrum(0.31, 0.82, 1000, transfer_function="eisenstein_hu")
    cl1, shift1 = ccl_convergence_spectrum(0.26, 0.91, 1000, transfer_function="eisenstein_hu")
    ratio = cl1 / np.where(cl0 > 0, cl0, 1)
    assert abs(ratio[2] - 1.38) < 0.01 and abs(ratio[10] - 1.26) < 0.01
    assert np.all((ratio[100:] > 1.003) & (ratio[100:] < 1.033))
    assert round(shift0, 3) == 0.045 and round(shift1, 3) == 0.040
    # S_8 = sigma_8 (Omega_m / 0.3)^0.5 is nearly the same
    assert abs(0.82 * (0.31 / 0.3) ** 0.5 / (0.91 * (0.26 / 0.3) ** 0.5) - 1) < 0.02


def test_ccl_empty_beam_shift_matches_astropy():
    """|kappa_empty| averaged over n(z), with astropy distances and scipy quad."""
    pytest.importorskip("pyccl")
    from astropy.cosmology import FlatLambdaCDM
    from scipy.integrate import quad

    omega_m, h = 0.31, _cosmology.FIXED_PARAMETERS["h"]
    cosmo = FlatLambdaCDM(H0=100 * h, Om0=omega_m, Tcmb0=0)
    z = np.linspace(0.0, 3.0, 61)
    nz = _cosmology.source_redshift_distribution(z)

    def empty_beam(z_source):
        chi_s = cosmo.comoving_distance(z_source).value

        def integrand(z_lens):
            chi = cosmo.comoving_distance(z_lens).value
            dchi_dz = 299792.458 / cosmo.H(z_lens).value
            return chi * (chi_s - chi) / chi_s * (1 + z_lens) * dchi_dz

        return 1.5 * omega_m * (100 * h / 299792.458) ** 2 * quad(integrand, 0, z_source)[0]

    kappa = [empty_beam(z_source) if z_source > 0 else 0.0 for z_source in z]
    expected = np.trapezoid(nz * kappa, z) / np.trapezoid(nz, z)
    _, shift = ccl_convergence_spectrum(omega_m, 0.82, 10, transfer_function="eisenstein_hu")
    # pyccl includes radiation and massless neutrinos, astropy here does not
    np.testing.assert_allclose(shift, expected, rtol=0.02)


def test_ccl_maps_follow_their_own_spectra():
    """Class-mean spectra of the ccl maps against pyccl's (per-ell z-scores).

    Up to ell = 2 nside: above, the unsmoothed maps carry power aliased
    from ell >= 3 nside (documented).
    """
    pytest.importorskip("pyccl")
    nside = 8
    X, y = make_convergence_maps(200, nside, spectra="ccl", smoothing=0.0, random_state=0)
    lmax = 2 * nside
    with threadpool_limits(1, user_api="openmp"):
        cl = np.array([hp.anafast(m.astype(float), lmax=lmax, iter=0) for m in X])
    spectra, _ = _convergence._ccl_classes(nside, int(_convergence._BAND_FACTOR * 3 * nside) - 1)
    scale = 1 / _convergence._pixel_variance(spectra[0])
    threshold = norm.isf(FALSE_ALARM / (4 * (lmax - 1)))
    for label in (0, 1):
        group = cl[y == label, 2:]
        z = (group.mean(0) - scale * spectra[label][2 : lmax + 1]) / (
            group.std(0, ddof=1) / np.sqrt(len(group))
        )
        assert np.all(np.abs(z) < threshold), (label, z)
    # and the classes differ at low ell, as pyccl says (38 % more at ell = 2)
    low = cl[:, 2:6].sum(1)
    assert low[y == 1].mean() > 1.15 * low[y == 0].mean()


def test_ccl_spectra_rejects_bad_arguments():
    pytest.importorskip("pyccl")
    with pytest.raises(ValueError, match="omega_m"):
        ccl_convergence_spectrum(0.05, 0.8, 10)
    with pytest.raises(ValueError, match="transfer_function"):
        ccl_convergence_spectrum(0.3, 0.8, 10, transfer_function="bbks")
    with pytest.raises(ValueError, match="both redshift and dndz"):
        ccl_convergence_spectrum(0.3, 0.8, 10, redshift=[0, 1, 2])
    with pytest.raises(ValueError, match="'spectra' parameter of make_convergence_maps must be"):
        make_convergence_maps(2, 8, spectra="camb")


@pytest.mark.parametrize(
    "kwargs, n_targets",
    [({"s_8": 0.83}, 2), ({"omega_m": 0.3, "s_8": (0.7, 0.9)}, 1)],
)
def test_regression_draws_along_and_across_the_degeneracy(kwargs, n_targets):
    X, y = make_convergence_regression(40, 8, random_state=0, **kwargs)
    assert y.shape == (40, n_targets)
    if n_targets == 2:  # along: S_8 is the same for every sample
        omega_m, sigma_8 = y.T
        np.testing.assert_allclose(sigma_8 * np.sqrt(omega_m / 0.3), 0.83)
        assert omega_m.std() > 0.04
    else:  # across: sigma_8 (= S_8 at Omega_m = 0.3) spans the range
        assert 0.7 <= y.min() < 0.72 and 0.88 < y.max() <= 0.9
    with pytest.raises(ValueError, match="sigma_8 or s_8"):
        make_convergence_regression(2, 8, sigma_8=0.8, s_8=0.8)

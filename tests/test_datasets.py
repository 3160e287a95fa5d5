"""Tests of skdeepsphere.datasets: generators, FITS loader, patches."""

import doctest

import healpy as hp
import numpy as np
import pytest
from scipy.stats import skew

from skdeepsphere import datasets
from skdeepsphere.datasets import (
    extract_patches,
    load_healpix_maps,
    make_convergence_maps,
    make_convergence_regression,
    make_spherical_digits,
)
from skdeepsphere.datasets import _convergence, _digits, _loaders, _patches
from skdeepsphere.healpix import patch_pixels


@pytest.mark.parametrize("module", [_convergence, _digits, _loaders, _patches])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_public_api():
    assert sorted(datasets.__all__) == sorted(
        [
            "make_convergence_maps",
            "make_convergence_regression",
            "make_spherical_digits",
            "load_healpix_maps",
            "extract_patches",
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
    # the field is bounded below by -shift
    assert X.min() >= -shift * 1.001


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
        ({"shift": 0.0}, ValueError, r"'shift' .*range \(0.0, inf\)\. Got 0.0"),
        ({"noise_level": -1.0}, ValueError, r"'noise_level' .*range \[0.0, inf\)\. Got -1.0"),
        ({"patch_nside": 16}, ValueError, r"patch_nside=16 must not exceed nside=8"),
    ],
)
def test_regression_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_convergence_regression(2, 8, **kwargs)


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

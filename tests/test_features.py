import pickle

import healpy as hp
import numpy as np
import pytest
from joblib import parallel_config
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import (check_get_feature_names_out_error,
                                            check_global_output_transform_pandas,
                                            check_set_output_transform,
                                            check_set_output_transform_pandas,
                                            check_transformer_get_feature_names_out,
                                            check_transformer_get_feature_names_out_pandas,
                                            parametrize_with_checks)

from skdeepsphere import HistogramFeatures, PowerSpectrumFeatures
from skdeepsphere.healpix import patch_pixels
from tabular import TabularPowerSpectrumFeatures


def gaussian_maps(cl, nside, n_maps, seed):
    """Gaussian RING maps with power spectrum ``cl``, from a seeded generator.

    healpy.synalm draws from numpy's global state; this draws the a_lm
    directly: real with variance C_ell for m = 0, complex with variance
    C_ell / 2 per part for m > 0.
    """
    rng = np.random.default_rng(seed)
    lmax = len(cl) - 1
    ell, m = hp.Alm.getlm(lmax)
    scale = np.sqrt(np.where(m == 0, cl[ell], cl[ell] / 2))
    maps = []
    for _ in range(n_maps):
        alm = rng.standard_normal(ell.size) + 1j * rng.standard_normal(ell.size)
        alm.imag[m == 0] = 0
        maps.append(hp.alm2map(alm * scale, nside, lmax=lmax))
    return np.array(maps)


def white_maps(nside, n_maps, seed=0, n_channels=None):
    shape = (n_maps, hp.nside2npix(nside))
    if n_channels is not None:
        shape = (n_maps, n_channels, shape[1])
    return np.random.default_rng(seed).standard_normal(shape)


def mask_pixels(maps, fraction, value, seed=0):
    """Copy of ``maps`` with a random ``fraction`` of pixels set to ``value``."""
    masked = maps.copy()
    masked[np.random.default_rng(seed).random(maps.shape) < fraction] = value
    return masked


def anafast_masked(map1, map2=None, lmax=None):
    """Reference pseudo-spectrum: healpy on UNSEEN-filled maps over f_sky."""
    maps = [map1] if map2 is None else [map1, map2]
    observed = np.logical_and.reduce([~hp.mask_bad(m) for m in maps])
    cl = hp.anafast(map1, map2, lmax=lmax, iter=0)
    return cl * observed.size / observed.sum()


# HistogramFeatures ---------------------------------------------------------


@pytest.mark.parametrize("bins", [1, 7, 30])
@pytest.mark.parametrize("density", [False, True])
def test_histogram_matches_numpy_with_range(bins, density):
    maps = white_maps(4, n_maps=3)
    histogram = HistogramFeatures(bins, range=(-1.5, 2.0), density=density, clip=False)
    features = histogram.fit_transform(maps)
    expected = [
        np.histogram(m, bins, range=(-1.5, 2.0), density=density)[0] for m in maps
    ]
    np.testing.assert_allclose(features, expected)


@pytest.mark.parametrize("clip", [False, True])
def test_histogram_values_on_edges_match_numpy(clip):
    """Values on the edges: half-open bins, the last closed on the right
    (numpy.histogram), with learned and explicit edges."""
    maps = np.random.default_rng(0).integers(0, 5, size=(3, hp.nside2npix(2))).astype(float)
    edges = [0.0, 1.0, 2.0, 3.0, 4.0]
    for histogram in [HistogramFeatures(edges, density=False, clip=clip),
                      HistogramFeatures(4, quantile_range=(0, 100), density=False, clip=clip)]:
        features = histogram.fit_transform(maps)
        np.testing.assert_allclose(histogram.bin_edges_[0], edges)
        expected = [np.histogram(m, edges)[0] for m in maps]
        np.testing.assert_array_equal(features, expected)
        assert features.sum(axis=1).tolist() == [maps.shape[1]] * 3


@pytest.mark.parametrize("quantile_range", [(0, 100), (5, 95)])
def test_histogram_learns_edges_on_training_maps(quantile_range):
    train, test = white_maps(8, n_maps=4, seed=0), 3 * white_maps(8, n_maps=2, seed=1)
    histogram = HistogramFeatures(12, quantile_range=quantile_range, density=False)
    histogram.fit(train)
    lower, upper = np.percentile(train, quantile_range)
    np.testing.assert_allclose(histogram.bin_edges_, [np.linspace(lower, upper, 13)])
    # Test maps use the training edges; clip puts their tails in the outer bins.
    expected = [
        np.histogram(np.clip(m, lower, upper), histogram.bin_edges_[0])[0] for m in test
    ]
    np.testing.assert_array_equal(histogram.transform(test), expected)
    histogram.set_params(clip=False)
    expected = [np.histogram(m, histogram.bin_edges_[0])[0] for m in test]
    np.testing.assert_array_equal(histogram.transform(test), expected)


def test_histogram_explicit_edges_and_channels():
    maps = white_maps(4, n_maps=3, n_channels=2)
    maps[:, 1] = 1 + 2 * maps[:, 1]
    edges = [-3.0, -1.0, 0.0, 0.5, 4.0]
    features = HistogramFeatures(edges, density=True, clip=False).fit_transform(maps)
    expected = [
        np.concatenate([np.histogram(channel, edges, density=True)[0] for channel in m])
        for m in maps
    ]
    np.testing.assert_allclose(features, expected)

    # Learned edges are per channel.
    histogram = HistogramFeatures(5, quantile_range=(0, 100)).fit(maps)
    np.testing.assert_allclose(
        histogram.bin_edges_[:, [0, -1]],
        [[maps[:, 0].min(), maps[:, 0].max()], [maps[:, 1].min(), maps[:, 1].max()]],
    )
    assert list(histogram.get_feature_names_out()[[0, 5]]) == [
        "ch0_hist_bin_0",
        "ch1_hist_bin_0",
    ]


@pytest.mark.parametrize("mask_value", [np.nan, hp.UNSEEN])
def test_histogram_ignores_masked_pixels(mask_value):
    maps = mask_pixels(white_maps(8, n_maps=3), 0.3, mask_value)
    with pytest.raises(ValueError, match="NaN|UNSEEN"):
        HistogramFeatures().fit(maps)
    histogram = HistogramFeatures(
        10, quantile_range=(0, 100), density=False, ignore_masked=True
    )
    features = histogram.fit_transform(maps)
    observed = [m[~np.isnan(m) & (m != hp.UNSEEN)] for m in maps]
    values = np.concatenate(observed)
    np.testing.assert_allclose(
        histogram.bin_edges_[0], np.linspace(values.min(), values.max(), 11)
    )
    expected = [np.histogram(m, histogram.bin_edges_[0])[0] for m in observed]
    np.testing.assert_array_equal(features, expected)


def test_histogram_partial_sky_and_constant_maps():
    # Any number of pixels works: the histogram ignores the geometry.
    maps = np.full((2, 100), 4.0)
    histogram = HistogramFeatures(4, density=False).fit(maps)
    np.testing.assert_allclose(histogram.bin_edges_[0], np.histogram_bin_edges(maps, 4))
    np.testing.assert_array_equal(
        histogram.transform(maps), [np.histogram(m, 4)[0] for m in maps]
    )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"range": (1.0, 1.0)}, "lower < upper"),
        ({"range": (0.0, np.inf)}, "finite"),
        ({"quantile_range": (50, 20)}, "quantile_range"),
        ({"bins": [0.0, 2.0, 1.0]}, "increasing"),
    ],
)
def test_histogram_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        HistogramFeatures(**params).fit(white_maps(2, n_maps=2))


# PowerSpectrumFeatures -----------------------------------------------------


@pytest.mark.parametrize("nside", [8, 16])
@pytest.mark.parametrize("lmax, iter", [(None, 0), (10, 0), (None, 2)])
def test_power_spectrum_matches_anafast(nside, lmax, iter):
    maps = white_maps(nside, n_maps=2)
    spectrum = PowerSpectrumFeatures(lmax=lmax, iter=iter)
    features = spectrum.fit_transform(maps)
    assert spectrum.nside_ == nside
    assert spectrum.lmax_ == (3 * nside - 1 if lmax is None else lmax)
    expected = [hp.anafast(m, lmax=lmax, iter=iter) for m in maps]
    np.testing.assert_allclose(features, expected, rtol=1e-12)
    names = spectrum.get_feature_names_out()
    assert names[0] == "psd_ell_0" and names[-1] == f"psd_ell_{spectrum.lmax_}"


def test_power_spectrum_ring_and_nest_agree():
    nside = 8
    maps = white_maps(nside, n_maps=2)
    ring = PowerSpectrumFeatures().fit_transform(maps)
    nest = PowerSpectrumFeatures(nest=True).fit_transform(hp.reorder(maps, r2n=True))
    np.testing.assert_allclose(nest, ring, rtol=1e-12)

    # Partial sky, columns in an arbitrary order.
    pixels = np.random.default_rng(0).permutation(
        patch_pixels(nside, 2, nest=False)[:8].ravel()
    )
    ring = PowerSpectrumFeatures(nside=nside, pixels=pixels).fit_transform(
        maps[:, pixels]
    )
    nest = PowerSpectrumFeatures(
        nside=nside, pixels=hp.ring2nest(nside, pixels), nest=True
    ).fit_transform(maps[:, pixels])
    np.testing.assert_allclose(nest, ring, rtol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_power_spectrum_partial_sky_is_corrected_pseudo_spectrum(order):
    nside = 16
    maps = white_maps(nside, n_maps=2)
    pixels = patch_pixels(nside, order, nest=False)[0]
    features = PowerSpectrumFeatures(nside=nside, pixels=pixels).fit_transform(
        maps[:, pixels]
    )
    expected = []
    for m in maps:
        full_sky = np.full(hp.nside2npix(nside), hp.UNSEEN)
        full_sky[pixels] = m[pixels]
        expected.append(anafast_masked(full_sky))
    np.testing.assert_allclose(features, expected, rtol=1e-10)
    # The f_sky correction restores the amplitude of white noise (C_ell = 4 pi / npix).
    white_level = 4 * np.pi / hp.nside2npix(nside)
    assert 0.8 < features[:, 1:].mean() / white_level < 1.2


@pytest.mark.parametrize("mask_value", [np.nan, hp.UNSEEN])
def test_power_spectrum_ignores_masked_pixels(mask_value):
    maps = mask_pixels(white_maps(8, n_maps=2), 0.2, mask_value)
    with pytest.raises(ValueError, match="NaN|UNSEEN"):
        PowerSpectrumFeatures().fit(maps)
    features = PowerSpectrumFeatures(ignore_masked=True).fit_transform(maps)
    expected = [anafast_masked(np.where(np.isnan(m), hp.UNSEEN, m)) for m in maps]
    np.testing.assert_allclose(features, expected, rtol=1e-10)


def test_power_spectrum_channels_and_cross_spectra():
    nside = 8
    maps = white_maps(nside, n_maps=2, n_channels=3)
    maps[:, 1] += maps[:, 0]  # correlated channels: a non-zero cross-spectrum
    maps[:, 2] = mask_pixels(maps[:, 2], 0.3, hp.UNSEEN)
    spectrum = PowerSpectrumFeatures(cross_spectra=True, ignore_masked=True)
    features = spectrum.fit_transform(maps).reshape(2, 6, 3 * nside)
    pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
    for m, spectra in zip(maps, features):
        expected = [anafast_masked(m[i], None if i == j else m[j]) for i, j in pairs]
        np.testing.assert_allclose(spectra, expected, rtol=1e-10, atol=1e-14)
    names = spectrum.get_feature_names_out()
    assert names[0] == "ch0_psd_ell_0"
    assert names[3 * 3 * nside + 5] == "ch0xch1_psd_ell_5"
    assert names[-1] == f"ch1xch2_psd_ell_{3 * nside - 1}"
    auto_only = PowerSpectrumFeatures(ignore_masked=True).fit_transform(maps)
    np.testing.assert_allclose(auto_only, features[:, :3].reshape(2, -1))


@pytest.mark.parametrize("log", [True, False])
@pytest.mark.parametrize("n_bins", [1, 6, 24])
@pytest.mark.parametrize("ell_factor", [False, True])
def test_power_spectrum_binning(log, n_bins, ell_factor):
    nside = 8
    maps = white_maps(nside, n_maps=2)
    spectrum = PowerSpectrumFeatures(n_bins=n_bins, log=log, ell_factor=ell_factor)
    features = spectrum.fit_transform(maps)
    edges = spectrum.bin_edges_
    assert len(edges) == n_bins + 1 and edges[0] == 0 and edges[-1] == 3 * nside
    assert np.all(np.diff(edges) >= 1)
    ell = np.arange(3 * nside)
    cl = np.array([hp.anafast(m, iter=0) for m in maps])
    if ell_factor:
        cl *= ell * (ell + 1)
    expected = [[c[lo:hi].mean() for lo, hi in zip(edges[:-1], edges[1:])] for c in cl]
    np.testing.assert_allclose(features, expected, rtol=1e-12)


@pytest.mark.parametrize("lmax, n_bins, nside", [(47, 8, 16), (767, 20, 256), (99, 100, 64)])
def test_multipole_bins_log_and_linear(lmax, n_bins, nside):
    maps = np.zeros((1, 12 * nside**2))  # fit reads only the shape
    log = PowerSpectrumFeatures(lmax=lmax, n_bins=n_bins).fit(maps).bin_edges_
    linear = PowerSpectrumFeatures(lmax=lmax, n_bins=n_bins, log=False).fit(maps)
    linear = linear.bin_edges_
    for edges in (log, linear):
        assert edges[0] == 0 and edges[-1] == lmax + 1 and len(edges) == n_bins + 1
        assert np.all(np.diff(edges) >= 1)
    assert np.ptp(np.diff(linear)) <= 1
    if n_bins < lmax + 1:
        assert np.diff(log)[0] < np.diff(log)[-1]


def test_power_spectrum_parallel_matches_serial():
    maps = white_maps(8, n_maps=4)
    serial = PowerSpectrumFeatures(n_bins=5).fit_transform(maps)
    # Threads: worker processes would import torch, which is slow to start.
    with parallel_config(backend="threading"):
        parallel = PowerSpectrumFeatures(n_bins=5, n_jobs=2).fit_transform(maps)
    np.testing.assert_allclose(parallel, serial)


def test_power_spectrum_estimator_invariances():
    # The estimator checks of sklearn cannot feed HEALPix maps: check
    # pickling, idempotence and per-sample independence on real maps here.
    maps = white_maps(4, n_maps=5)
    spectrum = PowerSpectrumFeatures(n_bins=4).fit(maps)
    features = spectrum.transform(maps)
    restored = pickle.loads(pickle.dumps(spectrum))
    np.testing.assert_array_equal(restored.transform(maps), features)
    np.testing.assert_array_equal(spectrum.fit(maps).transform(maps), features)
    np.testing.assert_allclose(spectrum.transform(maps[::-1]), features[::-1])
    np.testing.assert_allclose(spectrum.transform(maps[1:3]), features[1:3])
    np.testing.assert_allclose(
        spectrum.transform(maps.astype(np.float32)), features, rtol=1e-5
    )


@pytest.mark.parametrize(
    "params, X, match",
    [
        ({}, np.zeros((2, 100)), "not a full HEALPix sky"),
        ({"nside": 4}, np.zeros((2, 768)), "full sky at nside=4 has 192"),
        ({"nside": 4, "pixels": np.arange(10)}, np.zeros((2, 12)), "`pixels` lists 10"),
        ({"pixels": np.arange(10)}, np.zeros((2, 10)), "needs `nside`"),
        ({"n_bins": 30}, np.zeros((2, 192)), "exceeds the 12 multipoles"),
        ({"ignore_masked": True}, np.full((2, 192), np.nan), "no observed pixel"),
    ],
)
def test_power_spectrum_invalid_input(params, X, match):
    with pytest.raises(ValueError, match=match):
        PowerSpectrumFeatures(**params).fit(X)


@pytest.mark.parametrize("transformer", [HistogramFeatures(), PowerSpectrumFeatures()])
def test_maps_must_match_fit(transformer):
    transformer.fit(white_maps(4, n_maps=2, n_channels=2))
    with pytest.raises(ValueError, match="X has 768 features, but .* expecting 192"):
        transformer.transform(white_maps(8, n_maps=2, n_channels=2))
    with pytest.raises(ValueError, match="maps have 3 channels, but .* with 2"):
        transformer.transform(white_maps(4, n_maps=2, n_channels=3))
    with pytest.raises(ValueError, match="NaN"):
        transformer.transform(np.full((2, 2, 192), np.nan))


# Both transformers in scikit-learn -----------------------------------------


@pytest.mark.parametrize(
    "transformer, n_features",
    [
        (HistogramFeatures(bins=6), 12),
        (PowerSpectrumFeatures(n_bins=5, cross_spectra=True), 15),
    ],
)
def test_pandas_output_and_pickle(transformer, n_features):
    maps = white_maps(4, n_maps=3, n_channels=2)
    transformer.set_output(transform="pandas").fit(maps)
    frame = transformer.transform(maps)
    assert frame.shape == (3, n_features)
    assert list(frame.columns) == list(transformer.get_feature_names_out())
    assert frame.columns[-1] in ("ch1_hist_bin_5", "ch0xch1_psd_bin_4")
    restored = pickle.loads(pickle.dumps(transformer))
    np.testing.assert_array_equal(restored.transform(maps).to_numpy(), frame.to_numpy())


def test_svc_separates_spectra_under_grid_search():
    nside, lmax = 8, 23
    ell = np.arange(lmax + 1)
    steep, shallow = (ell + 1.0) ** -2.0, 0.1 * (ell + 1.0) ** -1.0
    maps = np.concatenate(
        [
            gaussian_maps(steep, nside, 30, seed=0),
            gaussian_maps(shallow, nside, 30, seed=1),
        ]
    )
    labels = np.repeat([0, 1], 30)
    train = np.arange(60) % 3 != 0
    pipeline = make_pipeline(
        PowerSpectrumFeatures(n_bins=6, ell_factor=True),
        StandardScaler(),
        SVC(kernel="linear"),
    )
    search = GridSearchCV(
        pipeline, {"svc__C": np.logspace(-2, 2, 5)}, cv=StratifiedKFold(3)
    )
    search.fit(maps[train], labels[train])
    assert search.score(maps[~train], labels[~train]) > 0.9


# PowerSpectrumFeatures reads the checks' tabular data as a partial sky
# through the adapter of tests/tabular.py: every check runs.
@parametrize_with_checks([HistogramFeatures(), TabularPowerSpectrumFeatures()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# sklearn runs its feature-name and set_output checks only on its own
# estimators: call them directly.
@pytest.mark.parametrize("check", [
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    check_get_feature_names_out_error,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
], ids=lambda check: check.__name__)
@pytest.mark.parametrize("transformer", [HistogramFeatures(), TabularPowerSpectrumFeatures()],
                         ids=["HistogramFeatures", "PowerSpectrumFeatures"])
def test_sklearn_feature_names_and_set_output(transformer, check):
    check(type(transformer).__name__, transformer)

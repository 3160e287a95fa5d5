import pickle
import time

import healpy as hp
import numpy as np
import pytest
from joblib import parallel_config
from scipy.special import erfc
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

from skdeepsphere import (
    HistogramFeatures,
    MinkowskiFunctionalFeatures,
    MultiScaleHistogramFeatures,
    PeakCountFeatures,
    PowerSpectrumFeatures,
    streaming,
)
from skdeepsphere import _multiscale, features
from skdeepsphere.healpix import patch_pixels
from tabular import (
    TabularMinkowskiFunctionalFeatures,
    TabularMultiScaleHistogramFeatures,
    TabularPeakCountFeatures,
    TabularPowerSpectrumFeatures,
)


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


def test_power_spectrum_parallel_matches_serial(monkeypatch):
    maps = white_maps(8, n_maps=4)
    serial = PowerSpectrumFeatures(n_bins=5).fit_transform(maps)
    monkeypatch.setattr(features, "MIN_PARALLEL_SECONDS", 0.0)  # tiny maps, workers
    monkeypatch.setattr(features, "MIN_COLD_PARALLEL_SECONDS", 0.0)
    # Threads: worker processes would import torch, which is slow to start.
    with parallel_config(backend="threading"):
        parallel = PowerSpectrumFeatures(n_bins=5, n_jobs=2).fit_transform(maps)
    np.testing.assert_allclose(parallel, serial)


def test_workers_start_only_for_enough_work(monkeypatch):
    # Starting worker processes costs seconds: a call that would start them
    # needs MIN_COLD_PARALLEL_SECONDS of work, one that finds them running
    # only MIN_PARALLEL_SECONDS.
    maps = white_maps(8, n_maps=4)
    serial = PowerSpectrumFeatures(n_bins=5).fit_transform(maps)
    monkeypatch.setattr(features, "MIN_PARALLEL_SECONDS", 0.0)
    monkeypatch.setattr(features, "MIN_COLD_PARALLEL_SECONDS", 1e9)
    monkeypatch.setattr(features, "_last_parallel_call", None)
    transformer = PowerSpectrumFeatures(n_bins=5, n_jobs=2)
    with parallel_config(backend="threading"):
        calls = features.parallel_calls
        np.testing.assert_allclose(transformer.fit_transform(maps), serial)
        assert features.parallel_calls == calls  # cold: the loop
        monkeypatch.setattr(features, "_last_parallel_call", time.monotonic())
        np.testing.assert_allclose(transformer.fit_transform(maps), serial)
        assert features.parallel_calls == calls + 1  # running workers: used
        monkeypatch.setattr(features, "_last_parallel_call",
                            time.monotonic() - features._WARM_WORKER_SECONDS - 1)
        transformer.fit_transform(maps)
        assert features.parallel_calls == calls + 1  # idled out: the loop again


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


@pytest.mark.parametrize(
    "transformer",
    [
        HistogramFeatures(),
        PowerSpectrumFeatures(),
        MultiScaleHistogramFeatures(),
        PeakCountFeatures(),
        MinkowskiFunctionalFeatures(),
    ],
)
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


# Multi-scale statistics: smoothed histograms, peaks, Minkowski functionals ----


ARCMIN = np.pi / (180 * 60)


def smoothed(m, fwhm):
    """The reference smoothing: healpy.smoothing, or the map itself for 0."""
    return hp.smoothing(m, fwhm=fwhm * ARCMIN, iter=0) if fwhm > 0 else m


def full_sky_filled(values, pixels, nside):
    """Reference masking rule: unobserved and UNSEEN pixels get the observed mean."""
    full = np.full(hp.nside2npix(nside), hp.UNSEEN)
    full[pixels] = values
    observed = full != hp.UNSEEN
    return np.where(observed, full, full[observed].mean()), observed


def reference_kept(observed, fwhm, tolerance):
    if fwhm == 0:
        return observed
    masked_weight = hp.smoothing((~observed).astype(float), fwhm=fwhm * ARCMIN, iter=0)
    return observed & (masked_weight <= tolerance)


# Multi-scale histograms -----------------------------------------------------


@pytest.mark.parametrize("nside", [4, 16])
@pytest.mark.parametrize("density", [False, True])
def test_histogram_equals_healpy_smoothing_then_numpy(nside, density):
    maps = white_maps(nside, n_maps=3)
    fwhm = (0, 3 * hp.nside2resol(nside, arcmin=True), 600)
    edges = [-3.0, -0.4, -0.1, 0.0, 0.2, 1.0, 3.0]
    features = MultiScaleHistogramFeatures(
        fwhm, bins=edges, standardize=None, density=density, clip=False
    ).fit_transform(maps)
    expected = [
        np.concatenate(
            [np.histogram(smoothed(m, f), edges, density=density)[0] for f in fwhm]
        )
        for m in maps
    ]
    np.testing.assert_allclose(features, expected, rtol=1e-12)


def test_histogram_standardization_and_learned_range():
    nside, fwhm = 8, (0, 800)
    train, test = white_maps(nside, 4, seed=0), 2 * white_maps(nside, 2, seed=1)
    values = [np.array([smoothed(m, f) for m in train]) for f in fwhm]
    # "train": units of the training mean and standard deviation per scale.
    histogram = MultiScaleHistogramFeatures(fwhm, bins=6, range=(-2, 2), density=False)
    features = histogram.fit(train).transform(test)
    np.testing.assert_allclose(histogram.loc_[0], [v.mean() for v in values])
    np.testing.assert_allclose(histogram.scale_[0], [v.std() for v in values])
    expected = [
        np.concatenate(
            [
                np.histogram(
                    np.clip((smoothed(m, f) - v.mean()) / v.std(), -2, 2), 6, (-2, 2)
                )[0]
                for f, v in zip(fwhm, values)
            ]
        )
        for m in test
    ]
    np.testing.assert_array_equal(features, expected)
    # "map": each smoothed map in units of its own standard deviation, so a
    # map and twice the map have the same features.
    per_map = MultiScaleHistogramFeatures(fwhm, bins=6, standardize="map").fit(train)
    np.testing.assert_allclose(per_map.transform(2 * test), per_map.transform(test))
    assert not hasattr(per_map, "loc_")
    # None without range: training mean +- 4 training standard deviations.
    raw = MultiScaleHistogramFeatures(fwhm, bins=4, standardize=None).fit(train)
    np.testing.assert_allclose(
        raw.bin_edges_[0, :, [0, -1]].T,
        [[v.mean() - 4 * v.std(), v.mean() + 4 * v.std()] for v in values],
    )


def test_histogram_partial_sky_and_mask_rule():
    nside, fwhm, tolerance = 16, (0, 300, 600), 0.01
    maps = white_maps(nside, n_maps=2)
    pixels = np.flatnonzero(hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))[0] < 2.0)
    values = maps[:, pixels]
    values[0, ::7] = hp.UNSEEN  # masked pixels in one map only
    edges = np.linspace(-4, 4, 9)
    histogram = MultiScaleHistogramFeatures(
        fwhm, nside=nside, pixels=pixels, bins=edges, standardize=None,
        density=False, clip=False, ignore_masked=True, mask_tolerance=tolerance,
    )
    features = histogram.fit_transform(values)
    for row, v in zip(features, values):
        full, observed = full_sky_filled(v, pixels, nside)
        expected = []
        for f in fwhm:
            kept = reference_kept(observed, f, tolerance)
            expected.append(np.histogram(smoothed(full, f)[kept], edges)[0])
        np.testing.assert_array_equal(row, np.concatenate(expected))


@pytest.mark.parametrize("fwhm", [300, 600])
def test_mask_tolerance_drops_about_one_fwhm_at_a_border(fwhm):
    # A cap border: kept pixels lie about one FWHM or more inside it.
    nside = 32
    theta = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))[0]
    pixels = np.flatnonzero(theta < np.pi / 2)
    histogram = MultiScaleHistogramFeatures(
        (fwhm,), nside=nside, pixels=pixels, bins=4, standardize=None
    ).fit(white_maps(nside, 1)[:, pixels])
    kept = histogram._kept[0]
    # The border lies half-way between the last observed ring and the next;
    # distances are known to one ring spacing.
    rings = np.unique(theta)
    border = (theta[pixels].max() + rings[rings > theta[pixels].max()][0]) / 2
    spacing = np.diff(rings).max() / ARCMIN
    distance = (border - theta[kept]) / ARCMIN
    assert abs(distance.min() - fwhm) < spacing
    assert kept.sum() > 0.5 * pixels.size


# Peak counts ---------------------------------------------------------------


def brute_force_peaks(m, observed, kept):
    """Heights of the kept pixels above each of their (observed) neighbours."""
    nside = hp.npix2nside(m.size)
    heights = []
    for p in range(m.size):
        neighbours = [q for q in hp.get_all_neighbours(nside, p) if q >= 0]
        if not kept[p] or not all(observed[q] for q in neighbours):
            continue
        if all(m[p] > m[q] for q in neighbours):
            heights.append(m[p])
    return np.array(heights)


@pytest.mark.parametrize("nest", [False, True])
def test_peaks_match_brute_force_loop(nest):
    nside, fwhm, edges = 8, (0, 900), np.linspace(-2, 3, 6)
    maps = white_maps(nside, n_maps=2)
    pixels = np.flatnonzero(hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))[1] < 4.5)
    peaks = PeakCountFeatures(
        fwhm, nside=nside, pixels=hp.ring2nest(nside, pixels) if nest else pixels,
        nest=nest, bins=edges, standardize=None,
    )
    features = peaks.fit_transform(maps[:, pixels])
    for row, m in zip(features, maps):
        full, observed = full_sky_filled(m[pixels], pixels, nside)
        expected = []
        for f in fwhm:
            heights = brute_force_peaks(
                smoothed(full, f), observed, reference_kept(observed, f, 0.01)
            )
            assert heights.size > 0
            expected.append(np.histogram(np.clip(heights, -2, 3), edges)[0])
        np.testing.assert_array_equal(row, np.concatenate(expected))


def test_peaks_full_sky_count_and_standardization():
    # On a full sky every pixel is checked against all its neighbours.
    nside = 8
    maps = white_maps(nside, n_maps=3)
    peaks = PeakCountFeatures((0,), bins=[-10, 10], standardize=None)
    observed = np.ones(hp.nside2npix(nside), dtype=bool)
    np.testing.assert_array_equal(
        peaks.fit_transform(maps)[:, 0],
        [brute_force_peaks(m, observed, observed).size for m in maps],
    )
    # Heights in units of the training standard deviation (S/N).
    snr = PeakCountFeatures((0,), bins=[1, 2, 3], clip=False).fit(maps)
    heights = [(brute_force_peaks(m, observed, observed) - maps.mean()) / maps.std() for m in maps]
    np.testing.assert_array_equal(
        snr.transform(maps), [np.histogram(h, [1, 2, 3])[0] for h in heights]
    )


# Minkowski functionals -----------------------------------------------------


def gaussian_expectation(cl, nu):
    """Tomita's V0, V1, V2 of a Gaussian field at thresholds nu (in sigma0)."""
    ell = np.arange(len(cl))
    sigma0_2 = np.sum((2 * ell + 1) / (4 * np.pi) * cl)
    sigma1_2 = np.sum((2 * ell + 1) / (4 * np.pi) * ell * (ell + 1) * cl)
    tau = sigma1_2 / (2 * sigma0_2)
    gauss = np.exp(-(nu**2) / 2)
    return np.stack(
        [erfc(nu / np.sqrt(2)) / 2, np.sqrt(tau) * gauss / 8, tau * nu * gauss / (2 * np.pi) ** 1.5]
    )


def test_minkowski_functionals_match_gaussian_expectation():
    # 40 Gaussian maps at nside 32, smoothed by a beam of 3 pixels: the mean
    # functionals agree with the expectation within 4 standard errors, at
    # every threshold.
    nside, n_maps = 32, 40
    lmax = 3 * nside - 1
    fwhm = 3 * hp.nside2resol(nside, arcmin=True)
    ell = np.arange(lmax + 1)
    cl = 1.0 / (ell + 10.0) ** 2
    maps = gaussian_maps(cl, nside, n_maps, seed=0)
    beam = hp.gauss_beam(fwhm * ARCMIN, lmax=lmax)
    sigma0 = np.sqrt(np.sum((2 * ell + 1) / (4 * np.pi) * cl * beam**2))
    nu_edges = np.linspace(-3, 3, 13)
    minkowski = MinkowskiFunctionalFeatures(
        (fwhm,), bins=sigma0 * nu_edges, standardize=None
    )
    features = minkowski.fit_transform(maps).reshape(n_maps, 3, 12)
    mean = features.mean(axis=0)
    error = features.std(axis=0, ddof=1) / np.sqrt(n_maps)
    # The estimator's expectation: V0 at the bin centres, V1 and V2 averaged
    # over each bin (the delta function is the bin's indicator).
    fine = np.linspace(-3, 3, 6001)
    theory = gaussian_expectation(cl * beam**2, fine)
    expected = np.array(
        [
            [theory[k][(fine >= a) & (fine <= b)].mean() for a, b in zip(nu_edges[:-1], nu_edges[1:])]
            for k in range(3)
        ]
    )
    expected[0] = gaussian_expectation(cl * beam**2, (nu_edges[:-1] + nu_edges[1:]) / 2)[0]
    z = (mean - expected) / error
    assert np.all(np.abs(z) < 4), z
    # Not a vacuous test: V1 and V2 are far from zero at most thresholds.
    assert np.all(np.abs(expected[1:, 2:-2]) > 10 * error[1:, 2:-2])


def test_gradient_and_covariant_hessian_match_finite_differences():
    # A band-limited field in closed form (a polynomial in x, y, z of degree
    # 3), differentiated numerically in (theta, phi) and made covariant by
    # hand: H_tt = u_tt, H_pp = u_pp / sin^2 + cot u_t,
    # H_tp = (u_tp - cot u_p) / sin, in the orthonormal frame.
    def field(theta, phi):
        x, y, z = np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)
        return x * z + 2 * x * y + 0.5 * y + 0.3 * z**2 + x * y * z

    nside, lmax, h = 16, 8, 1e-4
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))
    u = field(theta, phi)
    alm = hp.map2alm(u, lmax=lmax, iter=10)
    derivatives = _multiscale.field_derivatives(alm, nside, lmax, None)

    def shifted(dt, dp):
        return field(theta + dt * h, phi + dp * h)

    u_t = (shifted(1, 0) - shifted(-1, 0)) / (2 * h)
    u_p = (shifted(0, 1) - shifted(0, -1)) / (2 * h)
    u_tt = (shifted(1, 0) - 2 * u + shifted(-1, 0)) / h**2
    u_pp = (shifted(0, 1) - 2 * u + shifted(0, -1)) / h**2
    u_tp = (shifted(1, 1) - shifted(1, -1) - shifted(-1, 1) + shifted(-1, -1)) / (4 * h**2)
    sin, cot = np.sin(theta), 1 / np.tan(theta)
    expected = [
        u,
        u_t,
        u_p / sin,
        u_tt,
        u_pp / sin**2 + cot * u_t,
        (u_tp - cot * u_p) / sin,
    ]
    away_from_poles = sin > 0.2
    for computed, reference in zip(derivatives, expected):
        np.testing.assert_allclose(
            computed[away_from_poles], reference[away_from_poles], atol=2e-4
        )


@pytest.mark.parametrize("standardize", [None, "train"])
def test_minkowski_v0_is_a_pixel_count(standardize):
    nside, fwhm = 16, (0, 400)
    maps = white_maps(nside, n_maps=2)
    edges = np.linspace(-2, 2, 5)
    minkowski = MinkowskiFunctionalFeatures(fwhm, bins=edges, standardize=standardize)
    features = minkowski.fit_transform(maps).reshape(2, 2, 3, 4)
    lmax = 3 * nside - 1
    for row, m in zip(features, maps):
        for s, f in enumerate(fwhm):
            # The band-limited field: healpy.smoothing with a beam of ones for 0.
            alm = hp.map2alm(m, lmax=lmax, iter=0)
            field = hp.alm2map(hp.almxfl(alm, hp.gauss_beam(f * ARCMIN, lmax)), nside, lmax=lmax)
            if standardize == "train":
                field = (field - minkowski.loc_[0, s]) / minkowski.scale_[0, s]
            centres = (edges[:-1] + edges[1:]) / 2
            above = [sum(1 for x in field if x > c) / field.size for c in centres]
            np.testing.assert_allclose(row[s, 0], above)


def test_smoothed_histograms_separate_what_the_plain_histogram_cannot():
    # Gaussian maps with equal pixel variance but different correlation
    # lengths: their one-point distributions are the same, so the plain
    # histogram is at chance; smoothed, the correlated maps keep more
    # variance. Cross-validation must pick a smoothed scale.
    nside, lmax, n_maps = 16, 47, 40
    ell = np.arange(lmax + 1)
    spectra = [np.exp(-ell / 4.0), np.ones(lmax + 1)]
    variance = [np.sum((2 * ell + 1) * cl) for cl in spectra]
    maps = np.concatenate(
        [gaussian_maps(cl / v, nside, n_maps, seed=i) for i, (cl, v) in enumerate(zip(spectra, variance))]
    )
    labels = np.repeat([0, 1], n_maps)
    train = np.arange(2 * n_maps) % 2 == 0
    cv = StratifiedKFold(3)
    smoothed_search = GridSearchCV(
        make_pipeline(MultiScaleHistogramFeatures(bins=8), StandardScaler(), SVC(kernel="linear")),
        {"multiscalehistogramfeatures__fwhm": [(0.0,), (0.0, 600.0)]},
        cv=cv,
    ).fit(maps[train], labels[train])
    plain = make_pipeline(HistogramFeatures(8), StandardScaler(), SVC(kernel="linear"))
    plain.fit(maps[train], labels[train])
    assert smoothed_search.best_params_["multiscalehistogramfeatures__fwhm"] == (0.0, 600.0)
    assert smoothed_search.score(maps[~train], labels[~train]) >= 0.9
    assert plain.score(maps[~train], labels[~train]) <= 0.75


# Geometry, channels, streaming and scikit-learn ------------------------------

TRANSFORMERS = [
    MultiScaleHistogramFeatures((0, 500), bins=5),
    PeakCountFeatures((0, 500), bins=5),
    MinkowskiFunctionalFeatures((0, 500), bins=5),
]


@pytest.mark.parametrize("transformer", TRANSFORMERS)
def test_ring_nest_partial_sky_and_channels_agree(transformer):
    nside = 8
    maps = white_maps(nside, n_maps=3, n_channels=2)
    ring = transformer.fit_transform(maps)
    n_per_channel = ring.shape[1] // 2
    single = transformer.fit_transform(maps[:, 1])
    np.testing.assert_allclose(ring[:, n_per_channel:], single)
    to_nest = hp.nest2ring(nside, np.arange(hp.nside2npix(nside)))
    nest = transformer.set_params(nest=True).fit_transform(maps[..., to_nest])
    np.testing.assert_allclose(nest, ring, rtol=1e-10, atol=1e-12)
    # Partial sky given by pixels (any column order) = the same mask as UNSEEN.
    pixels = np.random.default_rng(0).permutation(patch_pixels(nside, 1, nest=False)[:6].ravel())
    partial = transformer.set_params(nest=False, nside=nside, pixels=pixels).fit_transform(
        maps[..., pixels]
    )
    unseen = np.full_like(maps, hp.UNSEEN)
    unseen[..., pixels] = maps[..., pixels]
    masked = transformer.set_params(pixels=None, ignore_masked=True).fit_transform(unseen)
    np.testing.assert_allclose(partial, masked, rtol=1e-10, atol=1e-12)
    names = transformer.get_feature_names_out()
    assert names.size == ring.shape[1] and names[0].startswith("ch0_")


@pytest.mark.parametrize("transformer", TRANSFORMERS)
def test_memmap_parallel_pandas_and_pickle(transformer, tmp_path, monkeypatch):
    nside = 8
    maps = white_maps(nside, n_maps=5)
    expected = transformer.fit(maps).transform(maps)
    stored = np.lib.format.open_memmap(tmp_path / "maps.npy", mode="w+", shape=maps.shape)
    stored[:] = maps
    stored.flush()
    lazy = np.load(tmp_path / "maps.npy", mmap_mode="r")
    chunk_bytes = streaming.CHUNK_BYTES
    streaming.CHUNK_BYTES = 2 * 4 * maps.shape[1]  # blocks of 2 maps
    try:
        fitted = pickle.loads(pickle.dumps(transformer)).fit(lazy)
        np.testing.assert_allclose(fitted.transform(lazy), expected, rtol=1e-12)
    finally:
        streaming.CHUNK_BYTES = chunk_bytes
    # Threads: worker processes would import the package, slow to start.
    monkeypatch.setattr(features, "MIN_PARALLEL_SECONDS", 0.0)
    monkeypatch.setattr(features, "MIN_COLD_PARALLEL_SECONDS", 0.0)
    with parallel_config(backend="threading"):
        parallel = transformer.set_params(n_jobs=2).fit(maps).transform(maps)
    np.testing.assert_allclose(parallel, expected)
    transformer.set_params(n_jobs=None).set_output(transform="pandas")
    frame = transformer.fit(maps).transform(maps)
    assert list(frame.columns) == list(transformer.get_feature_names_out())
    np.testing.assert_allclose(frame.to_numpy(), expected)
    transformer.set_output(transform="default")


@pytest.mark.parametrize("cls", [MultiScaleHistogramFeatures, PeakCountFeatures, MinkowskiFunctionalFeatures])
@pytest.mark.parametrize(
    "params, X, match",
    [
        ({"fwhm": (-1,)}, np.zeros((2, 192)), "non-negative"),
        ({"fwhm": ()}, np.zeros((2, 192)), "non-empty"),
        ({"range": (2.0, 1.0)}, np.zeros((2, 192)), "lower < upper"),
        ({"bins": [0.0, 2.0, 1.0]}, np.zeros((2, 192)), "increasing"),
        ({}, np.zeros((2, 100)), "not a full HEALPix sky"),
        ({"nside": 4, "pixels": np.arange(10)}, np.zeros((2, 12)), "`pixels` lists 10"),
        (
            {"nside": 4, "pixels": np.arange(10), "fwhm": (0, 3000)},
            np.zeros((2, 10)),
            "fwhm=3000 arcmin: use smaller beams",
        ),
        (
            {"nside": 4, "pixels": np.arange(10), "fwhm": (0, 3000)},
            np.zeros((2, 10)),
            "fwhm=3000 arcmin: use smaller beams",
        ),
        ({}, np.full((2, 192), hp.UNSEEN), "ignore_masked=True"),
        ({"ignore_masked": True}, np.full((2, 192), np.nan), "no observed pixel"),
    ],
)
def test_invalid_input(cls, params, X, match):
    with pytest.raises(ValueError, match=match):
        cls(**params).fit(X)


# scikit-learn's estimator checks ---------------------------------------------
# The transformers read the checks' tabular data as a partial sky through the
# adapters of tests/tabular.py: every check runs.
# The checks' skies have 1 to 20 pixels: smoothing by beams of a few pixels
# would leave no pixel far from the mask, so the multi-scale transformers
# are checked on the unsmoothed scale.
UNSMOOTHED = {"fwhm": (0.0,)}


@parametrize_with_checks([
    HistogramFeatures(),
    TabularPowerSpectrumFeatures(),
    TabularMultiScaleHistogramFeatures(**UNSMOOTHED),
    TabularPeakCountFeatures(**UNSMOOTHED),
    TabularMinkowskiFunctionalFeatures(**UNSMOOTHED),
])
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
@pytest.mark.parametrize("transformer", [
    HistogramFeatures(), TabularPowerSpectrumFeatures(),
    TabularMultiScaleHistogramFeatures(**UNSMOOTHED), TabularPeakCountFeatures(**UNSMOOTHED),
    TabularMinkowskiFunctionalFeatures(**UNSMOOTHED),
], ids=["HistogramFeatures", "PowerSpectrumFeatures", "MultiScaleHistogramFeatures",
        "PeakCountFeatures", "MinkowskiFunctionalFeatures"])
def test_sklearn_feature_names_and_set_output(transformer, check):
    check(type(transformer).__name__, transformer)

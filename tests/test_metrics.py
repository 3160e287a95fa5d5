import doctest
import healpy as hp
import numpy as np
import pytest
from sklearn.metrics import jaccard_score, r2_score

from skdeepsphere.metrics import cross_correlation_spectrum, masked_r2_score, mean_iou
from skdeepsphere import metrics


@pytest.mark.parametrize("n_classes", [2, 4])
def test_mean_iou_matches_sklearn_jaccard_on_observed_pixels(n_classes):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, n_classes, size=(5, 300))
    prediction = np.where(rng.uniform(size=truth.shape) < 0.7, truth,
                          rng.integers(0, n_classes, size=truth.shape))
    masked = rng.uniform(size=truth.shape) < 0.1
    expected = jaccard_score(truth[~masked], prediction[~masked], average="macro")
    assert mean_iou(np.where(masked, -1, truth), prediction) == pytest.approx(expected)
    # NaN marks masked pixels of float labels too.
    assert mean_iou(np.where(masked, np.nan, truth.astype(float)), prediction) == \
        pytest.approx(expected)


def test_mean_iou_does_not_reward_ignoring_a_rare_class():
    truth = np.zeros((1, 1000), int)
    truth[0, :10] = 1
    assert mean_iou(truth, np.zeros_like(truth)) == pytest.approx(0.99 / 2)


def test_masked_r2_matches_sklearn_on_pooled_pixels():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(4, 2, 50))
    prediction = truth + rng.normal(scale=0.5, size=truth.shape)
    masked = rng.uniform(size=truth.shape) < 0.2
    y = np.where(masked, np.nan, truth)
    # Pooled over maps and pixels, one mean per output channel.
    residual = sum(np.sum((truth[:, c][~masked[:, c]] - prediction[:, c][~masked[:, c]]) ** 2)
                   for c in range(2))
    total = sum(np.sum((truth[:, c][~masked[:, c]] - truth[:, c][~masked[:, c]].mean()) ** 2)
                for c in range(2))
    assert masked_r2_score(y, prediction) == pytest.approx(1 - residual / total)
    one = np.where(masked[:, 0], hp.UNSEEN, truth[:, 0])
    assert masked_r2_score(one, prediction[:, 0]) == pytest.approx(
        r2_score(truth[:, 0][~masked[:, 0]], prediction[:, 0][~masked[:, 0]]))


def test_cross_correlation_spectrum():
    rng = np.random.default_rng(2)
    lmax = 12  # band-limited maps: map2alm is then accurate at nside 8
    ell, m = hp.Alm.getlm(lmax)
    maps = []
    for _ in range(3):
        alm = rng.standard_normal(ell.size) + 1j * rng.standard_normal(ell.size)
        alm[m == 0] = alm[m == 0].real
        maps.append(hp.alm2map(alm, 8, lmax=lmax))
    maps = np.array(maps)
    window = np.linspace(1, 0.1, lmax + 1)
    filtered = np.array([hp.alm2map(hp.almxfl(hp.map2alm(x, lmax=lmax), window), 8,
                                    lmax=lmax) for x in maps])
    r_ell = cross_correlation_spectrum(maps, filtered, lmax=lmax)
    np.testing.assert_allclose(r_ell[1:], 1, atol=1e-3)
    np.testing.assert_allclose(cross_correlation_spectrum(maps, -maps, lmax=lmax)[1:], -1,
                               atol=1e-6)
    independent = cross_correlation_spectrum(maps, rng.normal(size=maps.shape), lmax=lmax)
    assert np.abs(independent[2:]).mean() < 0.3
    # NESTED maps give the same r_ell once declared.
    to_nest = hp.nest2ring(8, np.arange(768))
    np.testing.assert_allclose(
        cross_correlation_spectrum(maps[:, to_nest], filtered[:, to_nest], lmax=lmax,
                                   nest=True), r_ell)


def test_detection_rates_count_sources_and_false_detections():
    from skdeepsphere.datasets import make_point_source_maps
    from skdeepsphere.metrics import detection_rates

    _, truth, sources = make_point_source_maps(2, 16, n_sources=15, return_sources=True,
                                               random_state=0)
    bins = [50, 200, 1000]
    perfect = detection_rates(truth, truth, sources, bins=bins)
    np.testing.assert_array_equal(perfect["completeness"], 1)
    assert perfect["purity"][0] == 1
    assert perfect["n_sources"].sum() == len(sources["amplitude"])
    assert np.all(detection_rates(truth, 0 * truth, sources, bins=bins)["completeness"] == 0)
    # One extra isolated blob, far from every source: one false detection.
    fake = truth.copy()
    far = np.flatnonzero(~np.convolve(truth[0], np.ones(200), "same").astype(bool))[0]
    fake[0, far] = 1
    rates = detection_rates(truth, fake, sources, bins=bins)
    n = perfect["n_detections"][0]
    assert rates["n_detections"][0] == n + 1
    assert rates["purity"][0] == pytest.approx(n / (n + 1))


@pytest.mark.parametrize("module", [metrics])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

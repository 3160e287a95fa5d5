import doctest
import healpy as hp
import numpy as np
import pytest

from skdeepsphere.datasets import make_point_source_maps
from skdeepsphere.filters import MatchedFilterSegmenter, WienerFilter, _best_threshold
from skdeepsphere.metrics import mean_iou
from skdeepsphere import filters

NSIDE = 16


def gaussian_maps(rng, cl, n, nside=NSIDE):
    lmax = len(cl) - 1
    ell, m = hp.Alm.getlm(lmax)
    out = []
    for _ in range(n):
        alm = np.sqrt(cl[ell] / 2) * (rng.standard_normal(ell.size)
                                      + 1j * rng.standard_normal(ell.size))
        alm[m == 0] = np.sqrt(2) * alm[m == 0].real
        out.append(hp.alm2map(alm, nside, lmax=lmax))
    return np.array(out)


def test_wiener_window_matches_known_spectra():
    rng = np.random.default_rng(0)
    ell = np.arange(3 * NSIDE)
    signal = np.where(ell >= 2, 1.0 / (ell + 5.0) ** 2, 0.0)
    noise_std = 0.5
    clean = gaussian_maps(rng, signal, 60)
    noisy = clean + noise_std * rng.standard_normal(clean.shape)
    wiener = WienerFilter().fit(noisy, clean)
    noise_cl = noise_std**2 * 4 * np.pi / hp.nside2npix(NSIDE)
    expected = signal / (signal + noise_cl)
    np.testing.assert_allclose(wiener.window_[2:40], expected[2:40], atol=0.06)
    # The filter lowers the error of the noisy maps, and beats a
    # Gaussian smoothing with an arbitrary width (not tuned to the spectra).
    test_clean = gaussian_maps(rng, signal, 10)
    test_noisy = test_clean + noise_std * rng.standard_normal(test_clean.shape)
    error = np.mean((wiener.predict(test_noisy) - test_clean) ** 2)
    smoothed = np.array([hp.smoothing(m, fwhm=np.radians(8), iter=1) for m in test_noisy])
    assert error < 0.6 * np.mean((test_noisy - test_clean) ** 2)
    assert error < np.mean((smoothed - test_clean) ** 2)
    # NESTED input gives the NESTED version of the same maps.
    to_nest = hp.nest2ring(NSIDE, np.arange(hp.nside2npix(NSIDE)))
    nested = WienerFilter(nest=True).fit(noisy[:, to_nest], clean[:, to_nest])
    np.testing.assert_allclose(nested.predict(test_noisy[:, to_nest]),
                               wiener.predict(test_noisy)[:, to_nest], atol=1e-10)


def test_best_threshold_matches_brute_force():
    rng = np.random.default_rng(1)
    codes = (rng.uniform(size=(3, 500)) < 0.1).astype(np.int64)
    codes[0, :20] = -100
    significance = rng.normal(size=codes.shape) + 2 * (codes == 1)
    threshold, score = _best_threshold(significance, codes, 40)
    candidates = np.linspace(0, significance[codes >= 0].max(), 40)
    labels = np.where(codes >= 0, codes, -1)
    brute = [mean_iou(labels, (significance > t).astype(int)) for t in candidates]
    assert score == pytest.approx(max(brute))
    assert threshold == pytest.approx(candidates[int(np.argmax(brute))])


def test_matched_filter_beats_beam_smoothing_on_cmb_with_sources():
    X, y = make_point_source_maps(12, NSIDE * 2, random_state=0)
    X_test, y_test = make_point_source_maps(6, NSIDE * 2, random_state=1)
    fwhm = 2.5 * hp.nside2resol(NSIDE * 2, arcmin=True)
    matched = MatchedFilterSegmenter(fwhm).fit(X, y)
    beam = MatchedFilterSegmenter(fwhm, filter="beam").fit(X, y)
    assert matched.predict(X_test).shape == y_test.shape
    assert matched.score(X_test, y_test) > beam.score(X_test, y_test) + 0.03
    # Far better than labelling every pixel background (mean IoU ~0.5).
    assert matched.score(X_test, y_test) > 0.58


def test_filters_bad_input():
    X, y = make_point_source_maps(2, 8, random_state=0)
    with pytest.raises(ValueError, match="12 \\* nside\\*\\*2"):
        WienerFilter().fit(X[:, :700], X[:, :700])
    with pytest.raises(ValueError, match="2 classes"):
        MatchedFilterSegmenter(100.0).fit(X, y * np.arange(X.shape[1]) % 3)
    fitted = WienerFilter().fit(X, X)
    with pytest.raises(ValueError, match="fitted on maps of 768 pixels"):
        fitted.predict(np.zeros((1, 3072)))


@pytest.mark.parametrize("module", [filters])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

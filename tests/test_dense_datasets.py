import doctest
import os

import healpy as hp
import numpy as np
import pytest

from skdeepsphere.datasets import cmb_spectrum, make_denoising_maps, make_point_source_maps
from skdeepsphere.datasets import _dense


def test_point_source_labels_are_the_pixels_within_half_the_beam():
    nside = 16
    fwhm = 300.0
    X, y, sources = make_point_source_maps(3, nside, fwhm=fwhm, n_sources=20,
                                           return_sources=True, random_state=0)
    vectors = np.stack(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))), axis=1)
    for i in range(3):
        mine = sources["sample"] == i
        expected = np.zeros(hp.nside2npix(nside), bool)
        expected[sources["pixel"][mine]] = True
        # Brute force: distance of every pixel to every source centre. The
        # catalogue gives centre pixels, so compare pixels clearly inside or
        # outside (the exact centre moves by up to half a pixel).
        centres = vectors[sources["pixel"][mine]]
        distance = np.degrees(np.arccos(np.clip(vectors @ centres.T, -1, 1))).min(axis=1) * 60
        margin = hp.nside2resol(nside, arcmin=True)
        assert y[i][distance < fwhm / 2 - margin].all()
        assert not y[i][distance > fwhm / 2 + margin].any()
    assert set(np.unique(y)) == {0, 1}
    assert np.all((sources["amplitude"] >= 50) & (sources["amplitude"] <= 1000))


def test_point_source_maps_reproducible_and_nest():
    a = make_point_source_maps(2, 8, random_state=3)
    b = make_point_source_maps(2, 8, random_state=3)
    nest = make_point_source_maps(2, 8, random_state=3, nest=True)
    np.testing.assert_array_equal(a[0], b[0])
    to_nest = hp.nest2ring(8, np.arange(768))
    np.testing.assert_array_equal(nest[0], a[0][:, to_nest])
    np.testing.assert_array_equal(nest[1], a[1][:, to_nest])
    with pytest.raises(ValueError, match="amplitude_range"):
        make_point_source_maps(1, 8, amplitude_range=(10, 5))


def test_sources_add_power_and_labels_sit_on_bright_pixels():
    X, y = make_point_source_maps(4, 32, noise_level=0.0, amplitude_range=(500, 1000),
                                  random_state=0)
    assert X[y == 1].mean() > X[y == 0].mean() + 300


@pytest.mark.skipif(not os.path.exists("/usr/share/healpy/data/totcls.dat"),
                    reason="healpy-data not installed")
def test_cmb_spectrum_follows_healpy_best_fit():
    reference = np.loadtxt("/usr/share/healpy/data/totcls.dat")[:1001, 1]
    ell = np.arange(1001)
    d_ell = ell * (ell + 1) * cmb_spectrum(1000) / (2 * np.pi)
    ratio = d_ell[2:] / reference[2:]
    assert np.all(np.abs(ratio - 1) < 0.26)


def test_denoising_maps():
    noisy, clean = make_denoising_maps(6, 16, noise_level=0.5, random_state=0)
    assert noisy.shape == clean.shape == (6, 3072)
    assert clean.std() == pytest.approx(1, abs=0.3)
    assert (noisy - clean).std() == pytest.approx(0.5, rel=0.05)
    # Lognormal: positively skewed.
    centred = clean - clean.mean()
    assert np.mean(centred**3) / np.mean(centred**2) ** 1.5 > 0.3
    again, _ = make_denoising_maps(6, 16, noise_level=0.5, random_state=0)
    np.testing.assert_array_equal(noisy, again)


@pytest.mark.parametrize("module", [_dense])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

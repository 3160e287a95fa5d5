"""Tests of skdeepsphere.rotation: rotations of maps and equivariance errors."""

import doctest

import healpy as hp
import numpy as np
import pytest
import torch
from scipy.stats import kstest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from skdeepsphere import rotation
from skdeepsphere.graph import healpix_laplacian, laplacian_hierarchy
from skdeepsphere.nn import ChebConv, HealpixPool, RandomBatchRotation
from skdeepsphere.rotation import (
    grid_permutations,
    grid_rotations,
    random_rotations,
    rotate_maps,
    empirical_equivariance_error,
    rotation_resampling,
    rotation_roundtrip_error,
)
from skdeepsphere.synthesis import random_smooth_maps


def test_docstring_examples():
    result = doctest.testmod(rotation, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_random_rotations_are_uniform_rotations():
    R = random_rotations(2000, random_state=0)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1, atol=1e-12)
    # Haar measure: the image of a fixed axis is uniform on the sphere, so
    # its z coordinate is uniform in [-1, 1], and the mean matrix is 0.
    assert kstest(R[:, 2, 2], "uniform", args=(-1, 2)).pvalue > 0.01
    assert np.abs(R.mean(axis=0)).max() < 0.05
    np.testing.assert_array_equal(random_rotations(3, random_state=1),
                                  random_rotations(3, random_state=1))
    with pytest.raises(ValueError, match="n_rotations must be a positive integer"):
        random_rotations(0)


@pytest.mark.parametrize("nside", [4, 16])
@pytest.mark.parametrize("angles", [(0.3, 1.1, -0.4), (2.0, -0.7, 1.5)])
def test_rotate_maps_matches_healpy_rotator(nside, angles):
    """Reference: healpy's Rotator.rotate_map_pixel (RING order)."""
    rotator = hp.Rotator(rot=angles, deg=False)
    maps = np.random.default_rng(0).normal(size=(3, hp.nside2npix(nside)))
    expected = np.array([rotator.rotate_map_pixel(m) for m in maps])
    np.testing.assert_allclose(rotate_maps(maps, rotator.mat), expected, atol=1e-10)
    # NESTED input gives the same maps, reordered
    nested = np.array([hp.reorder(m, r2n=True) for m in maps])
    rotated = rotate_maps(nested, rotator.mat, nest=True)
    np.testing.assert_allclose(rotated, [hp.reorder(m, r2n=True) for m in expected],
                               atol=1e-10)


def test_rotate_maps_matches_harmonic_rotation_of_band_limited_maps():
    """Reference: rotation of the a_lm (exact for band-limited maps)."""
    nside, lmax = 32, 6
    maps = random_smooth_maps(2, nside, lmax=lmax, random_state=0)
    rotator = hp.Rotator(rot=(0.5, 0.8, 0.2), deg=False)
    for m in maps:
        alm = rotator.rotate_alm(hp.map2alm(m, lmax=lmax, iter=3), lmax=lmax)
        exact = hp.alm2map(alm, nside, lmax=lmax)
        interpolated = rotate_maps(m, rotator.mat)
        assert np.linalg.norm(interpolated - exact) / np.linalg.norm(exact) < 0.01


def test_per_map_rotations_and_channels():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 2, hp.nside2npix(4)))
    R = random_rotations(3, random_state=0)
    rotated = rotate_maps(maps, R)
    for i in range(3):
        np.testing.assert_allclose(rotated[i], rotate_maps(maps[i], R[i]), atol=1e-12)
    pixels, weights = rotation_resampling(4, R, nest=True)
    assert pixels.shape == weights.shape == (3, 4, 192)
    assert pixels.min() >= 0 and pixels.max() < 192 and weights.min() >= 0
    np.testing.assert_allclose(weights.sum(axis=1), 1)


def test_rotate_maps_bad_input():
    maps = np.zeros((2, 192))
    with pytest.raises(ValueError, match="2 rotations for 3 maps"):
        rotate_maps(np.zeros((3, 192)), random_rotations(2, random_state=0))
    with pytest.raises(ValueError, match="orthogonal"):
        rotate_maps(maps, 2 * np.eye(3))
    with pytest.raises(ValueError, match=r"shape \(n_rotations, 3, 3\)"):
        rotate_maps(maps, np.eye(2))
    with pytest.raises(ValueError, match="not a full HEALPix sky"):
        rotate_maps(np.zeros((2, 100)), np.eye(3))


def test_roundtrip_error_is_the_interpolation_floor():
    coarse = random_smooth_maps(3, 8, lmax=8, random_state=0)
    fine = random_smooth_maps(3, 32, lmax=8, random_state=0)
    error_coarse = rotation_roundtrip_error(coarse, n_rotations=3, random_state=0)
    error_fine = rotation_roundtrip_error(fine, n_rotations=3, random_state=0)
    assert 0 < error_fine < error_coarse < 0.3
    assert error_fine < 0.02


def test_random_smooth_maps():
    maps = random_smooth_maps(3, 8, lmax=4, random_state=0)
    np.testing.assert_allclose(maps.std(axis=1), 1)
    np.testing.assert_allclose(maps.mean(axis=1), 0, atol=1e-2)  # no monopole
    cl = hp.anafast(maps[0], lmax=12)
    assert cl[6:].max() < 1e-6 * cl[1:5].max()  # band-limited
    nested = random_smooth_maps(3, 8, lmax=4, nest=True, random_state=0)
    np.testing.assert_allclose(nested, [hp.reorder(m, r2n=True) for m in maps])
    with pytest.raises(ValueError, match="lmax must be in"):
        random_smooth_maps(1, 8, lmax=24)


def chebconv_error(nside, lmax=8):
    maps = random_smooth_maps(4, nside, lmax=lmax, nest=True, random_state=0)
    torch.manual_seed(0)
    conv = ChebConv(1, 4, healpix_laplacian(nside), cheb_order=5, bias=False)
    return empirical_equivariance_error(conv, maps, n_rotations=3, random_state=0)


def test_chebconv_is_nearly_equivariant_and_improves_with_nside():
    errors = [chebconv_error(8), chebconv_error(16)]
    assert errors[1] < errors[0] < 0.25
    assert errors[1] < 0.15


def test_pixel_shuffle_is_not_equivariant():
    maps = random_smooth_maps(4, 16, lmax=8, nest=True, random_state=0)
    shuffle = np.random.default_rng(0).permutation(maps.shape[1])
    error = empirical_equivariance_error(lambda x: x[..., shuffle], maps, n_rotations=3,
                                        random_state=0)
    assert error > 0.5


def test_harmonic_filter_is_equivariant_up_to_the_floor():
    """An isotropic filter applied with healpy is exactly equivariant."""
    nside, lmax = 16, 8
    maps = random_smooth_maps(3, nside, lmax=lmax, random_state=0)
    response = np.exp(-np.arange(lmax + 1) / 3.0)

    def harmonic_filter(x):
        out = [hp.alm2map(hp.almxfl(hp.map2alm(m, lmax=lmax, iter=3), response), nside,
                          lmax=lmax) for m in x[:, 0]]
        return np.array(out)[:, None]

    error = empirical_equivariance_error(harmonic_filter, maps, n_rotations=3, nest=False,
                                        random_state=0)
    floor = rotation_roundtrip_error(maps, n_rotations=3, random_state=0)
    assert error < floor


def test_layer_changing_resolution():
    """A convolution followed by pooling is compared at the output's nside."""
    laplacians, _, parents = laplacian_hierarchy(16, None, 1)
    torch.manual_seed(0)
    layer = torch.nn.Sequential(ChebConv(1, 2, laplacians[0], cheb_order=3),
                                HealpixPool(parents[0], mode="avg"))
    maps = random_smooth_maps(3, 16, lmax=6, nest=True, random_state=0)
    assert empirical_equivariance_error(layer, maps, n_rotations=2, random_state=0) < 0.15
    assert layer.training  # the mode is restored


def test_invariance_error_of_estimators():
    maps = random_smooth_maps(20, 8, lmax=8, random_state=0)
    y = np.arange(20) % 2
    constant = DummyClassifier(strategy="prior").fit(maps, y)
    assert empirical_equivariance_error(constant, maps, n_rotations=2, random_state=0) == 0
    pixelwise = LogisticRegression().fit(maps, y)
    assert empirical_equivariance_error(pixelwise, maps, n_rotations=2, random_state=0) > 0.1
    # no predict_proba: the decision function (not the labels) is compared
    svc = SVC().fit(maps, y)
    error = empirical_equivariance_error(svc, maps, n_rotations=2, random_state=0)
    assert np.isfinite(error) and error > 0.1


def test_equivariance_error_bad_input():
    maps = random_smooth_maps(2, 8, random_state=0)
    with pytest.raises(TypeError, match="torch module, a fitted estimator or a callable"):
        empirical_equivariance_error("conv", maps)
    with pytest.raises(ValueError, match="must return maps of shape"):
        empirical_equivariance_error(lambda x: x.sum(axis=2), maps)
    with pytest.raises(ValueError, match="not a full HEALPix sky"):
        empirical_equivariance_error(lambda x: x, maps[:, :100])


def test_random_batch_rotation_matches_rotate_maps():
    nside = 8
    maps = random_smooth_maps(5, nside, nest=True, random_state=0)
    batch = torch.as_tensor(np.stack([maps, -maps], axis=1), dtype=torch.float64)
    rotated = RandomBatchRotation(nside, random_state=0)(batch).numpy()
    expected = rotate_maps(batch.numpy(), random_rotations(5, random_state=0), nest=True)
    np.testing.assert_allclose(rotated, expected, atol=1e-12)
    # a fresh rotation at every call
    rotate = RandomBatchRotation(nside, random_state=0)
    assert not torch.allclose(rotate(batch), rotate(batch))


@pytest.mark.parametrize("nest", [False, True])
def test_grid_rotations_are_the_grid_symmetries(nest):
    # 8 distinct proper rotations, closed under products; each one's
    # permutation is a bijection at every nside and equals the bilinear
    # rotation (healpy's interpolation at pixel centres), which is exact there.
    rotations = grid_rotations()
    assert rotations.shape == (8, 3, 3)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-12)
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1),
                               np.broadcast_to(np.eye(3), (8, 3, 3)), atol=1e-12)
    flat = rotations.reshape(8, 9)
    assert len(np.unique(flat.round(9), axis=0)) == 8
    for a in rotations:
        for b in rotations:
            assert np.abs(flat - (a @ b).ravel()).max(axis=1).min() < 1e-12
    for nside in (1, 2, 4, 16):
        permutations = grid_permutations(nside, nest=nest)
        assert (np.sort(permutations, axis=1) == np.arange(12 * nside**2)).all()
    maps = random_smooth_maps(3, 8, nest=nest, random_state=0)
    for rotation, permutation in zip(rotations, grid_permutations(8, nest=nest)):
        np.testing.assert_allclose(maps[:, permutation], rotate_maps(maps, rotation, nest=nest),
                                   atol=1e-12)


def test_random_batch_grid_rotation_permutes_exactly():
    nside = 4
    batch = torch.randn(64, 2, 12 * nside**2, dtype=torch.float64)
    rotated = RandomBatchRotation(nside, random_state=0, rotations="grid")(batch)
    candidates = batch[..., grid_permutations(nside, nest=True)]  # (64, 2, 8, n_pixels)
    # every map is rotated by one of the 8 (both channels alike), all 8 occur
    matches = (candidates == rotated[:, :, None]).all(-1).all(1)
    assert (matches.sum(1) == 1).all()
    assert set(matches.long().argmax(1).tolist()) == set(range(8))
    again = RandomBatchRotation(nside, random_state=0, rotations="grid")(batch)
    assert torch.equal(again, rotated)
    with pytest.raises(ValueError, match="rotations must be 'uniform' or 'grid'"):
        RandomBatchRotation(nside, rotations="exact")


def test_top_level_name_without_torch():
    import subprocess
    import sys

    code = ("import sys, skdeepsphere, skdeepsphere.datasets; "
            "f = skdeepsphere.empirical_equivariance_error; "
            "assert f is skdeepsphere.rotation.empirical_equivariance_error; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)

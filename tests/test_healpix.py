import healpy as hp
import numpy as np
import pytest

from skdeepsphere.healpix import (
    check_maps,
    check_nside,
    infer_nside,
    nested_order,
    npix_to_nside,
    parent_hierarchy,
    patch_pixels,
)


@pytest.mark.parametrize("nside", [1, 2, 8, 1024])
def test_check_nside_accepts_powers_of_two(nside):
    assert check_nside(np.int64(nside)) == nside


@pytest.mark.parametrize("nside, error", [(0, ValueError), (3, ValueError), (12, ValueError),
                                          (2.0, TypeError), (True, TypeError), ("8", TypeError)])
def test_check_nside_rejects(nside, error):
    with pytest.raises(error, match="nside"):
        check_nside(nside)


@pytest.mark.parametrize("nside", [1, 4, 32])
def test_npix_to_nside_matches_healpy(nside):
    assert npix_to_nside(hp.nside2npix(nside)) == nside


@pytest.mark.parametrize("npix", [0, 10, 100, 767])
def test_npix_to_nside_rejects_partial(npix):
    with pytest.raises(ValueError, match="not a full HEALPix sky"):
        npix_to_nside(npix)


def test_npix_to_nside_rejects_ring_only_resolution():
    with pytest.raises(ValueError, match="power of 2"):
        npix_to_nside(12 * 9)


def test_infer_nside_checks_pixels():
    assert infer_nside(192, nside=4) == 4
    assert infer_nside(3, nside=4, pixels=[0, 1, 2]) == 4
    with pytest.raises(ValueError, match="full sky at nside=8 has 768"):
        infer_nside(192, nside=8)
    with pytest.raises(ValueError, match="`pixels` lists 3"):
        infer_nside(4, nside=4, pixels=[0, 1, 2])
    with pytest.raises(ValueError, match="needs `nside`"):
        infer_nside(3, pixels=[0, 1, 2])


@pytest.mark.parametrize("nside", [1, 2, 8])
def test_nested_order_full_sky_matches_healpy_reorder(nside):
    ring_map = np.random.default_rng(0).normal(size=hp.nside2npix(nside))
    order, nested = nested_order(nside)
    np.testing.assert_array_equal(ring_map[order], hp.reorder(ring_map, r2n=True))
    np.testing.assert_array_equal(nested, np.arange(hp.nside2npix(nside)))
    order, _ = nested_order(nside, nest=True)
    np.testing.assert_array_equal(order, np.arange(hp.nside2npix(nside)))


@pytest.mark.parametrize("nest", [False, True])
def test_nested_order_partial_sky(nest):
    nside = 8
    rng = np.random.default_rng(1)
    pixels = rng.choice(hp.nside2npix(nside), size=50, replace=False)
    order, nested = nested_order(nside, pixels, nest=nest)
    expected = pixels if nest else hp.ring2nest(nside, pixels)
    np.testing.assert_array_equal(nested, np.sort(expected))
    np.testing.assert_array_equal(expected[order], nested)


@pytest.mark.parametrize("pixels, error, match", [
    ([0, 0, 1], ValueError, "duplicates"),
    ([-1, 2], ValueError, r"\[0, 768\)"),
    ([0, 768], ValueError, r"\[0, 768\)"),
    ([], ValueError, "non-empty"),
    ([[0, 1]], ValueError, "1-D"),
    ([0.5, 1.0], TypeError, "integer"),
])
def test_nested_order_rejects_bad_pixels(pixels, error, match):
    with pytest.raises(error, match=match):
        nested_order(8, pixels)


def test_nested_order_rejects_unknown_ordering():
    with pytest.raises(TypeError, match="nest"):
        nested_order(8, nest="ring")


def test_parent_hierarchy_against_numpy():
    pixels = np.array([0, 1, 2, 3, 9, 17, 18, 40])
    sets, parents = parent_hierarchy(pixels, 2)
    np.testing.assert_array_equal(sets[1], [0, 2, 4, 10])
    np.testing.assert_array_equal(sets[1][parents[0]], pixels // 4)
    np.testing.assert_array_equal(sets[2], [0, 1, 2])
    np.testing.assert_array_equal(sets[2][parents[1]], sets[1] // 4)


@pytest.mark.parametrize("nside, order", [(4, 1), (8, 2), (16, 4), (8, 8)])
def test_patch_pixels_tile_the_sphere(nside, order):
    nested = patch_pixels(nside, order, nest=True)
    assert nested.shape == (12 * order**2, (nside // order) ** 2)
    np.testing.assert_array_equal(np.sort(nested.ravel()), np.arange(hp.nside2npix(nside)))
    # Each patch lies inside one pixel of the coarse resolution `order`.
    theta, phi = hp.pix2ang(nside, nested, nest=True)
    coarse = hp.ang2pix(order, theta, phi, nest=True)
    np.testing.assert_array_equal(coarse, np.repeat(np.arange(12 * order**2)[:, None],
                                                    nested.shape[1], axis=1))
    ring = patch_pixels(nside, order, nest=False)
    np.testing.assert_array_equal(hp.ring2nest(nside, ring), nested)


def test_patch_pixels_rejects_large_order():
    with pytest.raises(ValueError, match="must not exceed"):
        patch_pixels(4, 8)


def test_check_maps_shapes_and_errors():
    assert check_maps(np.zeros((2, 3, 12))).shape == (2, 3, 12)
    assert check_maps([[0.0] * 12]).shape == (1, 1, 12)
    with pytest.raises(ValueError, match="shape"):
        check_maps(np.zeros(12))
    with pytest.raises(ValueError, match="NaN"):
        check_maps(np.full((1, 12), np.nan))
    assert np.isnan(check_maps(np.full((1, 12), np.nan), allow_nan=True)).all()
    with pytest.raises(ValueError, match="infinite"):
        check_maps(np.full((1, 12), np.inf), allow_nan=True)
    with pytest.raises(TypeError, match="numeric"):
        check_maps([["a"] * 12])
    with pytest.raises(ValueError, match="empty"):
        check_maps(np.zeros((0, 12)))

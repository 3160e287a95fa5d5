import healpy as hp
import numpy as np
import pytest

from skdeepsphere.graph import (
    estimate_lmax,
    healpix_laplacian,
    healpix_weights,
    laplacian_hierarchy,
    normalized_laplacian,
    rescale_laplacian,
)


def dense_healpix_laplacian(nside, pixels):
    """Independent construction: loops over pixels, dense numpy."""
    n = len(pixels)
    index = {p: i for i, p in enumerate(pixels)}
    vectors = np.array(hp.pix2vec(nside, pixels, nest=True)).T
    edges = []
    for i, p in enumerate(pixels):
        for q in hp.get_all_neighbours(nside, p, nest=True):
            if q >= 0 and q in index:
                edges.append((i, index[q], np.sum((vectors[i] - vectors[index[q]]) ** 2)))
    width = np.mean([d for _, _, d in edges])
    W = np.zeros((n, n))
    for i, j, d in edges:
        W[i, j] = np.exp(-d / (2 * width))
    degree = W.sum(1)
    with np.errstate(divide="ignore"):
        inv = np.where(degree > 0, 1 / np.sqrt(degree), 0)
    return np.eye(n) - inv[:, None] * W * inv[None, :]


@pytest.mark.parametrize("nside", [1, 2, 4, 8])
def test_laplacian_matches_dense_construction(nside):
    pixels = np.arange(hp.nside2npix(nside))
    expected = dense_healpix_laplacian(nside, pixels)
    actual = normalized_laplacian(healpix_weights(nside)).toarray()
    np.testing.assert_allclose(actual, expected, atol=1e-12)


def test_partial_sky_laplacian_matches_dense_construction():
    rng = np.random.default_rng(0)
    pixels = np.sort(rng.choice(768, size=300, replace=False))
    expected = dense_healpix_laplacian(8, pixels)
    actual = normalized_laplacian(healpix_weights(8, pixels)).toarray()
    np.testing.assert_allclose(actual, expected, atol=1e-12)


def test_weights_structure():
    W = healpix_weights(8)
    degree = np.diff(W.indptr)
    assert set(degree) == {7, 8}
    assert (degree == 7).sum() == 24  # 8 corner pixels x 3 ... see healpy docs
    assert abs(W - W.T).max() == 0
    assert W.diagonal().max() == 0


def test_knn_graph_has_k_neighbours_and_is_symmetric():
    W = healpix_weights(4, n_neighbours=20)
    assert abs(W - W.T).max() == 0
    assert np.diff(W.indptr).min() >= 20


def test_kernel_width_validation():
    with pytest.raises(ValueError, match="kernel_width"):
        healpix_weights(4, kernel_width=-1.0)
    with pytest.raises(ValueError, match="n_neighbours"):
        healpix_weights(1, n_neighbours=20)


@pytest.mark.parametrize("nside", [2, 4, 8])
def test_lmax_estimate_bounds_the_spectrum(nside):
    L = normalized_laplacian(healpix_weights(nside))
    largest = np.linalg.eigvalsh(L.toarray()).max()
    lmax = estimate_lmax(L)
    assert largest < lmax <= 1.02 * largest


def test_rescaled_spectrum_in_unit_interval():
    L = healpix_laplacian(8)
    eigenvalues = np.linalg.eigvalsh(L.toarray().astype(np.float64))
    assert eigenvalues.min() >= -1 - 1e-5 and eigenvalues.max() <= 1 + 1e-5
    np.testing.assert_allclose(eigenvalues.min(), -1, atol=1e-5)
    L2 = healpix_laplacian(8, lmax=2.0)
    expected = rescale_laplacian(normalized_laplacian(healpix_weights(8)), 2.0)
    assert abs(L2 - expected).max() == 0
    with pytest.raises(ValueError, match="lmax"):
        healpix_laplacian(4, lmax="bound")


def test_constant_lies_in_the_null_space_direction():
    # L D^{1/2} 1 = 0 for the normalised Laplacian.
    W = healpix_weights(8)
    L = normalized_laplacian(W)
    sqrt_degree = np.sqrt(np.asarray(W.sum(1)).ravel())
    np.testing.assert_allclose(L @ sqrt_degree, 0, atol=1e-12)


@pytest.mark.parametrize("pixels", [None, np.arange(100, 400)])
def test_hierarchy_levels(pixels):
    laplacians, sets, parents = laplacian_hierarchy(8, pixels, 3)
    assert len(laplacians) == 4 and len(parents) == 3
    for level, (L, s) in enumerate(zip(laplacians, sets)):
        assert L.shape == (len(s), len(s))
        expected = healpix_laplacian(8 >> level, s if pixels is not None else None)
        assert abs(L - expected).max() < 1e-6
    with pytest.raises(ValueError, match="at most 3 levels"):
        laplacian_hierarchy(8, pixels, 4)

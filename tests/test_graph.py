import healpy as hp
import numpy as np
import pytest

from scipy import sparse
from scipy.special import sph_harm_y

from skdeepsphere import graph as graph_module
from skdeepsphere._kernel_widths import KERNEL_WIDTHS
from skdeepsphere.graph import (
    harmonic_equivariance_error,
    estimate_max_eigenvalue,
    healpix_laplacian,
    healpix_weights,
    knn_kernel_width,
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


def dense_knn_check(W, nside, pixels, k, kernel_width):
    """Compare a k-NN graph with brute-force distances (dense numpy)."""
    vectors = np.array(hp.pix2vec(nside, pixels, nest=True)).T
    squared = np.sum((vectors[:, None] - vectors[None]) ** 2, axis=-1)
    np.fill_diagonal(squared, np.inf)
    kth = np.sort(squared, axis=1)[:, k - 1]  # squared distance of the k-th nearest
    W = W.toarray()
    edges = W > 0
    # Every pixel strictly closer than the k-th nearest is a neighbour (ties
    # at the k-th distance may go either way) ...
    assert np.all(edges[squared < kth[:, None] * (1 - 1e-9)])
    # ... and every edge is among the k nearest of one of its ends.
    within = squared <= kth[:, None] * (1 + 1e-9)
    assert np.all(within[edges] | within.T[edges])
    # (distances are rounded to float32 inside: 1e-6 relative on the weights)
    np.testing.assert_allclose(W[edges], np.exp(-squared[edges] / (4 * kernel_width)),
                               rtol=1e-6)


@pytest.mark.parametrize("k", [8, 20, 40])
def test_knn_graph_matches_brute_force(k):
    nside = 8
    W = healpix_weights(nside, graph="knn", n_neighbors=k)
    assert abs(W - W.T).max() == 0
    assert W.data.min() > 0 and W.diagonal().max() == 0
    assert np.diff(W.indptr).min() >= k
    dense_knn_check(W, nside, np.arange(768), k, knn_kernel_width(nside, k))


def test_knn_graph_on_a_partial_sky():
    rng = np.random.default_rng(1)
    pixels = np.sort(rng.choice(768, size=250, replace=False))
    W = healpix_weights(8, pixels, graph="knn", n_neighbors=12, kernel_width=0.01)
    assert W.shape == (250, 250) and abs(W - W.T).max() == 0
    assert np.diff(W.indptr).min() >= 12
    dense_knn_check(W, 8, pixels, 12, 0.01)


def test_knn_is_not_the_neighbour_graph():
    # k = 8 nearest centres differ from healpy's 8 neighbours (which have
    # 7 at some pixels and reach further along the diagonals).
    neighbours = healpix_weights(8) > 0
    knn = healpix_weights(8, graph="knn", n_neighbors=8) > 0
    assert (neighbours != knn).nnz > 0


def test_kernel_width_is_the_papers_t():
    # exp(-d^2 / 4t): the default of the neighbour graph is t = mean(d^2) / 2.
    W = healpix_weights(4).tocoo()
    vectors = np.array(hp.pix2vec(4, np.arange(192), nest=True)).T
    squared = np.sum((vectors[W.row] - vectors[W.col]) ** 2, axis=1)
    np.testing.assert_allclose(W.data, np.exp(-squared / (2 * squared.mean())), rtol=1e-12)
    W = healpix_weights(4, kernel_width=0.02).tocoo()
    np.testing.assert_allclose(W.data, np.exp(-squared / 0.08), rtol=1e-12)


def test_graph_validation():
    with pytest.raises(ValueError, match="kernel_width"):
        healpix_weights(4, kernel_width=-1.0)
    with pytest.raises(ValueError, match="n_neighbors"):
        healpix_weights(1, graph="knn", n_neighbors=20)
    with pytest.raises(ValueError, match="graph='knn'"):
        healpix_weights(4, n_neighbors=20)
    with pytest.raises(ValueError, match="graph must be one of"):
        healpix_weights(4, graph="nearest")
    with pytest.raises(TypeError, match="n_neighbors"):
        healpix_weights(4, graph="knn", n_neighbors=2.5)
    assert (healpix_weights(4, n_neighbors=8) != healpix_weights(4)).nnz == 0


def test_knn_kernel_width_table_and_extrapolation():
    for k, widths in KERNEL_WIDTHS.items():
        for nside, t in widths.items():
            assert knn_kernel_width(nside, k) == pytest.approx(t, rel=1e-12)
    largest = max(KERNEL_WIDTHS[20])
    assert knn_kernel_width(4 * largest, 20) == pytest.approx(
        KERNEL_WIDTHS[20][largest] / 16, rel=1e-12)
    # k between tabulated values: in between; beyond them: proportional to k
    assert knn_kernel_width(16, 8) < knn_kernel_width(16, 12) < knn_kernel_width(16, 20)
    assert knn_kernel_width(16, 80) == pytest.approx(2 * knn_kernel_width(16, 40))
    assert knn_kernel_width(16, 4) == pytest.approx(knn_kernel_width(16, 8) / 2)


@pytest.mark.parametrize("nside", [2, 4, 8])
def test_lmax_estimate_bounds_the_spectrum(nside):
    L = normalized_laplacian(healpix_weights(nside))
    largest = np.linalg.eigvalsh(L.toarray()).max()
    max_eigenvalue = estimate_max_eigenvalue(L)
    assert largest < max_eigenvalue <= 1.02 * largest


def test_rescaled_spectrum_in_unit_interval():
    L = healpix_laplacian(8)
    eigenvalues = np.linalg.eigvalsh(L.toarray().astype(np.float64))
    assert eigenvalues.min() >= -1 - 1e-5 and eigenvalues.max() <= 1 + 1e-5
    np.testing.assert_allclose(eigenvalues.min(), -1, atol=1e-5)
    L2 = healpix_laplacian(8, max_eigenvalue=2.0)
    expected = rescale_laplacian(normalized_laplacian(healpix_weights(8)), 2.0)
    assert abs(L2 - expected).max() == 0
    with pytest.raises(ValueError, match="max_eigenvalue"):
        healpix_laplacian(4, max_eigenvalue="bound")


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


@pytest.mark.parametrize("pixels", [None, np.arange(64, 320), np.arange(64)])
def test_knn_hierarchy_levels(pixels):
    # np.arange(64) pools down to a single pixel at nside 1.
    laplacians, sets, _ = laplacian_hierarchy(8, pixels, 3, graph="knn", n_neighbors=20)
    assert [len(s) for s in sets][-1] == (12 if pixels is None else len(pixels) // 64)
    for level, (L, s) in enumerate(zip(laplacians, sets)):
        assert L.shape == (len(s), len(s))
        if len(s) < 2:
            continue
        nside = 8 >> level
        expected = healpix_laplacian(
            nside, s if pixels is not None else None, graph="knn",
            n_neighbors=min(20, len(s) - 1), kernel_width=knn_kernel_width(nside, 20))
        assert abs(L - expected).max() < 1e-6
    with pytest.raises(ValueError, match="graph='knn'"):
        laplacian_hierarchy(8, pixels, 1, n_neighbors=20)


def test_large_laplacians_are_cached_on_disk(tmp_path, monkeypatch):
    calls = []
    build = graph_module.healpix_laplacian

    def counting(*args, **kwargs):
        calls.append(args[0])
        return build(*args, **kwargs)

    monkeypatch.setattr(graph_module, "healpix_laplacian", counting)
    monkeypatch.setattr(graph_module, "_CACHE_MIN_PIXELS", 48)  # nside >= 2
    monkeypatch.setenv("SKDEEPSPHERE_CACHE", str(tmp_path))
    first, _, _ = laplacian_hierarchy(4, None, 2, graph="knn")
    assert calls == [4, 2, 1]
    second, _, _ = laplacian_hierarchy(4, None, 2, graph="knn")
    assert calls == [4, 2, 1, 1]  # nside 1 (12 pixels) is not cached
    for a, b in zip(first, second):
        assert abs(a - b).max() == 0
    laplacian_hierarchy(4, None, 2, graph="knn", n_neighbors=8)  # another key
    assert calls[4:] == [4, 2, 1]
    assert any(tmp_path.iterdir())
    monkeypatch.setenv("SKDEEPSPHERE_CACHE", "")  # disabled
    laplacian_hierarchy(4, None, 2, graph="knn")
    assert calls[7:] == [4, 2, 1]


def test_unusable_cache_warns_and_builds(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SKDEEPSPHERE_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(graph_module, "_CACHE_MIN_PIXELS", 48)
    with pytest.warns(RuntimeWarning, match="cannot use the graph cache"):
        laplacians, _, _ = laplacian_hierarchy(2, None, 0, graph="knn")
    assert abs(laplacians[0] - healpix_laplacian(
        2, graph="knn", kernel_width=knn_kernel_width(2, 20))).max() == 0


def test_cache_directory(monkeypatch):
    monkeypatch.delenv("SKDEEPSPHERE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/some/cache")
    assert graph_module.cache_directory() == "/some/cache/skdeepsphere"
    monkeypatch.setenv("SKDEEPSPHERE_CACHE", "/elsewhere")
    assert graph_module.cache_directory() == "/elsewhere"


def reference_equivariance_error(laplacian, nside, ell):
    """Independent: scipy's complex harmonics, dense residual of the best c Q."""
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), nest=True)
    harmonics = np.array([sph_harm_y(ell, m, theta, phi) for m in range(-ell, ell + 1)])
    real = np.concatenate([harmonics.real, harmonics.imag]).T
    u, singular, _ = np.linalg.svd(real, full_matrices=False)
    basis = u[:, singular > 1e-8 * singular.max()]  # Im Y_l0 = 0, Y_l-m ~ Y_lm
    assert basis.shape[1] == 2 * ell + 1
    filtered = laplacian @ basis
    c = np.trace(basis.T @ filtered) / basis.shape[1]
    return np.linalg.norm(filtered - c * basis) / np.linalg.norm(filtered)


@pytest.mark.parametrize("graph", ["neighbours", "knn"])
def test_equivariance_error_matches_reference(graph):
    L = normalized_laplacian(healpix_weights(8, graph=graph)).toarray()
    ells = [1, 3, 7]
    expected = [reference_equivariance_error(L, 8, ell) for ell in ells]
    np.testing.assert_allclose(harmonic_equivariance_error(L, ells), expected, rtol=1e-8)


def test_equivariance_error_is_leakage_and_spread_as_documented():
    """The docstring's decomposition: E^2 = (||(I - QQ^T) L Q||^2
    + ||Q^T L Q - mean eigenvalue I||^2) / ||L Q||^2, larger than the
    leakage alone."""
    L = normalized_laplacian(healpix_weights(4)).toarray()
    for ell in (2, 5):
        Q = graph_module._harmonic_basis(4, ell, np.arange(192))
        inside = Q.T @ L @ Q
        leakage = np.linalg.norm(L @ Q - Q @ inside) ** 2
        mean_eigenvalue = np.trace(inside) / (2 * ell + 1)
        spread = np.linalg.norm(inside - mean_eigenvalue * np.eye(2 * ell + 1)) ** 2
        total = np.linalg.norm(L @ Q) ** 2
        error = harmonic_equivariance_error(L, [ell])[0]
        np.testing.assert_allclose(error**2, (leakage + spread) / total, rtol=1e-8)
        assert error > np.sqrt(leakage / total) * 1.001


def test_equivariance_error_of_an_equivariant_operator_is_zero():
    # 2 I + the projector on degree 3: maps degree 3 to itself times 3.
    pixels = np.arange(192)
    basis = graph_module._harmonic_basis(4, 3, pixels)
    operator = 2 * np.eye(192) + basis @ basis.T
    assert harmonic_equivariance_error(operator, [3])[0] < 1e-7
    assert harmonic_equivariance_error(np.diag(np.arange(192.0)), [3])[0] > 0.1
    with pytest.raises(ValueError, match="ells"):
        harmonic_equivariance_error(operator, [0])
    with pytest.raises(ValueError, match="does not match"):
        harmonic_equivariance_error(operator, [1], nside=8)


def test_knn_graphs_are_more_equivariant():
    nside, ells = 16, [2, 5, 10, 20]
    errors = [
        harmonic_equivariance_error(normalized_laplacian(healpix_weights(nside, **kwargs)), ells)
        for kwargs in [{}, dict(graph="knn", n_neighbors=20),
                       dict(graph="knn", n_neighbors=40)]
    ]
    assert np.all(errors[0] > errors[1]) and np.all(errors[1] > errors[2])
    # and the tuned width beats the mean-distance rule at the same k
    vectors = np.array(hp.pix2vec(nside, np.arange(3072), nest=True)).T
    W = healpix_weights(nside, graph="knn", n_neighbors=20).tocoo()
    mean_rule = np.mean(np.sum((vectors[W.row] - vectors[W.col]) ** 2, axis=1)) / 2
    untuned = normalized_laplacian(healpix_weights(
        nside, graph="knn", n_neighbors=20, kernel_width=mean_rule))
    assert harmonic_equivariance_error(untuned, ells).mean() > errors[1].mean()


@pytest.mark.parametrize("nside, k", [(16, 20), (8, 40)])
def test_knn_symmetrisation_matches_scipy_maximum(nside, k):
    npix = hp.nside2npix(nside)
    vectors = np.array(hp.pix2vec(nside, np.arange(npix), nest=True)).T
    squared, cols = graph_module._knn_squared_distances(vectors, k)
    directed = sparse.csr_matrix((squared.ravel(), cols.ravel(), np.arange(0, npix * k + 1, k)),
                                 shape=(npix, npix))
    expected = directed.maximum(directed.T)
    actual = graph_module._symmetric_knn(squared, cols)
    assert actual.nnz == expected.nnz and abs(actual - expected).max() == 0

"""SparseLaplacian and ChebConv against dense numpy references."""

import io
import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import sparse

from skdeepsphere.graph import healpix_laplacian
from skdeepsphere.nn import ChebConv, SparseLaplacian, chebyshev_basis

RTOL, ATOL = 1e-5, 1e-5


def _laplacians():
    partial = np.arange(300, 700)  # a contiguous nested patch of nside 8
    return {
        "full4": healpix_laplacian(4),
        "full8": healpix_laplacian(8),
        "partial8": healpix_laplacian(8, partial),
        "knn20": healpix_laplacian(4, graph="knn", n_neighbours=20),
    }


LAPLACIANS = _laplacians()


@pytest.fixture
def scipy_kernel(monkeypatch):
    monkeypatch.setenv("SKDEEPSPHERE_COMPILE", "0")


def _dense_chebyshev(laplacian, x, weight):
    """sum_k T_k(L) x theta_k with dense float64 matrices; x (B, C_in, n)."""
    L = laplacian.toarray().astype(np.float64)
    terms = [np.eye(L.shape[0]), L]
    for _ in range(2, weight.shape[0]):
        terms.append(2 * L @ terms[-1] - terms[-2])
    return sum(np.einsum("pq,biq,io->bop", T, x, w) for T, w in zip(terms, weight))


@pytest.mark.parametrize("name", list(LAPLACIANS))
def test_apply_matches_dense(name, scipy_kernel):
    _check_apply(LAPLACIANS[name])


@pytest.mark.parametrize("name", ["full8"])
def test_compiled_apply_matches_dense(name, monkeypatch):
    monkeypatch.setenv("SKDEEPSPHERE_COMPILE", "1")
    _check_apply(LAPLACIANS[name])


def _check_apply(laplacian):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((laplacian.shape[0], 6)).astype(np.float32)
    operator = SparseLaplacian(laplacian)
    expected = laplacian.toarray().astype(np.float64) @ x
    assert_allclose(operator(torch.from_numpy(x)).numpy(), expected, rtol=RTOL, atol=ATOL)
    previous = rng.standard_normal(x.shape).astype(np.float32)
    step = operator.chebyshev_step(torch.from_numpy(x), torch.from_numpy(previous))
    assert_allclose(step.numpy(), 2 * expected - previous, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["full4", "knn20"])
def test_gradients_match_dense(name, scipy_kernel):
    _check_gradients(LAPLACIANS[name])


def test_compiled_gradients_match_dense(monkeypatch):
    monkeypatch.setenv("SKDEEPSPHERE_COMPILE", "1")
    _check_gradients(LAPLACIANS["full8"])


def _check_gradients(laplacian):
    operator = SparseLaplacian(laplacian)
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.standard_normal((laplacian.shape[0], 3)), dtype=torch.float32,
                     requires_grad=True)
    previous = torch.randn(x.shape, requires_grad=True)
    grad_out = rng.standard_normal(x.shape)
    operator.chebyshev_step(operator(x), previous).backward(torch.from_numpy(grad_out).float())
    L = laplacian.toarray().astype(np.float64)
    assert_allclose(x.grad.numpy(), L.T @ (2 * L.T @ grad_out), rtol=1e-4, atol=1e-4)
    assert_allclose(previous.grad.numpy(), -grad_out, rtol=RTOL, atol=ATOL)


def test_gradcheck_float64(scipy_kernel):
    operator = SparseLaplacian(LAPLACIANS["partial8"])
    x = torch.randn(operator.n_pixels, 2, dtype=torch.float64, requires_grad=True)
    previous = torch.randn(operator.n_pixels, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(operator, (x,))
    assert torch.autograd.gradcheck(operator.chebyshev_step, (x, previous))


@pytest.mark.parametrize("name", ["full4", "partial8"])
@pytest.mark.parametrize("cheb_order", [1, 2, 5])
def test_chebconv_matches_dense(name, cheb_order, scipy_kernel):
    laplacian = LAPLACIANS[name]
    torch.manual_seed(0)
    conv = ChebConv(3, 4, laplacian, cheb_order=cheb_order)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 3, laplacian.shape[0])
    expected = _dense_chebyshev(laplacian, x.double().numpy(), conv.weight.double().detach().numpy())
    expected += conv.bias.detach().numpy()[:, None]
    assert_allclose(conv(x).detach().numpy(), expected, rtol=1e-4, atol=1e-4)


def test_compiled_chebconv_matches_dense(monkeypatch):
    monkeypatch.setenv("SKDEEPSPHERE_COMPILE", "1")
    laplacian = LAPLACIANS["full8"]
    torch.manual_seed(0)
    conv = ChebConv(3, 4, laplacian, cheb_order=4)
    x = torch.randn(2, 3, laplacian.shape[0], requires_grad=True)
    weight = conv.weight.double().detach().numpy()
    expected = _dense_chebyshev(laplacian, x.double().detach().numpy(), weight)
    assert_allclose(conv(x).detach().numpy(), expected, rtol=1e-4, atol=1e-4)
    grad = np.random.default_rng(2).standard_normal(expected.shape)
    conv(x).backward(torch.from_numpy(grad).float())
    # The adjoint of x -> sum_k T_k(L) x theta_k, by the dense reference.
    expected_grad = _dense_chebyshev(laplacian, grad, weight.transpose(0, 2, 1))
    assert_allclose(x.grad.numpy(), expected_grad, rtol=1e-4, atol=1e-4)


def test_chebconv_gradients_match_dense_float64(scipy_kernel):
    laplacian = LAPLACIANS["full4"]
    conv = ChebConv(2, 2, laplacian, cheb_order=3).double()
    x = torch.randn(1, 2, laplacian.shape[0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,))


def test_chebyshev_basis_matches_stacked_terms():
    laplacian = LAPLACIANS["full4"]
    operator = SparseLaplacian(laplacian)
    x = torch.randn(laplacian.shape[0], 3)
    L = laplacian.toarray().astype(np.float64)
    basis = chebyshev_basis(operator, x, 4).numpy()
    expected = [x.double().numpy(), L @ x.double().numpy()]
    for _ in range(2):
        expected.append(2 * L @ expected[-1] - expected[-2])
    assert_allclose(basis, np.stack(expected), rtol=RTOL, atol=ATOL)


def test_rejects_asymmetric():
    with pytest.raises(ValueError, match="symmetric"):
        SparseLaplacian(sparse.csr_matrix(np.triu(np.ones((4, 4)))))


def test_device_state_dict_and_pickle():
    laplacian = LAPLACIANS["full4"]
    conv = ChebConv(2, 3, laplacian, cheb_order=3).to("cpu")
    x = torch.randn(1, 2, laplacian.shape[0])
    expected = conv(x)
    clone = ChebConv(2, 3, laplacian, cheb_order=3)
    buffer = io.BytesIO()
    torch.save(conv.state_dict(), buffer)
    buffer.seek(0)
    clone.load_state_dict(torch.load(buffer))
    assert torch.equal(clone(x), expected)
    restored = pickle.loads(pickle.dumps(conv))
    assert restored.laplacian.n_pixels == laplacian.shape[0]
    assert torch.equal(restored(x), expected)
    if torch.cuda.is_available():
        assert torch.allclose(conv.to("cuda")(x.cuda()).cpu(), expected, atol=1e-5)

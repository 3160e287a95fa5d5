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
        "knn20": healpix_laplacian(4, graph="knn", n_neighbors=20),
    }


LAPLACIANS = _laplacians()


@pytest.fixture
def eager_kernel(monkeypatch):
    monkeypatch.setenv("SKDEEPSPHERE_COMPILE", "0")


def _dense_chebyshev(laplacian, x, weight):
    """sum_k T_k(L) x theta_k with dense float64 matrices; x (B, C_in, n)."""
    L = laplacian.toarray().astype(np.float64)
    terms = [np.eye(L.shape[0]), L]
    for _ in range(2, weight.shape[0]):
        terms.append(2 * L @ terms[-1] - terms[-2])
    return sum(np.einsum("pq,biq,io->bop", T, x, w) for T, w in zip(terms, weight))


@pytest.mark.parametrize("name", list(LAPLACIANS))
def test_apply_matches_dense(name, eager_kernel):
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
def test_gradients_match_dense(name, eager_kernel):
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


def test_gradcheck_float64(eager_kernel):
    operator = SparseLaplacian(LAPLACIANS["partial8"])
    x = torch.randn(operator.n_pixels, 2, dtype=torch.float64, requires_grad=True)
    previous = torch.randn(operator.n_pixels, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(operator, (x,))
    assert torch.autograd.gradcheck(operator.chebyshev_step, (x, previous))


@pytest.mark.parametrize("name", ["full4", "partial8"])
@pytest.mark.parametrize("cheb_order", [1, 2, 5])
def test_chebconv_matches_dense(name, cheb_order, eager_kernel):
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


def test_chebconv_gradients_match_dense_float64(eager_kernel):
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


@pytest.fixture
def pooled(monkeypatch):
    """Route every float block through a fresh recycling pool."""
    from skdeepsphere.nn import sparse as sparse_module
    monkeypatch.setattr(sparse_module, "POOL_MIN_ELEMENTS", 1)
    monkeypatch.setattr(sparse_module, "_pool", sparse_module._BlockPool(2**30))
    return sparse_module


def test_pool_recycles_only_unreferenced_blocks(pooled):
    first = pooled.empty_block((4, 5))
    address = first.data_ptr()
    view = first[1:]
    del first
    # A live view keeps the array: a new block must be different memory.
    second = pooled.empty_block((5, 4))
    assert second.data_ptr() != address
    del view
    third = pooled.empty_block((2, 10))
    assert third.data_ptr() == address
    assert third.shape == (2, 10)
    # Other sizes and dtypes never share an array.
    assert pooled.empty_block((3, 3)).data_ptr() not in (address, second.data_ptr())
    assert pooled.empty_block((4, 5), torch.float64).dtype == torch.float64
    pooled.release_blocks()
    assert pooled._pool.nbytes == 0


def test_pool_capacity_drops_least_recently_used(pooled):
    pool = pooled._BlockPool(capacity=3 * 40)
    arrays = [pool.acquire(10, np.dtype(np.float32)) for _ in range(4)]
    assert pool.nbytes == 3 * 40
    del arrays
    assert pool.acquire(1000, np.dtype(np.float32)).nbytes == 4000  # not pooled
    assert pool.nbytes == 3 * 40


def test_pool_capacity_from_environment(monkeypatch, pooled):
    monkeypatch.setenv("SKDEEPSPHERE_POOL_MB", "1.5")
    assert pooled._pool_capacity() == int(1.5 * 2**20)
    monkeypatch.setenv("SKDEEPSPHERE_POOL_MB", "lots")
    with pytest.raises(ValueError, match="SKDEEPSPHERE_POOL_MB"):
        pooled._pool_capacity()


@pytest.mark.parametrize("compile_mode", ["0", "1"])
def test_chebconv_with_recycled_blocks_matches_dense(monkeypatch, pooled, compile_mode):
    # Two forward passes alive at once, then their backward passes in
    # reverse order: blocks saved by autograd must never be handed out again
    # while in use, and recycled blocks must not leak stale values.
    monkeypatch.setenv("SKDEEPSPHERE_COMPILE", compile_mode)
    laplacian = LAPLACIANS["partial8"]
    torch.manual_seed(0)
    conv = ChebConv(3, 4, laplacian, cheb_order=5)
    weight = conv.weight.double().detach().numpy()
    rng = np.random.default_rng(3)
    inputs = [torch.randn(2, 3, laplacian.shape[0], requires_grad=True) for _ in range(2)]
    grads = [rng.standard_normal((2, 4, laplacian.shape[0])) for _ in range(2)]
    for _ in range(2):  # the second round runs on recycled memory
        outputs = [conv(x) for x in inputs]
        for x, out in zip(inputs, outputs):
            expected = _dense_chebyshev(laplacian, x.double().detach().numpy(), weight)
            expected += conv.bias.detach().numpy()[:, None]
            assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-4)
        for x, out, grad in reversed(list(zip(inputs, outputs, grads))):
            x.grad = None
            out.backward(torch.from_numpy(grad).float())
            expected_grad = _dense_chebyshev(laplacian, grad, weight.transpose(0, 2, 1))
            assert_allclose(x.grad.numpy(), expected_grad, rtol=1e-4, atol=1e-4)
        del outputs
    assert pooled._pool.nbytes > 0


def test_transpose_into_matches_numpy(monkeypatch):
    from skdeepsphere.nn.sparse import transpose_into
    source = torch.randn(37, 91)
    for mode in ("0", "1"):
        monkeypatch.setenv("SKDEEPSPHERE_COMPILE", mode)
        out = transpose_into(source, torch.empty(91, 37))
        assert_allclose(out.numpy(), source.numpy().T)


def test_compiled_kernel_guards_its_unchecked_gathers(monkeypatch):
    # The compiled kernels index without bounds checks: shapes and the
    # neighbour table are validated before every call instead.
    monkeypatch.setenv("SKDEEPSPHERE_COMPILE", "1")
    laplacian = LAPLACIANS["full4"]
    operator = SparseLaplacian(laplacian)
    with pytest.raises(ValueError, match=r"x must have shape \(192, 3\)"):
        operator._kernel(torch.randn(100, 3), 1.0, None, 0.0)
    with pytest.raises(ValueError, match="out must have shape"):
        operator._kernel(torch.randn(192, 3), 1.0, None, 0.0, out=torch.empty(192, 2))
    state = operator.state_dict()
    state["neighbours"] = state["neighbours"].clone()
    state["neighbours"][5, 0] = 10_000
    operator.load_state_dict(state)
    with pytest.raises(ValueError, match=r"neighbours must be in \[0, 192\)"):
        operator(torch.randn(192, 3))

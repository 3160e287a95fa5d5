"""SparseLaplacian, ChebConv and the fast path against dense numpy references."""

import io
import pickle
import threading
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import sparse

import skdeepsphere
from skdeepsphere.graph import healpix_laplacian
from skdeepsphere.nn import ChebConv, SparseLaplacian, chebyshev_basis
from skdeepsphere.nn._kernels import compiled, ell, laplacian_step, memory

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
def eager_kernel():
    with skdeepsphere.config_context(compile=False):
        yield


@pytest.fixture
def compiled_kernel(monkeypatch):
    # Blocks of the small test graphs are far below the size from which the
    # compiled gathers are used: lower it so that they run here.
    monkeypatch.setattr(compiled, "GATHER_MIN_ELEMENTS", 0)
    with skdeepsphere.config_context(compile=True):
        yield


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
def test_compiled_apply_matches_dense(name, compiled_kernel):
    _check_apply(LAPLACIANS[name])


def _check_apply(laplacian):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((laplacian.shape[0], 6)).astype(np.float32)
    operator = SparseLaplacian(laplacian)
    expected = laplacian.toarray().astype(np.float64) @ x
    assert_allclose(operator(torch.from_numpy(x)).numpy(), expected, rtol=RTOL, atol=ATOL)
    previous = rng.standard_normal(x.shape).astype(np.float32)
    step = laplacian_step(operator, torch.from_numpy(x), 2.0, torch.from_numpy(previous), 1.0)
    assert_allclose(step.numpy(), 2 * expected - previous, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["full4", "knn20"])
def test_gradients_match_dense(name, eager_kernel):
    _check_gradients(LAPLACIANS[name])


def test_compiled_gradients_match_dense(compiled_kernel):
    _check_gradients(LAPLACIANS["full8"])


def _check_gradients(laplacian):
    operator = SparseLaplacian(laplacian)
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.standard_normal((laplacian.shape[0], 3)), dtype=torch.float32,
                     requires_grad=True)
    previous = torch.randn(x.shape, requires_grad=True)
    grad_out = rng.standard_normal(x.shape)
    (2 * operator(operator(x)) - previous).backward(torch.from_numpy(grad_out).float())
    L = laplacian.toarray().astype(np.float64)
    assert_allclose(x.grad.numpy(), L.T @ (2 * L.T @ grad_out), rtol=1e-4, atol=1e-4)
    assert_allclose(previous.grad.numpy(), -grad_out, rtol=RTOL, atol=ATOL)


def test_gradcheck_float64(eager_kernel):
    operator = SparseLaplacian(LAPLACIANS["partial8"])
    x = torch.randn(operator.n_pixels, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(operator, (x,))


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


def test_compiled_chebconv_matches_dense(compiled_kernel):
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
    monkeypatch.setattr(memory, "POOL_MIN_ELEMENTS", 1)
    pool = memory.BlockPool()
    monkeypatch.setattr(memory, "_pool", pool)
    return pool


def test_pool_recycles_only_unreferenced_blocks(pooled):
    first = memory.empty_block((4, 5))
    address = first.data_ptr()
    view = first[1:]
    del first
    # A live view keeps the memory: a new block must be different memory.
    second = memory.empty_block((5, 4))
    assert second.data_ptr() != address
    assert pooled.nbytes == 0
    del view
    assert pooled.nbytes == 80
    third = memory.empty_block((2, 10))
    assert third.data_ptr() == address
    assert third.shape == (2, 10)
    # Other sizes and dtypes never share an array.
    assert memory.empty_block((3, 3)).data_ptr() not in (address, second.data_ptr())
    assert memory.empty_block((4, 5), torch.float64).dtype == torch.float64
    # Memory held by autograd stays out of the pool until the graph dies.
    leaf = torch.randn(4, 5, requires_grad=True)
    block = memory.empty_block((4, 5))
    block.copy_(leaf.detach())
    product = (block * leaf).sum()
    address = block.data_ptr()
    del block
    assert memory.empty_block((4, 5)).data_ptr() != address
    del product
    assert memory.empty_block((4, 5)).data_ptr() == address


def test_pool_capacity_and_age(pooled):
    with skdeepsphere.config_context(pool_mb=120 / 2**20):  # room for 3 blocks of 40 B
        blocks = [memory.empty_block((10,)) for _ in range(4)]
        del blocks
        assert pooled.nbytes == 3 * 40
    assert pooled.trim(older_than=60.0) == 3 * 40  # all freed just now
    assert pooled.trim(older_than=0.0) == 0


def test_pool_returns_memory_by_itself(pooled, monkeypatch):
    # No release call: the trimming thread drops blocks unused for a while.
    monkeypatch.setattr(memory, "KEEP_SECONDS", 0.05)
    memory.empty_block((1000,))  # a block freed at once
    assert pooled.nbytes == 4000
    for _ in range(200):
        if pooled.nbytes == 0:
            break
        threading.Event().wait(0.01)
    assert pooled.nbytes == 0


def test_pool_disabled(pooled):
    with skdeepsphere.config_context(pool_mb=0):
        memory.empty_block((10,))
    assert pooled.nbytes == 0


def test_config_validates_and_restores():
    before = skdeepsphere.get_config()
    with skdeepsphere.config_context(kernels="reference", compile=False, pool_mb=1):
        assert skdeepsphere.get_config() == {"kernels": "reference", "compile": False,
                                             "pool_mb": 1.0}
    assert skdeepsphere.get_config() == before
    with pytest.raises(ValueError, match="kernels must be 'fast' or 'reference'"):
        skdeepsphere.set_config(kernels="quick")
    with pytest.raises(ValueError, match="compile must be 'auto', True or False"):
        skdeepsphere.set_config(compile=1)
    with pytest.raises(ValueError, match="pool_mb must be a number of megabytes"):
        skdeepsphere.set_config(pool_mb=-1)
    assert skdeepsphere.get_config() == before


def test_config_defaults_from_environment():
    from skdeepsphere._config import _defaults_from_environment
    assert _defaults_from_environment({}) == {"kernels": "fast", "compile": "auto",
                                              "pool_mb": 2048.0}
    seeded = _defaults_from_environment({"SKDEEPSPHERE_COMPILE": "0",
                                         "SKDEEPSPHERE_POOL_MB": "1.5",
                                         "SKDEEPSPHERE_KERNELS": "reference"})
    assert seeded == {"kernels": "reference", "compile": False, "pool_mb": 1.5}
    with pytest.raises(ValueError, match="SKDEEPSPHERE_POOL_MB"):
        _defaults_from_environment({"SKDEEPSPHERE_POOL_MB": "lots"})
    with pytest.raises(ValueError, match="SKDEEPSPHERE_COMPILE"):
        _defaults_from_environment({"SKDEEPSPHERE_COMPILE": "maybe"})


@pytest.mark.parametrize("compile_mode", [False, True])
def test_chebconv_with_recycled_blocks_matches_dense(pooled, compile_mode, monkeypatch):
    # Two forward passes alive at once, then their backward passes in
    # reverse order: blocks saved by autograd must never be handed out again
    # while in use, and recycled blocks must not leak stale values.
    laplacian = LAPLACIANS["partial8"]
    torch.manual_seed(0)
    conv = ChebConv(3, 4, laplacian, cheb_order=5)
    weight = conv.weight.double().detach().numpy()
    rng = np.random.default_rng(3)
    inputs = [torch.randn(2, 3, laplacian.shape[0], requires_grad=True) for _ in range(2)]
    grads = [rng.standard_normal((2, 4, laplacian.shape[0])) for _ in range(2)]
    monkeypatch.setattr(compiled, "GATHER_MIN_ELEMENTS", 0)
    with skdeepsphere.config_context(compile=compile_mode):
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
    assert pooled.nbytes > 0


@pytest.mark.parametrize("name", ["full4", "partial8"])
@pytest.mark.parametrize("in_channels", [3, 8])  # 8: weight gradient by row chunks
def test_fast_and_reference_kernels_agree(name, in_channels, eager_kernel):
    # Forward and every gradient of the two implementations behind the
    # setting `kernels`, on the same weights.
    laplacian = LAPLACIANS[name]
    torch.manual_seed(0)
    conv = ChebConv(in_channels, 5, laplacian, cheb_order=4)
    x = torch.randn(2, in_channels, laplacian.shape[0], requires_grad=True)
    grad = torch.randn(2, 5, laplacian.shape[0])
    results = {}
    for kernels in ("fast", "reference"):
        x.grad = None
        conv.zero_grad()
        with skdeepsphere.config_context(kernels=kernels):
            out = conv(x)
        out.backward(grad)
        results[kernels] = [out.detach(), x.grad, conv.weight.grad, conv.bias.grad]
    for fast, reference in zip(results["fast"], results["reference"]):
        scale = reference.abs().max().item()
        assert_allclose(fast.numpy(), reference.numpy(), rtol=1e-4, atol=1e-6 * scale)


def test_sparse_mm_branch_matches_dense(monkeypatch):
    # The CUDA path (torch.sparse CSR products) forced on CPU.
    monkeypatch.setattr(ell, "_uses_sparse_mm", lambda x: True)
    _check_apply(LAPLACIANS["partial8"])
    _check_gradients(LAPLACIANS["knn20"])
    laplacian = LAPLACIANS["full4"]
    torch.manual_seed(0)
    conv = ChebConv(3, 4, laplacian, cheb_order=5)
    x = torch.randn(2, 3, laplacian.shape[0], requires_grad=True)
    weight = conv.weight.double().detach().numpy()
    expected = _dense_chebyshev(laplacian, x.double().detach().numpy(), weight)
    assert_allclose(conv(x).detach().numpy(), expected, rtol=1e-4, atol=1e-4)
    grad = np.random.default_rng(2).standard_normal(expected.shape)
    conv(x).backward(torch.from_numpy(grad).float())
    expected_grad = _dense_chebyshev(laplacian, grad, weight.transpose(0, 2, 1))
    assert_allclose(x.grad.numpy(), expected_grad, rtol=1e-4, atol=1e-4)


def test_auto_compiles_in_the_background(monkeypatch):
    # compile="auto": after COMPILE_AFTER_EAGER_SECONDS of eager kernels
    # (a short fit never compiles), a large call starts a process that warms
    # inductor's disk cache, and returns None (eager kernel); when it is
    # done, a thread loads the kernel; then calls get the compiled one.
    calls, warmers = [], []
    gate = threading.Event()

    class FakeWarmer:
        done = False

        def poll(self):
            return 0 if self.done else None

    def fake_compile(function, dynamic):
        def run(*args):
            calls.append(threading.current_thread().name)
            gate.wait(5)
            return function(*args)
        return run

    def start_warmer(function, width, dtype):
        warmers.append((function, width, dtype))
        return warmer

    warmer = FakeWarmer()
    monkeypatch.setattr(compiled, "_state", {})
    monkeypatch.setattr(compiled, "_compiled", {})
    monkeypatch.setattr(compiled, "_warmers", {})
    monkeypatch.setattr(compiled, "_failed", False)
    monkeypatch.setattr(compiled, "_start_warmer", start_warmer)
    monkeypatch.setattr(torch, "compile", fake_compile)
    apply = compiled.gather_apply

    def example():
        return compiled.example_arguments(apply, 4, 2, torch.float32)

    monkeypatch.setattr(compiled, "_eager_seconds", 0.0)
    small, big = compiled.GATHER_MIN_ELEMENTS - 1, compiled.GATHER_MIN_ELEMENTS
    with skdeepsphere.config_context(compile="auto"):
        assert compiled.ready(apply, 9, torch.float32, small, example) is None
        assert compiled.ready(apply, 9, torch.float32, big, example) is None
        assert warmers == []  # not before enough eager kernel time
        compiled.record_eager(compiled.COMPILE_AFTER_EAGER_SECONDS / 2)
        assert compiled.ready(apply, 9, torch.float32, big, example) is None
        assert warmers == []
        compiled.record_eager(compiled.COMPILE_AFTER_EAGER_SECONDS / 2)
        assert compiled.ready(apply, 9, torch.float32, small, example) is None
        assert warmers == []  # small blocks never compile
        assert compiled.ready(apply, 9, torch.float32, big, example) is None
        assert compiled.ready(apply, 9, torch.float32, big, example) is None
        assert warmers == [(apply, 9, torch.float32)] and calls == []
        warmer.done = True
        assert compiled.ready(apply, 9, torch.float32, big, example) is None
        gate.set()
        for _ in range(500):
            kernel = compiled.ready(apply, 9, torch.float32, big, example)
            if kernel is not None:
                break
            threading.Event().wait(0.01)
    assert calls == ["skdeepsphere-compile"]  # loaded once, not by the caller
    assert kernel is compiled._compiled[apply]
    assert len(warmers) == 1
    with skdeepsphere.config_context(compile=False):
        assert compiled.ready(apply, 9, torch.float32, big, example) is None


def test_eager_kernel_time_counts_towards_compiling(monkeypatch):
    # Only large blocks on the eager gather path count (those that could
    # compile), and only in "auto" mode does the count gate compilation.
    monkeypatch.setattr(compiled, "_eager_seconds", 0.0)
    monkeypatch.setattr(compiled, "_state", {})
    monkeypatch.setattr(compiled, "_start_warmer", lambda *args: pytest.fail("compiled"))
    operator = SparseLaplacian(LAPLACIANS["full4"])
    small = torch.randn(operator.n_pixels, 8)
    big = torch.randn(operator.n_pixels, -(-compiled.GATHER_MIN_ELEMENTS // operator.n_pixels))
    with skdeepsphere.config_context(compile="auto"):
        assert_allclose(laplacian_step(operator, big, 2.0, big, 1.0).numpy(),
                        2 * LAPLACIANS["full4"] @ big.numpy() - big.numpy(), rtol=1e-4, atol=1e-4)
        spent = compiled._eager_seconds
        assert spent > 0
        laplacian_step(operator, small, 1.0)
        assert compiled._eager_seconds == spent


def test_a_failed_compilation_warns_and_stays_eager(monkeypatch):
    # No C++ compiler: one warning naming the kernel, then eager kernels
    # for good (no second attempt, no second warning).
    monkeypatch.setattr(compiled, "_state", {})
    monkeypatch.setattr(compiled, "_compiled", {})
    monkeypatch.setattr(compiled, "_failed", False)

    def no_compiler(function, dynamic):
        def run(*args):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", no_compiler)

    def example():
        return compiled.example_arguments(compiled.pool_forward, 0, 0, torch.float32)

    with skdeepsphere.config_context(compile=True):
        with pytest.warns(RuntimeWarning, match="torch.compile of skdeepsphere's pool_forward "
                          "kernel failed, using eager kernels instead "
                          r"\(RuntimeError: no C\+\+ compiler found\)"):
            assert compiled.ready(compiled.pool_forward, 0, torch.float32, 10, example) is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert compiled.ready(compiled.pool_backward, 0, torch.float32, 10, example) is None


@pytest.mark.parametrize("change", ["load_state_dict", "in_place", "double"])
def test_scaled_weights_follow_the_operator(change, eager_kernel):
    # The eager gather caches alpha * weights: a new matrix loaded into the
    # operator, an in-place edit or a dtype change must not reuse them.
    first, second = LAPLACIANS["full4"], 3 * LAPLACIANS["full4"]
    operator = SparseLaplacian(first)
    x = torch.randn(operator.n_pixels, 3)
    assert_allclose(laplacian_step(operator, x, 2.0, x, 1.0).numpy(),
                    2 * first @ x.numpy() - x.numpy(), rtol=1e-4, atol=1e-4)
    if change == "load_state_dict":
        operator.load_state_dict(SparseLaplacian(second).state_dict())
    elif change == "in_place":
        with torch.no_grad():
            operator.weights.mul_(3)
    else:
        operator.double()
        x = x.double()
    expected = 2 * (first if change == "double" else second) @ x.numpy() - x.numpy()
    result = laplacian_step(operator, x, 2.0, x, 1.0)
    assert result.dtype == x.dtype
    assert_allclose(result.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_compiled_gathers_only_for_blocks_above_the_cache(monkeypatch):
    # Below GATHER_MIN_ELEMENTS the eager gather is the faster one, so even
    # compile=True leaves it eager; the pooling kernels have no minimum.
    # (torch.compile is replaced by the identity: the policy, not inductor.)
    monkeypatch.setattr(compiled, "_state", {})
    monkeypatch.setattr(compiled, "_compiled", {})
    monkeypatch.setattr(compiled, "_failed", False)
    monkeypatch.setattr(torch, "compile", lambda function, dynamic: function)
    minimum = compiled.GATHER_MIN_ELEMENTS
    assert minimum == 1 << 23

    def example(function):
        return lambda: compiled.example_arguments(function, 4, 2, torch.float32)

    with skdeepsphere.config_context(compile=True):
        for function in (compiled.gather_apply, compiled.gather_step):
            assert compiled.ready(function, 9, torch.float32, minimum - 1,
                                  example(function)) is None
            assert compiled.ready(function, 9, torch.float32, minimum,
                                  example(function)) is function
        for function in (compiled.pool_forward, compiled.pool_backward):
            assert compiled.ready(function, 0, torch.float32, 1, example(function)) is function
    # The operator takes the same decision: a small block never reaches the
    # compiled gather, whatever the setting.
    called = []
    monkeypatch.setattr(compiled, "_compiled", {
        compiled.gather_step: lambda *args: called.append(1) or pytest.fail("compiled")})
    operator = SparseLaplacian(LAPLACIANS["full4"])
    x = torch.randn(operator.n_pixels, 4)
    with skdeepsphere.config_context(compile=True):
        assert_allclose(laplacian_step(operator, x, 2.0, x, 1.0).numpy(),
                        2 * LAPLACIANS["full4"] @ x.numpy() - x.numpy(), rtol=1e-4, atol=1e-4)
    assert called == []


def test_eager_pooling_time_counts_towards_compiling(monkeypatch):
    # The pooling kernels replace the eager BatchNorm + ReLU + max-pool of
    # the training path at every size: its time counts towards compiling.
    from skdeepsphere.nn._kernels import normalization
    monkeypatch.setattr(compiled, "_eager_seconds", 0.0)
    norm = torch.nn.BatchNorm1d(3)
    x = torch.randn(64 * 2, 3, requires_grad=True)
    with skdeepsphere.config_context(compile=False):
        out = normalization.pixel_major_training_batch_norm_relu(norm, x, 2, pool=True)
        forward = compiled._eager_seconds
        assert forward > 0
        out.sum().backward()
        assert compiled._eager_seconds > forward
        spent = compiled._eager_seconds
        normalization.pixel_major_training_batch_norm_relu(norm, x, 2, pool=False).sum().backward()
        assert compiled._eager_seconds == spent  # no pooling, no compiled kernel


def test_compiled_kernel_guards_its_unchecked_gathers(compiled_kernel):
    # The compiled kernels index without bounds checks: shapes and the
    # neighbour table are validated before every call instead.
    laplacian = LAPLACIANS["full4"]
    operator = SparseLaplacian(laplacian)
    with pytest.raises(ValueError, match=r"x must have shape \(192, 3\)"):
        laplacian_step(operator, torch.randn(100, 3), 1.0)
    with pytest.raises(ValueError, match="out must have shape"):
        laplacian_step(operator, torch.randn(192, 3), 1.0, out=torch.empty(192, 2))
    state = operator.state_dict()
    state["neighbours"] = state["neighbours"].clone()
    state["neighbours"][5, 0] = 10_000
    operator.load_state_dict(state)
    with pytest.raises(ValueError, match=r"neighbours must be in \[0, 192\)"):
        operator(torch.randn(192, 3))

"""SparseLaplacian, ChebConv and the fast path against dense numpy references."""

import io
import pickle
import shutil
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
from skdeepsphere.nn._kernels import ell, laplacian_step, memory, native

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


def _require_compiler():
    """Skip where no C compiler exists (there the eager operations run);
    wherever one does (CI has one), the C kernels must build."""
    try:
        native._compiler()
    except RuntimeError:
        pytest.skip("no C compiler: the Laplacian runs on embedding_bag here")


@pytest.fixture
def native_kernel(monkeypatch):
    # The C kernel of the Laplacian, which every setting but compile=False uses.
    _require_compiler()
    calls = []
    gather = native.gather
    monkeypatch.setattr(native, "gather", lambda *args: calls.append(1) or gather(*args))
    with skdeepsphere.config_context(compile="auto"):
        yield
    assert calls, "the C kernel was not used"


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


@pytest.mark.parametrize("name", list(LAPLACIANS))
def test_native_apply_matches_dense(name, native_kernel):
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


def test_native_gradients_match_dense(native_kernel):
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


def test_native_chebconv_matches_dense(native_kernel):
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


@pytest.mark.parametrize("huge", [False, True])
def test_pool_advises_huge_pages_only_for_large_blocks(huge, pooled, monkeypatch):
    # numpy's (global) huge-page advice is switched off for a block below
    # HUGE_PAGE_MIN_BYTES, and put back at once; a larger block keeps it.
    if memory._set_madvise_hugepage is None:
        pytest.skip("this numpy has no huge-page switch")
    switched = []
    original = memory._set_madvise_hugepage

    def switch(enabled):
        switched.append(enabled)
        return original(enabled)

    monkeypatch.setattr(memory, "_set_madvise_hugepage", switch)
    monkeypatch.setattr(memory, "HUGE_PAGE_MIN_BYTES", 4000 if huge else 4001)
    before = original(True)
    try:
        block = memory.empty_block((1000,))  # 4000 bytes of float32
        assert switched == ([] if huge else [False, True])
        assert original(before) is True  # the switch was put back
    finally:
        original(before)
    assert block.shape == (1000,)


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


def test_native_kernel_guards_its_unchecked_gathers(native_kernel):
    # The C kernel indexes without bounds checks: shapes, dtypes and the
    # neighbour table are validated before every call instead.
    laplacian = LAPLACIANS["full4"]
    operator = SparseLaplacian(laplacian)
    x = torch.randn(192, 3)
    assert_allclose(laplacian_step(operator, x, 1.0).numpy(), laplacian @ x.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match=r"x must have shape \(192, 3\)"):
        laplacian_step(operator, torch.randn(100, 3), 1.0)
    with pytest.raises(ValueError, match="out must have shape"):
        laplacian_step(operator, torch.randn(192, 3), 1.0, out=torch.empty(192, 2))
    with pytest.raises(TypeError, match=r"prev must have the dtype of x \(torch.float32\), got "
                       "torch.float64"):
        laplacian_step(operator, x, 2.0, x.double(), 1.0)
    with pytest.raises(ValueError, match="out must not be x"):
        laplacian_step(operator, x, 1.0, out=x)
    elsewhere = SparseLaplacian(laplacian).to("meta")  # its pointers are not CPU memory
    with pytest.raises(ValueError, match=r"x is on cpu but the Laplacian on meta: move one"):
        laplacian_step(elsewhere, x, 1.0)
    state = operator.state_dict()
    state["neighbours"] = state["neighbours"].clone()
    state["neighbours"][5, 0] = 10_000
    operator.load_state_dict(state)
    with pytest.raises(ValueError, match=r"neighbours must be in \[0, 192\)"):
        operator(torch.randn(192, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("width", [1, 7, 16, 83, 200])
def test_native_kernel_matches_dense_at_every_row_block(width, dtype, native_kernel):
    # A row is summed in blocks of 4 and 1 vectors of 64 bytes, then column
    # by column: these widths reach each part (83 = 64 + 16 + 3 floats) in
    # both dtypes, on a graph with padded rows (partial sky) and on k-NN.
    rng = np.random.default_rng(width)
    for name in ("partial8", "knn20"):
        laplacian = LAPLACIANS[name]
        operator = SparseLaplacian(laplacian).to(dtype)
        x = rng.standard_normal((laplacian.shape[0], width))
        prev = rng.standard_normal(x.shape)
        L = laplacian.toarray().astype(np.float64)
        result = laplacian_step(operator, torch.from_numpy(x).to(dtype), 1.5,
                                torch.from_numpy(prev).to(dtype), 0.5)
        assert result.dtype == dtype
        tolerance = 1e-5 if dtype == torch.float32 else 1e-12
        assert_allclose(result.numpy(), 1.5 * L @ x - 0.5 * prev, rtol=tolerance,
                        atol=tolerance)
        assert_allclose(laplacian_step(operator, torch.from_numpy(x).to(dtype), 2.0).numpy(),
                        2 * L @ x, rtol=tolerance, atol=tolerance)


def test_native_kernel_is_deterministic_and_fills_any_out(native_kernel):
    # Rows are split among threads, never a row's sum: the result does not
    # depend on the number of threads. A strided out receives the result.
    operator = SparseLaplacian(healpix_laplacian(16))
    x = torch.randn(operator.n_pixels, 40)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = laplacian_step(operator, x, 2.0, x, 1.0)
        torch.set_num_threads(max(2, threads))
        parallel = laplacian_step(operator, x, 2.0, x, 1.0)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(serial, parallel)
    out = torch.full((40, operator.n_pixels), float("nan")).T
    assert laplacian_step(operator, x, 2.0, x, 1.0, out=out) is out
    assert torch.equal(out, serial)


def test_compile_false_never_builds_the_native_kernel(monkeypatch):
    monkeypatch.setattr(native, "_library", None)
    monkeypatch.setattr(native, "_build", lambda: pytest.fail("built"))
    operator = SparseLaplacian(LAPLACIANS["full4"])
    x = torch.randn(operator.n_pixels, 3)
    with skdeepsphere.config_context(compile=False):
        result = laplacian_step(operator, x, 2.0, x, 1.0)
    assert_allclose(result.numpy(), 2 * LAPLACIANS["full4"] @ x.numpy() - x.numpy(),
                    rtol=1e-4, atol=1e-4)
    assert native._library is None


def test_a_failed_native_build_warns_once_and_uses_embedding_bag(monkeypatch):
    monkeypatch.setattr(native, "_library", None)

    def no_compiler():
        raise RuntimeError("no C compiler found (looked for $CC, cc, gcc and clang)")

    monkeypatch.setattr(native, "_compiler", no_compiler)
    operator = SparseLaplacian(LAPLACIANS["full4"])
    x = torch.randn(operator.n_pixels, 3)
    expected = 2 * LAPLACIANS["full4"] @ x.numpy() - x.numpy()
    with skdeepsphere.config_context(compile="auto"):
        with pytest.warns(RuntimeWarning, match=r"skdeepsphere's C kernels \(Laplacian, "
                          r"pooling\) could not be built, using torch's eager operations "
                          r"instead \(RuntimeError: no C compiler found"):
            assert_allclose(laplacian_step(operator, x, 2.0, x, 1.0).numpy(), expected,
                            rtol=1e-4, atol=1e-4)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert_allclose(laplacian_step(operator, x, 2.0, x, 1.0).numpy(), expected,
                            rtol=1e-4, atol=1e-4)
    assert native._library is False


@pytest.mark.parametrize("kernel, wrong, right", [
    ("gather", "* beta", "* -beta"),  # adds prev instead of subtracting it
    ("pool_forward", "y1 == m ? 0", "y0 == m ? 0"),  # ties go to the second child
    ("pool_backward", "w[j] != i ?", "w[j] == i ?"),  # routes to the losers
    ("pool_frozen", "out[c] = relu_max_float(scale[c], shift[c], x1[c]",  # child 0 lost
     "out[c] = relu_max_float(scale[c], shift[c], x0[c]"),
    ("stacked_pool", "y2 += w * children[batch]", "y1 += w * children[batch]"),  # a child twice
])
def test_a_wrong_native_build_is_caught_before_use(kernel, wrong, right, monkeypatch):
    # The built library checks every kernel against numpy before first use.
    _require_compiler()
    assert right in native.SOURCE
    monkeypatch.setattr(native, "SOURCE", native.SOURCE.replace(right, wrong))
    with pytest.raises(RuntimeError, match=f"the built {kernel} kernel disagrees with numpy"):
        native._build()


def test_native_kernel_builds_with_a_cc_of_several_words(monkeypatch):
    # $CC may be a launcher and a compiler ("ccache gcc"): the whole
    # command is used, not its first word alone.
    compiler = next((name for name in ("cc", "gcc", "clang") if shutil.which(name)), None)
    if compiler is None or shutil.which("env") is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("CC", f"env {compiler}")
    assert native._compiler() == [shutil.which("env"), compiler]
    library = native._build()
    assert hasattr(library, "skdeepsphere_gather_float")

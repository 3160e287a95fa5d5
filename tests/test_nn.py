import copy

import healpy as hp
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

import skdeepsphere
from skdeepsphere.graph import healpix_laplacian, laplacian_hierarchy
from skdeepsphere.healpix import parent_hierarchy
from skdeepsphere.nn import ChebConv, DeepSphere, HealpixPool, PatchCNN2d, nested_patch_grid
from skdeepsphere.nn.models import _pixel_major, _pixel_major_blocks


def dense_chebconv(L, x, weight, bias):
    """sum_k T_k(L) x theta_k with T_k evaluated as dense matrices."""
    L = L.toarray().astype(np.float64)
    n = L.shape[0]
    polys = [np.eye(n), L]
    for _ in range(2, weight.shape[0]):
        polys.append(2 * L @ polys[-1] - polys[-2])
    out = np.zeros((x.shape[0], weight.shape[2], n))
    for k in range(weight.shape[0]):
        filtered = np.einsum("pq,biq->bip", polys[k], x)
        out += np.einsum("bip,io->bop", filtered, weight[k])
    return out + bias[None, :, None]


@pytest.mark.parametrize("nside, pixels", [(4, None), (8, np.arange(50, 300))])
@pytest.mark.parametrize("cheb_order", [1, 2, 5])
def test_chebconv_matches_dense_polynomial(nside, pixels, cheb_order):
    L = healpix_laplacian(nside, pixels)
    torch.manual_seed(0)
    conv = ChebConv(3, 4, L, cheb_order)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(2, 3, L.shape[0])
    expected = dense_chebconv(L, x.numpy().astype(np.float64),
                              conv.weight.detach().numpy().astype(np.float64),
                              conv.bias.detach().numpy())
    np.testing.assert_allclose(conv(x).detach().numpy(), expected, rtol=1e-4, atol=1e-4)


def test_chebconv_filter_is_localised():
    # A filter of order K reaches exactly K - 1 hops from a Dirac.
    L = healpix_laplacian(8)
    conv = ChebConv(1, 1, L, cheb_order=3, bias=False)
    dirac = torch.zeros(1, 1, 768)
    dirac[0, 0, 300] = 1.0
    support = set(np.flatnonzero(conv(dirac).detach().numpy().ravel()))
    one_hop = set(hp.get_all_neighbours(8, 300, nest=True)) | {300}
    two_hops = set(one_hop)
    for p in one_hop:
        two_hops |= set(hp.get_all_neighbours(8, p, nest=True))
    assert support <= two_hops and support >= one_hop


def test_chebconv_rejects_bad_order():
    with pytest.raises(ValueError, match="cheb_order"):
        ChebConv(1, 1, healpix_laplacian(1), cheb_order=0)


@pytest.mark.parametrize("mode, reduce", [("max", np.max), ("avg", np.mean)])
def test_full_sky_pooling_against_numpy(mode, reduce):
    x = np.random.default_rng(0).normal(size=(2, 3, 768)).astype(np.float32)
    pool = HealpixPool(np.arange(768) // 4, mode=mode)
    assert pool.complete
    expected = reduce(x.reshape(2, 3, 192, 4), axis=-1)
    np.testing.assert_allclose(pool(torch.from_numpy(x)).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("mode, reduce", [("max", np.max), ("avg", np.mean)])
def test_partial_sky_pooling_over_observed_children(mode, reduce):
    rng = np.random.default_rng(1)
    pixels = np.sort(rng.choice(768, size=200, replace=False))
    sets, parents = parent_hierarchy(pixels, 1)
    pool = HealpixPool(parents[0], mode=mode)
    assert not pool.complete
    x = rng.normal(size=(2, 1, 200)).astype(np.float32)
    out = pool(torch.from_numpy(x)).numpy()
    for j, parent in enumerate(sets[1]):
        children = pixels // 4 == parent
        np.testing.assert_allclose(out[:, :, j], reduce(x[:, :, children], axis=-1), rtol=1e-6)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_full_sky_pooling_gradient_against_numpy(mode):
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.normal(size=(2, 3, 768))).requires_grad_()
    grad = rng.normal(size=(2, 3, 192))
    HealpixPool(np.arange(768) // 4, mode=mode)(x).backward(torch.from_numpy(grad))
    groups = x.detach().numpy().reshape(2, 3, 192, 4)
    if mode == "max":
        expected = (groups == groups.max(-1, keepdims=True)) * grad[..., None]
    else:
        expected = np.broadcast_to(grad[..., None] / 4, groups.shape)
    np.testing.assert_allclose(x.grad.numpy(), expected.reshape(2, 3, 768))


def test_pooling_gradient_flows():
    pool = HealpixPool(np.array([0, 0, 1, 2, 2, 2]), mode="max")
    x = torch.randn(1, 1, 6, requires_grad=True)
    pool(x).sum().backward()
    assert x.grad.sum() == 3


def rotation_permutation(nside):
    """Nested pixel permutation of a 90 degree rotation about the z axis."""
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), nest=True)
    return hp.ang2pix(nside, theta, phi + np.pi / 2, nest=True)


@pytest.mark.parametrize("statistics", ["mean", "mean_var"])
def test_fcn_is_invariant_to_exact_grid_rotations(statistics):
    nside = 8
    laplacians, _, parents = laplacian_hierarchy(nside, None, 2)
    torch.manual_seed(0)
    model = DeepSphere(laplacians, parents, 1, 3, channels=(4, 6), cheb_order=4,
                       statistics=statistics).eval()
    x = torch.randn(2, 1, 768)
    rotated = torch.empty_like(x)
    rotated[..., rotation_permutation(nside)] = x
    assert not torch.allclose(x, rotated)
    torch.testing.assert_close(model(rotated), model(x), rtol=1e-4, atol=1e-5)
    cnn = DeepSphere(laplacians, parents, 1, 3, channels=(4, 6), head="cnn").eval()
    assert not torch.allclose(cnn(rotated), cnn(x), atol=1e-3)


def test_deepsphere_levels_and_validation():
    laplacians, _, parents = laplacian_hierarchy(4, None, 1)
    model = DeepSphere(laplacians, parents, 2, 5, channels=(3, 3, 3), head="cnn")
    assert model(torch.randn(4, 2, 192)).shape == (4, 5)
    with pytest.raises(ValueError, match="head"):
        DeepSphere(laplacians, parents, 1, 1, head="rnn")
    with pytest.raises(ValueError, match="one Laplacian per level"):
        DeepSphere(laplacians[:1], parents, 1, 1)


def test_patch_grid_neighbours_are_sphere_neighbours():
    nside = 32
    pixels = np.arange(64, 128)  # one nested 8 x 8 patch
    image = np.empty(64, dtype=np.int64)
    image[nested_patch_grid(pixels)] = pixels
    image = image.reshape(8, 8)
    for i in range(1, 7):
        for j in range(1, 7):
            neighbours = set(hp.get_all_neighbours(nside, image[i, j], nest=True))
            assert neighbours == set(image[i - 1:i + 2, j - 1:j + 2].ravel()) - {image[i, j]}


@pytest.mark.parametrize("side", [8, 16])
def test_patch_cnn2d_image_places_sphere_neighbours_side_by_side(side):
    """The image the 2D CNN convolves: pixels next to each other (rows and
    columns) share an edge on the sphere, diagonal ones a corner."""
    nside, n = 32, side * side
    pixels = np.arange(3 * n, 4 * n)  # one aligned nested square
    model = PatchCNN2d(pixels, 1, 2, channels=(2,))
    seen = []
    model.blocks.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model.eval()(torch.as_tensor(pixels, dtype=torch.float64).float().view(1, 1, n))
    image = seen[0][0, 0].numpy().astype(np.int64)
    assert image.shape == (side, side) and sorted(image.ravel()) == pixels.tolist()
    for i in range(side):
        for j in range(side):
            # healpy's neighbour order: SW, W, NW, N, NE, E, SE, S
            around = hp.get_all_neighbours(nside, image[i, j], nest=True)
            edges, corners = set(around[[0, 2, 4, 6]]), set(around[[1, 3, 5, 7]])
            for di, dj in [(0, 1), (1, 0)]:
                if i + di < side and j + dj < side:
                    assert image[i + di, j + dj] in edges
            for dj in (-1, 1):
                if i + 1 < side and 0 <= j + dj < side:
                    assert image[i + 1, j + dj] in corners


@pytest.mark.parametrize("pixels", [np.arange(1, 5), np.arange(8), np.arange(12)])
def test_patch_grid_rejects_non_square_patches(pixels):
    with pytest.raises(ValueError, match="square patch"):
        nested_patch_grid(pixels)


@pytest.mark.parametrize("head", ["fcn", "cnn"])
def test_patch_cnn2d_output(head):
    model = PatchCNN2d(np.arange(256, 512), 2, 3, channels=(4, 4, 4), head=head)
    assert model(torch.randn(5, 2, 256)).shape == (5, 3)


def _numpy_batch_norm_relu(x, weight, bias, mean=None, var=None, eps=1e-5):
    """relu(weight (x - mean) / sqrt(var + eps) + bias), batch statistics by default."""
    if mean is None:
        mean = x.mean(axis=(0, 2))
        var = x.var(axis=(0, 2))
    normed = (x - mean[:, None]) / np.sqrt(var[:, None] + eps)
    return np.maximum(weight[:, None] * normed + bias[:, None], 0)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_fused_batch_norm_relu_matches_numpy_and_module(momentum):
    from skdeepsphere.nn._kernels.normalization import batch_norm_relu
    torch.manual_seed(0)
    norm = torch.nn.BatchNorm1d(4, momentum=momentum).double()
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    reference = copy.deepcopy(norm)
    # A large mean against a small spread: float64 sums keep the variance.
    x = (3 + 0.5 * torch.randn(3, 4, 50, dtype=torch.float64)).requires_grad_()
    grad = torch.randn(3, 4, 50, dtype=torch.float64)
    for _ in range(3):
        fused = batch_norm_relu(norm, x)
        expected = torch.relu(reference(x))
    weight, bias = norm.weight.detach().numpy(), norm.bias.detach().numpy()
    assert_allclose(fused.detach().numpy(),
                    _numpy_batch_norm_relu(x.detach().numpy(), weight, bias), atol=1e-10)
    for ours, theirs in zip(torch.autograd.grad(fused, [x, norm.weight, norm.bias], grad),
                            torch.autograd.grad(expected, [x, reference.weight,
                                                           reference.bias], grad)):
        assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-10)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert_allclose(getattr(norm, name).numpy(), getattr(reference, name).numpy(),
                        atol=1e-12)
    norm.eval()
    reference.eval()
    running = _numpy_batch_norm_relu(x.detach().numpy(), weight, bias,
                                     norm.running_mean.numpy(), norm.running_var.numpy())
    assert_allclose(batch_norm_relu(norm, x).detach().numpy(), running, atol=1e-10)
    assert torch.autograd.gradcheck(lambda v: batch_norm_relu(norm, v), (x[:1, :, :8],))
    norm.train()
    assert torch.autograd.gradcheck(lambda v: batch_norm_relu(norm, v), (x[:1, :, :8],))


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_fused_batch_norm_relu_pool_matches_modules(training, ties):
    # With ties in a group of 4 the gradient goes to the first maximum, as
    # max_pool1d's indices send it.
    from skdeepsphere.nn._kernels.normalization import batch_norm_relu
    torch.manual_seed(0)
    norm = torch.nn.BatchNorm1d(3).double().train(training)
    reference = copy.deepcopy(norm)
    pool = HealpixPool(np.arange(48) // 4)
    x = torch.randn(2, 3, 48, dtype=torch.float64)
    if ties:
        x = x.mul(0.7).round()
        groups = x.view(-1, 4)
        assert ((groups == groups.amax(1, keepdim=True)).sum(1) > 1).sum() >= 5
    x.requires_grad_()
    grad = torch.randn(2, 3, 12, dtype=torch.float64)
    fused = batch_norm_relu(norm, x, pool=True)
    expected = pool(torch.relu(reference(x)))
    assert_allclose(fused.detach().numpy(), expected.detach().numpy(), atol=1e-12)
    ours = torch.autograd.grad(fused, [x, norm.weight, norm.bias], grad)
    theirs = torch.autograd.grad(expected, [x, reference.weight, reference.bias], grad)
    for a, b in zip(ours, theirs):
        assert_allclose(a.numpy(), b.numpy(), atol=1e-10)
    if not ties:  # (finite differences at a tie measure a kink)
        assert torch.autograd.gradcheck(lambda v: batch_norm_relu(norm, v, pool=True),
                                        (x[:1, :, :16].detach().requires_grad_(),))


def _to_pixel_major(x):
    """(batch, channels, n_pixels) -> (n_pixels * batch, channels)."""
    return x.permute(2, 0, 1).reshape(-1, x.shape[1])


def _from_pixel_major(y, batch):
    """(n_pixels, batch * channels) -> (batch, channels, n_pixels)."""
    return y.view(y.shape[0], batch, -1).permute(1, 2, 0)


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("compile_mode", [False, True])
@pytest.mark.parametrize("pool", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_pixel_major_training_batch_norm_relu_matches_modules(training, pool, compile_mode,
                                                              with_bias, monkeypatch):
    # The training path on pixel-major blocks against BatchNorm1d -> ReLU
    # (-> HealpixPool): outputs, gradients, running statistics, with ties
    # in groups of 4 (the first maximum wins), a negative scale, and the
    # statistics' dot products taken over several chunks, the last one short.
    # With compile=True, pooling takes the C kernels (asserted). With
    # a bias (the filter's) added to x first, and its gradient.
    from skdeepsphere.nn._kernels import normalization
    monkeypatch.setattr(normalization, "_DOT_CHUNK", 7 * 3 * 2)
    fused = []
    monkeypatch.setattr(normalization, "_fused_pool_backward",
                        lambda *args, original=normalization._fused_pool_backward:
                        fused.append(1) or original(*args))
    torch.manual_seed(0)
    norm = torch.nn.BatchNorm1d(3).double().train(training)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.5, -0.7, 0.3]))
        norm.bias.normal_()
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
    reference = copy.deepcopy(norm)
    batch, n_pixels = 2, 48
    x = (2 + torch.randn(batch, 3, n_pixels, dtype=torch.float64)).mul(0.7).round()
    groups = x.view(-1, 4)
    assert ((groups == groups.amax(1, keepdim=True)).sum(1) > 1).sum() >= 5
    x.requires_grad_()
    conv_bias = torch.tensor([0.5, -1.25, 2.0], dtype=torch.float64, requires_grad=True)
    modules = [reference, torch.nn.ReLU()] + [HealpixPool(np.arange(n_pixels) // 4)] * pool
    expected = torch.nn.Sequential(*modules)(x + conv_bias[:, None] if with_bias else x)
    pixel_major = _to_pixel_major(x)
    with skdeepsphere.config_context(compile=compile_mode):
        ours = normalization.pixel_major_training_batch_norm_relu(
            norm, pixel_major, batch, pool, conv_bias=conv_bias if with_bias else None)
    assert ours.shape == (n_pixels // 4 ** pool, batch * 3)
    assert_allclose(_from_pixel_major(ours, batch).detach().numpy(),
                    expected.detach().numpy(), atol=1e-12)
    grad = torch.randn(expected.shape, dtype=torch.float64)
    inputs = [x] + [conv_bias] * with_bias
    theirs = torch.autograd.grad(expected, inputs + [reference.weight, reference.bias], grad)
    mine = torch.autograd.grad(ours, inputs + [norm.weight, norm.bias],
                               grad.permute(2, 0, 1).reshape(ours.shape))
    for a, b in zip(mine, theirs):
        assert_allclose(a.numpy(), b.numpy(), atol=1e-10)
    for a, b in zip(norm.buffers(), reference.buffers()):
        assert_allclose(a.numpy(), b.numpy(), atol=1e-12)
    assert fused == [1] * (pool and compile_mode)


@pytest.mark.parametrize("compile_mode", [False, True])
def test_fused_pooling_propagates_nan(compile_mode):
    # A NaN activation must reach the pooled output (so that a diverging fit
    # is caught), with the C kernels as with torch's amax.
    from skdeepsphere.nn._kernels import normalization
    norm = torch.nn.BatchNorm1d(3).eval()  # frozen statistics: the NaN stays local
    x = torch.randn(48 * 2, 3)
    x[8 * 2 + 1, 2] = float("nan")  # pixel 8 (parent 2), sample 1, channel 2
    with skdeepsphere.config_context(compile=compile_mode), torch.no_grad():
        pooled = normalization.pixel_major_training_batch_norm_relu(norm, x, 2, True)
    nan = torch.isnan(pooled.view(12, 2, 3))
    assert nan[2, 1, 2] and nan.sum() == 1


@pytest.mark.parametrize("rows", [144, 150])  # row chunks, or one GEMM
@pytest.mark.parametrize("channels, out_channels", [(5, 2), (17, 2), (17, 32)])
def test_weight_gradient_matches_dense(rows, channels, out_channels):
    # term.T @ grad, whichever product computes it (transposed for a few
    # outputs, over row chunks for many rows).
    from skdeepsphere.nn._kernels.chebyshev import _weight_gradient
    torch.manual_seed(0)
    term = torch.randn(rows, channels, dtype=torch.float64)
    grad = torch.randn(rows, out_channels, dtype=torch.float64)
    result = _weight_gradient(term, grad, rows, channels)
    assert result.shape == (channels, out_channels)
    assert_allclose(result.numpy(), term.numpy().T @ grad.numpy(), atol=1e-10)


def _frozen_block(in_channels, out_channels, dtype):
    """ChebConv -> BatchNorm (eval, random statistics, scales of both signs)
    on nside 4 with K = 3 and a filter bias."""
    torch.manual_seed(0)
    conv = ChebConv(in_channels, out_channels, healpix_laplacian(4, None), 3).to(dtype)
    norm = torch.nn.BatchNorm1d(out_channels).to(dtype).eval()
    with torch.no_grad():
        torch.nn.init.normal_(conv.bias)
        norm.weight.normal_()
        norm.bias.normal_()
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
    assert (norm.weight < 0).any() and (norm.weight > 0).any()
    return conv, norm


@pytest.mark.parametrize("nan", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("compile_mode", [False, True])
@pytest.mark.parametrize("in_channels", [1, 2])
def test_frozen_filter_pooling_matches_modules(in_channels, compile_mode, dtype, nan,
                                               monkeypatch):
    # Inference's filter + BatchNorm + ReLU + max-pool against the modules,
    # 37 output channels (two blocks of 16 and a tail of 5): with one input
    # channel the C kernel that filters and pools in one pass, otherwise
    # the C pooling of each chunk of the filter's output (compile=True,
    # asserted), or torch's operations. With a NaN in one input pixel,
    # the outputs are NaN exactly where the modules' are.
    from skdeepsphere.nn._kernels import native, normalization
    calls = []
    for name in ("stacked_pool", "pool_frozen"):
        monkeypatch.setattr(native, name, lambda *args, name=name, original=getattr(
            native, name): calls.append(name) or original(*args))
    conv, norm = _frozen_block(in_channels, 37, dtype)
    batch = 3
    x = torch.randn(batch, in_channels, 192, dtype=dtype)
    if nan:
        x[1, 0, 100] = float("nan")
    with torch.no_grad():
        with skdeepsphere.config_context(kernels="reference"):
            expected = HealpixPool(np.arange(192) // 4)(torch.relu(norm(conv(x))))
        with skdeepsphere.config_context(compile=compile_mode):
            pooled = normalization.pixel_major_filter_batch_norm_relu_pool(
                conv, norm, x.reshape(batch * in_channels, 192).T.contiguous(), batch)
    assert pooled.shape == (48, batch * 37)
    ours = _from_pixel_major(pooled, batch)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    assert_allclose(ours.numpy(), expected.numpy(), rtol=tolerance, atol=tolerance)
    assert torch.isnan(expected).any() == nan
    kernel = "stacked_pool" if in_channels == 1 else "pool_frozen"
    if compile_mode:
        _require_c_compiler()
        assert calls and set(calls) == {kernel}
    else:
        assert calls == []


def _require_c_compiler():
    from skdeepsphere.nn._kernels import native
    try:
        native._compiler()
    except RuntimeError:
        pytest.skip("no C compiler: torch's operations run here")


def _nan_block(shape, dtype=torch.float32, device="cpu"):
    """A block of NaN instead of recycled memory, which may hold the right
    answer from an earlier call: every element must be written."""
    return torch.full(shape, float("nan"), dtype=dtype, device=device)


def _pixel_major_filter_case(in_channels, monkeypatch):
    """A ChebConv on nside 2 with a bias, pixel-major signals of a batch of 3
    and the dense polynomial's output; the filter accumulates its K products
    over chunks of 10 rows (the last one short) in NaN-filled blocks."""
    from skdeepsphere.nn._kernels import chebyshev
    monkeypatch.setattr(chebyshev, "_GEMM_CHUNK_BYTES", 10 * 2 * 8)
    monkeypatch.setattr(chebyshev, "empty_block", _nan_block)
    L = healpix_laplacian(2, None)
    torch.manual_seed(0)
    conv = ChebConv(in_channels, 2, L, 4).double()
    torch.nn.init.normal_(conv.bias)
    batch = 3
    x = torch.randn(batch, in_channels, 48, dtype=torch.float64)
    signals = x.reshape(batch * in_channels, 48).T.contiguous()
    expected = dense_chebconv(L, x.numpy(), conv.weight.detach().numpy(),
                              conv.bias.detach().numpy())
    return conv, signals, batch, expected


@pytest.mark.parametrize("in_channels", [1, 3, 17])
def test_pixel_major_training_filter_matches_dense_polynomial(in_channels, monkeypatch):
    # Pixel-major in, pixel-major out, with autograd: against the dense
    # polynomial, and its gradients against finite differences. The K
    # products are accumulated over chunks of 10 rows, the last one short.
    # 17 input channels for 2 outputs: a narrow GEMM, whose weight is
    # multiplied column-major and whose weight gradient is transposed.
    from skdeepsphere.nn._kernels.chebyshev import pixel_major_training_filter
    conv, signals, batch, expected = _pixel_major_filter_case(in_channels, monkeypatch)
    out = pixel_major_training_filter(conv.laplacian, signals, conv.weight, conv.bias, batch)
    assert out.shape == (48 * batch, 2)
    assert_allclose(_from_pixel_major(out.view(48, -1), batch).detach().numpy(), expected,
                    atol=1e-10)
    assert torch.autograd.gradcheck(
        lambda s, w, b: pixel_major_training_filter(conv.laplacian, s, w, b, batch),
        (signals.requires_grad_(), conv.weight.detach().requires_grad_(),
         conv.bias.detach().requires_grad_()))


@pytest.mark.parametrize("kept_terms_bytes", [0, 1 << 20])
@pytest.mark.parametrize("in_channels", [1, 3, 17])
def test_pixel_major_filter_matches_dense_polynomial(in_channels, kept_terms_bytes,
                                                     monkeypatch):
    # The inference filter, with the K terms kept and accumulated over
    # chunks of 10 rows (the last one short), or each folded in as it comes.
    from skdeepsphere.nn._kernels import chebyshev
    monkeypatch.setattr(chebyshev, "_KEPT_TERMS_BYTES", kept_terms_bytes)
    conv, signals, batch, expected = _pixel_major_filter_case(in_channels, monkeypatch)
    with torch.no_grad():
        out = chebyshev.pixel_major_filter(conv.laplacian, signals, conv.weight, conv.bias,
                                           batch)
    assert_allclose(_from_pixel_major(out.view(48, -1), batch).numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("compile_mode", [False, True])
@pytest.mark.parametrize("in_channels", [1, 2])
def test_deepsphere_fast_path_matches_reference_modules(in_channels, compile_mode, pooling,
                                                        monkeypatch):
    # The fast path (fused BatchNorm + ReLU, fast Chebyshev filter; with one
    # input channel the K terms side by side; C kernels or eager
    # ones; the max fused, the mean after the node) against the plain
    # module calls: outputs, gradients and running statistics.
    laplacians, _, parents = laplacian_hierarchy(8, None, 2)
    torch.manual_seed(0)
    fast = DeepSphere(laplacians, parents, in_channels, 3, channels=(4, 6), cheb_order=3,
                      pooling=pooling)
    with torch.no_grad():  # (the fast path folds them into BatchNorm's statistics)
        for conv in fast.modules():
            if isinstance(conv, ChebConv):
                conv.bias.normal_()
    reference = copy.deepcopy(fast)
    x = torch.randn(5, in_channels, 768)
    from skdeepsphere.nn import models
    heads = []
    monkeypatch.setattr(models, "_pixel_major_mean_head",
                        lambda *args, original=models._pixel_major_mean_head:
                        heads.append(1) or original(*args))
    for mode in ("train", "eval"):
        fast.train(mode == "train")
        reference.train(mode == "train")
        fast.zero_grad()
        reference.zero_grad()
        assert _pixel_major(fast.blocks, x)  # with autograd, in both modes
        with skdeepsphere.config_context(compile=compile_mode):
            out = fast(x)
            out.square().sum().backward()
        assert heads == [1] * (1 + (mode == "eval"))  # the head's filter pixel-major too
        with skdeepsphere.config_context(kernels="reference"):
            expected = reference(x)
        expected.square().sum().backward()
        assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5)
        grads = dict(reference.named_parameters())
        for (name, a), b in zip(fast.named_parameters(), reference.parameters()):
            scale = b.grad.abs().max().item()
            if mode == "train" and name.startswith("blocks.") and name.endswith(".0.bias"):
                # A bias before a training BatchNorm has a zero gradient up to rounding,
                # relative to its convolution's weight gradient.
                weight_scale = grads[name[:-4] + "weight"].grad.abs().max().item()
                assert max(a.grad.abs().max().item(), scale) <= 1e-4 * weight_scale, name
                continue
            assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-3,
                            atol=max(1e-4 * scale, 1e-5), err_msg=name)
    for (name, a), b in zip(fast.named_buffers(), reference.buffers()):
        assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("chunks", ["default", "small", "terms not kept"])
@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("in_channels", [1, 2])
def test_deepsphere_inference_path_matches_reference_and_training_forward(
        in_channels, pooling, chunks, monkeypatch):
    # Without autograd, eval mode runs pixel-major: the maximum over the 4
    # children before BatchNorm's affine map (a minimum where the scale is
    # negative; a mean after the ReLU), 3 Chebyshev terms kept (K side by
    # side for one input channel). With max-pooling the filter's output is
    # pooled chunk by chunk ("small": chunks of 140 rows of the first
    # layer, the last one short, into NaN-filled blocks, so every value
    # must be written); "terms not kept": layers with several input
    # channels filter and pool separately. Same values as the modules and
    # as the forward with autograd.
    import skdeepsphere
    from skdeepsphere.nn import models
    from skdeepsphere.nn._kernels import chebyshev, normalization
    if chunks == "small":
        monkeypatch.setattr(chebyshev, "_GEMM_CHUNK_BYTES", 140 * 4 * 4)
        for module in (chebyshev, normalization, models):
            monkeypatch.setattr(module, "empty_block", _nan_block)
    elif chunks == "terms not kept":
        monkeypatch.setattr(chebyshev, "_KEPT_TERMS_BYTES", 0)
    laplacians, _, parents = laplacian_hierarchy(8, None, 2)
    torch.manual_seed(0)
    model = DeepSphere(laplacians, parents, in_channels, 3, channels=(4, 6, 5),
                       cheb_order=4, pooling=pooling).eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    with torch.no_grad():
        for norm in norms:
            norm.weight.copy_(torch.randn_like(norm.weight))
            norm.bias.copy_(torch.randn_like(norm.bias))
            norm.running_mean.copy_(torch.randn_like(norm.running_mean))
            norm.running_var.uniform_(0.5, 2.0)
        for conv in model.modules():
            if isinstance(conv, ChebConv):  # (folded into BatchNorm's shift)
                conv.bias.normal_()
    assert all((norm.weight < 0).any() and (norm.weight > 0).any() for norm in norms)
    x = torch.randn(5, in_channels, 768)
    with torch.no_grad():
        fast = model(x)
        with skdeepsphere.config_context(kernels="reference"):
            expected = model(x)
    assert_allclose(fast.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    assert_allclose(fast.numpy(), model(x).detach().numpy(), rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        blocks = model.blocks.double()
        x = x.double()
        assert _pixel_major(blocks, x)
        with skdeepsphere.config_context(kernels="reference"):
            expected = blocks(x)
        assert_allclose(_pixel_major_blocks(blocks, x).numpy(), expected.numpy(), rtol=1e-12,
                        atol=1e-12)


def test_deepsphere_hooks_see_their_modules():
    # A forward hook on a BatchNorm (e.g. to collect statistics) must run,
    # and so must one on the head's ChebConv or pixel mean.
    laplacians, _, parents = laplacian_hierarchy(4, None, 1)
    model = DeepSphere(laplacians, parents, 1, 2, channels=(4, 4), cheb_order=2)
    seen = []
    handle = model.blocks[0][1].register_forward_hook(
        lambda module, args, out: seen.append(out.shape))
    model(torch.randn(2, 1, 192))
    assert seen == [torch.Size([2, 4, 192])]
    handle.remove()
    for module in model.head:
        seen = []
        handle = module.register_forward_hook(lambda module, args, out: seen.append(out.shape))
        expected = model(torch.randn(2, 1, 192))
        handle.remove()
        assert seen == [torch.Size([2, 2, 48]) if isinstance(module, ChebConv)
                        else expected.shape]

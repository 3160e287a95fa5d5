import healpy as hp
import numpy as np
import pytest
import torch

from skdeepsphere.graph import healpix_laplacian, laplacian_hierarchy
from skdeepsphere.healpix import parent_hierarchy
from skdeepsphere.nn import ChebConv, DeepSphere, HealpixPool, PatchCNN2d, nested_patch_grid


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

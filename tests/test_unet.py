"""Spherical U-Net: unpooling, the module, and the estimators' dense targets."""

import doctest

import healpy as hp
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from skdeepsphere import (
    SphericalCNNClassifier,
    SphericalCNNRegressor,
    load_estimator,
    save_estimator,
)
from skdeepsphere.graph import laplacian_hierarchy
from skdeepsphere.healpix import parent_hierarchy
from skdeepsphere.metrics import mean_iou
from skdeepsphere.nn import HealpixPool, HealpixUnpool, MaskedMSELoss, SphericalUNet
from skdeepsphere.nn import losses, models, pool

NSIDE = 8
NPIX = hp.nside2npix(NSIDE)
SMALL = dict(architecture="unet", channels=(8, 8), cheb_order=3, max_epochs=3,
             batch_size=8, lr=3e-3, random_state=0, device="cpu")
# A partial sky: the first 3 base pixels minus a few pixels, so that some
# parents have fewer than 4 observed children.
PARTIAL_NESTED = np.setdiff1d(np.arange(3 * NPIX // 12), [5, 6, 7, 70, 133])


# -- unpooling -----------------------------------------------------------------

@pytest.mark.parametrize("nested", [np.arange(768), PARTIAL_NESTED])
def test_unpool_values_and_gradient_match_numpy(nested):
    _, (parents,) = parent_hierarchy(nested, 1)
    n_parents = parents.max() + 1
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, n_parents))
    upstream = rng.normal(size=(2, 3, nested.size))
    unpool = HealpixUnpool(parents)
    assert unpool.complete == (nested.size == 768)
    xt = torch.tensor(x, requires_grad=True)
    out = unpool(xt)
    (out * torch.tensor(upstream)).sum().backward()
    # numpy reference: every child copies its parent; the gradient of a
    # parent sums the gradients of its children.
    expected_grad = np.zeros_like(x)
    np.add.at(expected_grad, (slice(None), slice(None), parents), upstream)
    np.testing.assert_array_equal(out.detach().numpy(), x[..., parents])
    np.testing.assert_allclose(xt.grad.numpy(), expected_grad, rtol=1e-12)


def test_unpool_children_are_the_nested_children():
    # On a full sky pixel 4p + i (nested, nside) is a child of p (nside / 2).
    coarse = torch.arange(192.0).view(1, 1, 192)
    _, (parents,) = parent_hierarchy(np.arange(768), 1)
    out = HealpixUnpool(parents)(coarse)[0, 0].numpy()
    np.testing.assert_array_equal(out, np.arange(768) // 4)
    # Average pooling undoes unpooling.
    np.testing.assert_array_equal(HealpixPool(parents, mode="avg")(
        HealpixUnpool(parents)(coarse)), coarse)


# -- module --------------------------------------------------------------------

@pytest.mark.parametrize("nested", [None, PARTIAL_NESTED])
@pytest.mark.parametrize("channels, n_levels", [((4, 6), 1), ((4, 6, 8), 2), ((4, 6, 8, 8), 2)])
def test_unet_shapes_full_and_partial_sky(nested, channels, n_levels):
    laplacians, pixel_sets, parents = laplacian_hierarchy(NSIDE, nested, n_levels)
    model = SphericalUNet(laplacians, parents, 2, 3, channels=channels, cheb_order=3)
    n_pixels = pixel_sets[0].size
    assert model(torch.randn(5, 2, n_pixels)).shape == (5, 3, n_pixels)
    assert len(model.decoder) == n_levels


def test_unet_needs_a_width_per_level():
    laplacians, _, parents = laplacian_hierarchy(NSIDE, None, 2)
    with pytest.raises(ValueError, match="needs at least 3 channel widths"):
        SphericalUNet(laplacians, parents, 1, 2, channels=(4, 4))


def test_unet_output_at_a_pixel_depends_on_its_neighbourhood_only_up_to_the_receptive_field():
    # The skip connection at the finest level keeps a path of 2 hops
    # (cheb_order=2 twice): a Dirac changes distant pixels only through the
    # coarse levels, i.e. the U-Net is not a per-pixel map.
    laplacians, _, parents = laplacian_hierarchy(NSIDE, None, 1)
    torch.manual_seed(0)
    model = SphericalUNet(laplacians, parents, 1, 1, channels=(4, 4), cheb_order=2,
                          batch_norm=False).eval()
    base = torch.zeros(1, 1, NPIX)
    dirac = base.clone()
    dirac[0, 0, 300] = 1.0
    changed = np.flatnonzero((model(dirac) - model(base)).abs().detach().numpy().ravel() > 0)
    neighbours = set(hp.get_all_neighbours(NSIDE, 300, nest=True))
    assert 300 in changed and neighbours & set(changed)
    assert len(changed) < NPIX // 4


def test_masked_mse_loss_ignores_nan_targets():
    prediction = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    target = torch.tensor([0.0, float("nan"), 5.0, float("nan")])
    loss = MaskedMSELoss()(prediction, target)
    loss.backward()
    assert loss.item() == pytest.approx((1 + 4) / 2)
    np.testing.assert_allclose(prediction.grad.numpy(), [1.0, 0.0, -2.0, 0.0])


# -- estimators ----------------------------------------------------------------

def smooth_maps(rng, n, nside=NSIDE):
    """RING maps of a smooth Gaussian field (unit variance)."""
    cl = np.exp(-0.5 * (np.arange(3 * nside) / 4.0) ** 2)
    maps = np.array([hp.alm2map(_alm(rng, cl), nside) for _ in range(n)])
    return maps / maps.std()


def _alm(rng, cl):
    lmax = len(cl) - 1
    ell, m = hp.Alm.getlm(lmax)
    alm = np.sqrt(cl[ell] / 2) * (rng.standard_normal(ell.size) + 1j * rng.standard_normal(ell.size))
    alm[m == 0] = np.sqrt(2) * alm[m == 0].real
    return alm


@pytest.fixture(scope="module")
def maps():
    return smooth_maps(np.random.default_rng(0), 24)


def test_regressor_shapes_and_ring_nest_orderings(maps):
    y = np.stack([maps**2, -maps], axis=1)
    ring = SphericalCNNRegressor(**SMALL).fit(maps, y)
    to_nest = hp.nest2ring(NSIDE, np.arange(NPIX))
    nest = SphericalCNNRegressor(nest=True, **SMALL).fit(maps[:, to_nest], y[..., to_nest])
    prediction = ring.predict(maps)
    assert prediction.shape == y.shape
    # Same nested data, same weights: the RING predictions are the NEST
    # ones in RING order.
    np.testing.assert_allclose(prediction[..., to_nest], nest.predict(maps[:, to_nest]),
                               rtol=1e-5, atol=1e-5)
    one = SphericalCNNRegressor(**SMALL).fit(maps, maps**2)
    assert one.predict(maps[:3]).shape == (3, NPIX) and one.n_outputs_ == 1


def test_partial_sky_in_any_pixel_order(maps):
    rng = np.random.default_rng(1)
    pixels_sorted = hp.nest2ring(NSIDE, PARTIAL_NESTED)
    shuffle = rng.permutation(pixels_sorted.size)
    labels = (maps > 0.5).astype(int)
    params = dict(SMALL, nside=NSIDE)
    a = SphericalCNNClassifier(pixels=pixels_sorted, **params).fit(
        maps[:, pixels_sorted], labels[:, pixels_sorted])
    b = SphericalCNNClassifier(pixels=pixels_sorted[shuffle], **params).fit(
        maps[:, pixels_sorted[shuffle]], labels[:, pixels_sorted[shuffle]])
    proba_a = a.predict_proba(maps[:4, pixels_sorted])
    proba_b = b.predict_proba(maps[:4, pixels_sorted[shuffle]])
    assert proba_b.shape == (4, 2, pixels_sorted.size)
    # Column j of b's output is the pixel pixels_sorted[shuffle][j].
    np.testing.assert_allclose(proba_b, proba_a[..., shuffle], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.predict(maps[:4, pixels_sorted]),
                                  proba_a.argmax(axis=1))


class _RecordTargets(Callback):
    """Keeps the targets of every training batch."""

    def initialize(self):
        self.targets = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.targets.append(torch.as_tensor(batch[1]))


def test_masked_targets_are_left_out_of_loss_and_score(maps):
    rng = np.random.default_rng(2)
    masked = rng.uniform(size=maps.shape) < 0.2
    labels = np.where(masked, -1, (maps > 0.5).astype(int))
    record = _RecordTargets()
    clf = SphericalCNNClassifier(class_weight="balanced", callbacks=[record], **SMALL)
    clf.fit(maps, labels)
    assert clf.classes_.tolist() == [0, 1]
    # What the net trained on: masked pixels carry the criterion's ignore_index.
    seen = torch.cat(record.targets[:len(record.targets) // SMALL["max_epochs"]])
    assert (seen == clf.net_.criterion_.ignore_index).sum().item() == masked.sum()
    assert (seen == 1).sum().item() == (labels == 1).sum()
    observed = labels[labels >= 0]
    np.testing.assert_allclose(clf.class_weight_,
                               observed.size / (2 * np.bincount(observed)))
    # The training loss is blind to the scores of masked pixels.
    X = clf._transform_maps(maps)
    targets = torch.as_tensor(clf._nested_targets(np.where(masked, -100, labels)))
    mask = torch.as_tensor(clf._nested_targets(masked))[:, None].expand(-1, 2, -1)
    scores = clf.net_.forward(X)
    loss = clf.net_.get_loss(scores, targets)
    garbage = torch.where(mask, 100 * torch.randn_like(scores), scores)
    assert clf.net_.get_loss(garbage, targets).item() == pytest.approx(loss.item())
    assert clf.net_.get_loss(torch.where(mask, scores, -scores), targets).item() != \
        pytest.approx(loss.item())
    # score = mean IoU over observed pixels.
    expected = mean_iou(labels[~masked], clf.predict(maps)[~masked])
    assert clf.score(maps, labels) == pytest.approx(expected)

    y = np.where(masked, np.nan, maps**2)
    y_unseen = np.where(masked, hp.UNSEEN, maps**2)
    reg = SphericalCNNRegressor(**SMALL).fit(maps, y)
    assert reg.target_mean_[0] == pytest.approx(np.mean(maps[~masked] ** 2))
    same = SphericalCNNRegressor(**SMALL).fit(maps, y_unseen)
    np.testing.assert_array_equal(reg.predict(maps), same.predict(maps))
    prediction = reg.predict(maps)
    truth = maps[~masked] ** 2
    r2 = 1 - np.sum((truth - prediction[~masked]) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert reg.score(maps, y) == pytest.approx(r2)


def test_class_weight_favours_the_rare_class(maps):
    labels = (maps > 1.5).astype(int)  # about 7 % of the pixels
    plain = SphericalCNNClassifier(**SMALL).fit(maps, labels)
    weighted = SphericalCNNClassifier(class_weight={0: 1.0, 1: 20.0}, **SMALL).fit(maps, labels)
    np.testing.assert_array_equal(weighted.class_weight_, [1.0, 20.0])
    assert (weighted.predict(maps) == 1).mean() > 2 * (plain.predict(maps) == 1).mean()
    # The per-map architectures take class_weight too.
    per_map = SphericalCNNClassifier(**{**SMALL, "architecture": "fcn", "class_weight": "balanced"})
    y = (maps.mean(axis=1) > 0).astype(int)
    np.testing.assert_allclose(per_map.fit(maps, y).class_weight_,
                               len(y) / (2 * np.bincount(y)))


def test_segmentation_that_needs_neighbourhoods():
    # Sparse spikes; a pixel's label says whether one of its 8 neighbours
    # (not itself) holds a spike. The pixel's own value carries no
    # information about its label: a per-pixel model cannot beat
    # "background everywhere" (mean IoU about 0.4), a graph CNN can.
    rng = np.random.default_rng(0)
    n_maps = 32
    spikes = (rng.uniform(size=(n_maps, NPIX)) < 0.03).astype(float)
    neighbours = hp.get_all_neighbours(NSIDE, np.arange(NPIX))  # RING, (8, NPIX)
    valid = neighbours >= 0
    near = np.zeros_like(spikes, dtype=bool)
    for k in range(8):
        near |= valid[k] & (spikes[:, np.where(valid[k], neighbours[k], 0)] > 0)
    labels = near.astype(int)
    train, test = slice(0, 24), slice(24, None)
    per_pixel = LogisticRegression(class_weight="balanced").fit(
        spikes[train].reshape(-1, 1), labels[train].ravel())
    per_pixel_iou = mean_iou(labels[test],
                             per_pixel.predict(spikes[test].reshape(-1, 1)).reshape(8, NPIX))
    unet = SphericalCNNClassifier(**{**SMALL, "max_epochs": 10, "lr": 1e-2,
                                     "class_weight": "balanced"})
    unet.fit(spikes[train], labels[train])
    assert per_pixel_iou < 0.5
    assert unet.score(spikes[test], labels[test]) > 0.8


def test_grid_search_on_a_partial_sky(maps):
    pixels = hp.nest2ring(NSIDE, PARTIAL_NESTED)
    X, labels = maps[:, pixels], (maps[:, pixels] > 0.5).astype(int)
    search = GridSearchCV(SphericalCNNClassifier(nside=NSIDE, pixels=pixels, **SMALL),
                          {"cheb_order": [1, 3]}, cv=2).fit(X, labels)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert 0 < search.best_score_ <= 1
    assert search.predict(X[:2]).shape == (2, pixels.size)
    regression = GridSearchCV(SphericalCNNRegressor(nside=NSIDE, pixels=pixels, **SMALL),
                              {"lr": [1e-3, 3e-3]}, cv=2).fit(X, X**2)
    assert np.isfinite(regression.cv_results_["mean_test_score"]).all()


def test_save_load_memmap_and_resume(maps, tmp_path):
    y = np.stack([maps**2, -maps], axis=1)
    reg = SphericalCNNRegressor(**SMALL).fit(maps, y)
    loaded = load_estimator(save_estimator(reg, tmp_path / "reg"))
    np.testing.assert_array_equal(loaded.predict(maps), reg.predict(maps))
    labels = (maps > 0.5).astype(int)
    clf = SphericalCNNClassifier(class_weight={0: 1.0, 1: 3.0}, **SMALL).fit(maps, labels)
    loaded = load_estimator(save_estimator(clf, tmp_path / "clf"))
    np.testing.assert_array_equal(loaded.predict_proba(maps), clf.predict_proba(maps))
    assert loaded.class_weight == {0: 1.0, 1: 3.0}
    # Streaming from a memmap trains and predicts like the array in memory.
    path = tmp_path / "maps.f32"
    writer = np.memmap(path, dtype=np.float32, mode="w+", shape=maps.shape)
    writer[:] = maps
    writer.flush()
    lazy_maps = np.memmap(path, dtype=np.float32, mode="r", shape=maps.shape)
    lazy = SphericalCNNRegressor(**SMALL).fit(lazy_maps, y)
    in_memory = SphericalCNNRegressor(**SMALL).fit(maps.astype(np.float32), y)
    np.testing.assert_allclose(lazy.predict(lazy_maps), in_memory.predict(maps),
                               rtol=1e-5, atol=1e-6)
    # Checkpoints: 2 epochs, then resumed to 3, like 3 in one go (at a
    # constant rate: a schedule over max_epochs makes them different runs).
    params = {**SMALL, "max_epochs": 2, "lr_decay": None}
    SphericalCNNClassifier(checkpoint=tmp_path / "ckpt", **params).fit(maps, labels)
    resumed = SphericalCNNClassifier(checkpoint=tmp_path / "ckpt", resume=True,
                                     **{**params, "max_epochs": 3}).fit(maps, labels)
    straight = SphericalCNNClassifier(**{**params, "max_epochs": 3}).fit(maps, labels)
    assert resumed.n_epochs_ == 3
    np.testing.assert_allclose(resumed.predict_proba(maps), straight.predict_proba(maps),
                               rtol=1e-4, atol=1e-5)


def test_dense_bad_input(maps):
    with pytest.raises(ValueError, match="architecture='unet' predicts maps"):
        SphericalCNNRegressor(**SMALL).fit(maps, maps[:, 0])
    with pytest.raises(ValueError, match="architecture='unet' predicts maps"):
        SphericalCNNClassifier(**SMALL).fit(maps, (maps[:, :100] > 0).astype(int))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        SphericalCNNClassifier(**SMALL).fit(maps, maps)
    with pytest.raises(ValueError, match="at least 2 classes"):
        SphericalCNNClassifier(**SMALL).fit(maps, np.zeros(maps.shape, int))
    with pytest.raises(ValueError, match="infinite"):
        SphericalCNNRegressor(**SMALL).fit(maps, np.where(maps > 2, np.inf, maps))
    with pytest.raises(ValueError, match="needs at least 2 channel widths"):
        SphericalCNNRegressor(**{**SMALL, "channels": (8,), "n_poolings": 1}).fit(maps, maps)
    with pytest.raises(ValueError, match="augment_rotation=True is not supported"):
        SphericalCNNRegressor(**{**SMALL, "augment_rotation": True}).fit(maps, maps)
    with pytest.raises(ValueError, match="are not in class_weight"):
        SphericalCNNClassifier(**{**SMALL, "class_weight": {0: 1.0, 2: 1.0}}).fit(
            maps, (maps > 0).astype(int))


@pytest.mark.parametrize("module", [losses, models, pool])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

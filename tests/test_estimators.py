import copy
import pickle

import healpy as hp
import numpy as np
import pytest
import torch
from sklearn.base import clone, is_classifier
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import Callback, EpochScoring

from skdeepsphere import SphericalCNNClassifier, SphericalCNNRegressor, _cache, estimators
from skdeepsphere import graph as graph_module
from skdeepsphere.graph import laplacian_hierarchy
from skdeepsphere.healpix import patch_pixels
from skdeepsphere.nn import ChebConv, HealpixPool
from tabular import TabularClassifier, TabularRegressor

NSIDE = 8
NPIX = hp.nside2npix(NSIDE)
SMALL = dict(channels=(8, 8), cheb_order=3, max_epochs=8, batch_size=16, lr=3e-3,
             random_state=0, device="cpu")


def gaussian_maps(rng, n, ell_peak, nside=NSIDE):
    """RING maps of Gaussian fields whose power peaks at ``ell_peak``."""
    ell = np.arange(3 * nside)
    cl = np.exp(-0.5 * ((ell - ell_peak) / 2.0) ** 2)
    maps = []
    for _ in range(n):
        # Own generator (healpy.synalm would use numpy's global state).
        lmax = 3 * nside - 1
        size = hp.Alm.getsize(lmax)
        ell_of_alm, m_of_alm = hp.Alm.getlm(lmax)
        amp = np.sqrt(cl[ell_of_alm] / 2)
        alm = amp * (rng.standard_normal(size) + 1j * rng.standard_normal(size))
        alm[m_of_alm == 0] = np.sqrt(2) * alm[m_of_alm == 0].real
        maps.append(hp.alm2map(alm, nside, lmax=lmax))
    maps = np.array(maps)
    return maps / maps.std()


@pytest.fixture(scope="module")
def two_classes():
    rng = np.random.default_rng(0)
    X = np.concatenate([gaussian_maps(rng, 60, 3), gaussian_maps(rng, 60, 12)])
    y = np.repeat([0, 1], 60)
    order = rng.permutation(len(y))
    return X[order], y[order]


def test_classifier_learns_separable_problem(two_classes):
    X, y = two_classes
    clf = SphericalCNNClassifier(**SMALL).fit(X[:80], y[:80])
    assert clf.score(X[80:], y[80:]) >= 0.9
    proba = clf.predict_proba(X[80:])
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X[80:]))
    assert clf.n_epochs_ == SMALL["max_epochs"]
    assert len(clf.net_.history) == SMALL["max_epochs"]
    assert clf.net_.history[-1, "train_loss"] < clf.net_.history[0, "train_loss"]


def test_predict_runs_the_pixel_major_path(two_classes, monkeypatch):
    # predict goes through skorch's evaluation step (eval mode, no
    # autograd): it must take the pixel-major inference path, and give the
    # probabilities of the reference modules.
    import skdeepsphere
    from skdeepsphere.nn import models
    X, y = two_classes
    clf = SphericalCNNClassifier(**{**SMALL, "max_epochs": 2}).fit(X[:40], y[:40])
    calls = []
    original = models._pixel_major_signals
    monkeypatch.setattr(models, "_pixel_major_signals",
                        lambda *args: calls.append(1) or original(*args))
    proba = clf.predict_proba(X[80:])
    assert len(calls) == -(-40 // SMALL["batch_size"])
    with skdeepsphere.config_context(kernels="reference"):
        np.testing.assert_allclose(proba, clf.predict_proba(X[80:]), rtol=1e-4, atol=1e-6)
    assert len(calls) == -(-40 // SMALL["batch_size"])


@pytest.mark.parametrize("architecture", ["fcn", "cnn"])
def test_string_labels_and_architectures(two_classes, architecture):
    X, y = two_classes
    labels = np.array(["lcdm", "wcdm"])[y]
    clf = SphericalCNNClassifier(architecture=architecture, **SMALL).fit(X[:80], labels[:80])
    assert set(clf.predict(X[80:])) <= {"lcdm", "wcdm"}
    assert list(clf.classes_) == ["lcdm", "wcdm"]
    assert clf.score(X[80:], labels[80:]) > 0.8
    assert clf.decision_function(X[:3]).shape == (3,)


def test_regressor_learns_linear_target():
    rng = np.random.default_rng(1)
    n = 160
    amplitude = rng.uniform(0.5, 2.0, size=n)
    X = rng.standard_normal((n, NPIX)) * amplitude[:, None]
    reg = SphericalCNNRegressor(**{**SMALL, "max_epochs": 15}).fit(X[:120], amplitude[:120])
    prediction = reg.predict(X[120:])
    assert prediction.shape == (40,)
    assert r2_score(amplitude[120:], prediction) > 0.8


def test_regressor_multi_output_multi_channel():
    rng = np.random.default_rng(2)
    n = 160
    y = rng.uniform(0.5, 2.0, size=(n, 2))
    X = rng.standard_normal((n, 2, NPIX)) * y[:, :, None]
    reg = SphericalCNNRegressor(statistics="mean_var", **{**SMALL, "max_epochs": 15})
    reg.fit(X[:120], y[:120])
    prediction = reg.predict(X[120:])
    assert prediction.shape == (40, 2) and reg.n_outputs_ == 2 and reg.n_channels_ == 2
    assert r2_score(y[120:], prediction) > 0.8


def test_ring_and_nest_inputs_give_the_same_predictions(two_classes):
    X, y = two_classes
    X_nest = np.array([hp.reorder(m, r2n=True) for m in X])
    ring = SphericalCNNClassifier(**SMALL).fit(X[:80], y[:80])
    nest = SphericalCNNClassifier(nest=True, **SMALL).fit(X_nest[:80], y[:80])
    np.testing.assert_allclose(ring.predict_proba(X[80:]), nest.predict_proba(X_nest[80:]),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("architecture", ["fcn", "cnn", "2dcnn"])
def test_partial_sky_patch(two_classes, architecture):
    X, y = two_classes
    pixels = patch_pixels(NSIDE, 1, nest=False)[4]  # one base pixel, 64 pixels, RING
    clf = SphericalCNNClassifier(architecture=architecture, nside=NSIDE, pixels=pixels, **SMALL)
    clf.fit(X[:80, pixels], y[:80])
    assert clf.nside_ == NSIDE and len(clf.nested_pixels_) == 64
    assert clf.score(X[80:, pixels], y[80:]) > 0.7
    # Shuffling the columns together with `pixels` describes the same maps.
    shuffle = np.random.default_rng(0).permutation(64)
    other = clone(clf).set_params(pixels=pixels[shuffle]).fit(X[:80, pixels[shuffle]], y[:80])
    np.testing.assert_allclose(other.predict_proba(X[80:, pixels[shuffle]]),
                               clf.predict_proba(X[80:, pixels]), rtol=1e-5, atol=1e-6)


def test_irregular_partial_sky(two_classes):
    X, y = two_classes
    theta, _ = hp.pix2ang(NSIDE, np.arange(NPIX))
    pixels = np.flatnonzero(np.abs(np.pi / 2 - theta) > 0.3)  # galactic cut
    clf = SphericalCNNClassifier(nside=NSIDE, pixels=pixels, **SMALL).fit(X[:80, pixels], y[:80])
    assert clf.score(X[80:, pixels], y[80:]) > 0.8
    with pytest.raises(ValueError, match="2D CNN needs the pixels of one nested square"):
        clone(clf).set_params(architecture="2dcnn").fit(X[:20, pixels], y[:20])


def test_determinism_and_pickle(two_classes):
    X, y = two_classes
    first = SphericalCNNClassifier(augment_noise=0.1, **SMALL).fit(X[:60], y[:60])
    second = SphericalCNNClassifier(augment_noise=0.1, **SMALL).fit(X[:60], y[:60])
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    third = SphericalCNNClassifier(augment_noise=0.1, **{**SMALL, "random_state": 1})
    assert not np.allclose(third.fit(X[:60], y[:60]).predict_proba(X), first.predict_proba(X))
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict_proba(X), first.predict_proba(X))
    # fitting does not touch the caller's global torch random state
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    SphericalCNNClassifier(**{**SMALL, "max_epochs": 1}).fit(X[:20], y[:20])
    assert torch.rand(1) == expected


def test_grid_search_snippet_from_the_readme(two_classes):
    X, y = two_classes
    search = GridSearchCV(
        SphericalCNNClassifier(architecture="fcn", **{**SMALL, "max_epochs": 3}),
        {"cheb_order": [2, 3]}, cv=3)
    search.fit(X[:60], y[:60])
    # the refitted model is the best of the grid, trained on all 60 maps
    scores = search.cv_results_["mean_test_score"]
    best = search.cv_results_["params"][int(np.argmax(scores))]
    assert search.best_params_ == best and search.best_estimator_.cheb_order == best["cheb_order"]
    expected = clone(search.estimator).set_params(**best).fit(X[:60], y[:60])
    np.testing.assert_allclose(search.predict_proba(X[60:]), expected.predict_proba(X[60:]),
                               rtol=1e-5, atol=1e-7)


def test_cross_validate_in_parallel_and_pipeline(two_classes):
    X, y = two_classes
    pipeline = make_pipeline(SphericalCNNClassifier(**{**SMALL, "max_epochs": 3}))
    result = cross_validate(pipeline, X[:60], y[:60], cv=2, n_jobs=2)
    assert result["test_score"].shape == (2,)


def train_accuracy(net, X, y):
    return float(np.mean(net.predict(X).argmax(axis=1) == np.asarray(y)))


def test_skorch_features_stay_reachable(two_classes):
    X, y = two_classes
    scoring = EpochScoring(train_accuracy, lower_is_better=False, on_train=True, name="train_acc")
    clf = SphericalCNNClassifier(early_stopping=True, n_iter_no_change=2, lr_decay=0.9,
                                 callbacks=[scoring], **{**SMALL, "max_epochs": 30})
    clf.fit(X[:80], y[:80])
    history = clf.net_.history
    assert "valid_loss" in history[-1] and "train_acc" in history[-1]
    assert len(history) == clf.n_epochs_ < 30  # stopped early
    lr = clf.net_.optimizer_.param_groups[0]["lr"]
    n_batches = int(np.ceil(72 / SMALL["batch_size"])) * clf.n_epochs_
    np.testing.assert_allclose(lr, SMALL["lr"] * 0.9**n_batches, rtol=1e-6)
    assert clf.callbacks == [scoring]  # the parameter itself is not modified


class _RecordLearningRate(Callback):
    """The learning rate each training batch was stepped with."""

    def initialize(self):
        self.rates = []
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.rates.append(net.optimizer_.param_groups[0]["lr"])


@pytest.mark.parametrize("lr_decay, constant", [("cosine", 0), ("late_cosine", 9)])
def test_cosine_schedules_follow_the_formula(two_classes, lr_decay, constant):
    # 40 maps in batches of 16: 3 batches per epoch, 12 in 4 epochs; the
    # late schedule holds lr for the first 3/4 of them (9), then anneals.
    X, y = two_classes
    record = _RecordLearningRate()
    SphericalCNNClassifier(lr_decay=lr_decay, callbacks=[record],
                           **{**SMALL, "max_epochs": 4, "lr": 0.01}).fit(X[50:90], y[50:90])
    steps = np.arange(12)
    position = np.clip(steps - constant, 0, None) / (12 - constant)
    expected = 0.01 * 0.5 * (1 + np.cos(np.pi * position))
    np.testing.assert_allclose(record.rates, expected, rtol=1e-12)


def test_verbose_prints_one_line_per_epoch(two_classes, capsys):
    X, y = two_classes
    SphericalCNNClassifier(verbose=1, **{**SMALL, "max_epochs": 2}).fit(X[:20], y[:20])
    out = capsys.readouterr().out
    assert "train_loss" in out and len([line for line in out.splitlines()
                                        if line.strip().startswith(("1", "2"))]) == 2


def test_bad_input_errors(two_classes):
    X, y = two_classes
    clf = SphericalCNNClassifier(**{**SMALL, "max_epochs": 1})
    with pytest.raises(ValueError, match="not a full HEALPix sky"):
        clf.fit(X[:10, :700], y[:10])
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(np.where(np.arange(NPIX) == 3, np.nan, X[:10]), y[:10])
    with pytest.raises(ValueError, match="10 maps but y has 9"):
        clf.fit(X[:10], y[:9])
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(X[:10], np.zeros(10))
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X[:10], np.linspace(0, 1, 10))
    clf.fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="X has 3072 features, but .* expecting 768 features"):
        clf.predict(np.zeros((2, 3072)))
    with pytest.raises(ValueError, match="2 channels, but .* fitted on 1"):
        clf.predict(np.zeros((2, 2, NPIX)))
    with pytest.raises(ValueError, match="full sky at nside=16 has 3072"):
        clone(clf).set_params(nside=16).fit(X[:10], y[:10])
    with pytest.raises(InvalidParameterError, match="architecture"):
        clone(clf).set_params(architecture="resnet").fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="n_poolings=4 is too many for nside=8"):
        clone(clf).set_params(n_poolings=4).fit(X[:10], y[:10])
    with pytest.raises(TypeError, match="nest"):
        clone(clf).set_params(pixels=[1, 2, 3], nside=8, nest="ring").fit(X[:10, :3], y[:10])
    with pytest.raises(ValueError, match="y must have shape"):
        SphericalCNNRegressor(**SMALL).fit(X[:10], np.zeros((10, 2, 2)))


def test_device_auto_resolves():
    from skdeepsphere.estimators import resolve_device
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available() and torch.cuda.device_count() >= 2:
        assert resolve_device("cuda:1") == "cuda:1"
    else:  # a GPU this machine lacks fails at once, not inside torch
        with pytest.raises(ValueError, match="device='cuda:1' but torch sees"):
            resolve_device("cuda:1")


# sklearn's generic checks feed small random tabular data (1 to 20 columns):
# the adapters of tests/tabular.py read them as partial skies, so every check
# fits, predicts and pickles a real network. Two epochs keep them fast.
CHECKED = dict(channels=(4,), cheb_order=2, max_epochs=2, random_state=0, device="cpu")

# The learning checks need a longer fit, and the CNN head: the FCN averages
# over pixels, so the two blob coordinates of these checks, read as the two
# pixels of a sky, would be interchangeable for it.
LEARNING_CHECKS = {"check_classifiers_train": dict(architecture="cnn", max_epochs=10, lr=1e-2),
                   "check_regressors_train": dict(architecture="cnn", max_epochs=10, lr=1e-2),
                   "check_class_weight_classifiers": dict(architecture="cnn", max_epochs=10,
                                                          lr=1e-2)}


@parametrize_with_checks([TabularClassifier(**CHECKED), TabularRegressor(**CHECKED)])
def test_sklearn_estimator_checks(estimator, check):
    name = getattr(check, "func", check).__name__
    if name in LEARNING_CHECKS:
        estimator = clone(estimator).set_params(**LEARNING_CHECKS[name])
    check(estimator)


def outputs(estimator, X):
    """Probabilities of a classifier, predictions of a regressor."""
    return estimator.predict_proba(X) if is_classifier(estimator) else estimator.predict(X)


@pytest.mark.parametrize("Estimator", [SphericalCNNClassifier, SphericalCNNRegressor])
def test_generic_properties_on_maps(Estimator, two_classes):
    """What the tabular sklearn checks verify, on real HEALPix maps."""
    X, y = two_classes
    X, y = X[:40], y[:40]
    estimator = Estimator(**{**SMALL, "max_epochs": 2})
    # Probabilities, not labels: labels of a barely trained model can all be
    # one class and hide any difference.
    params = estimator.get_params()
    assert estimator.fit(X, y) is estimator  # fit returns self
    assert estimator.get_params() == params  # parameters are not overwritten
    first = outputs(estimator, X)
    assert np.ptp(first, axis=0).max() > 1e-3  # the outputs depend on the maps
    # idempotent fit, dtype and memory layout do not matter
    np.testing.assert_allclose(outputs(estimator.fit(X, y), X), first, rtol=1e-5, atol=1e-7)
    refit = clone(estimator).fit(np.asfortranarray(X.astype(np.float32)), y)
    np.testing.assert_allclose(outputs(refit, X), first, rtol=1e-4, atol=1e-5)
    # predictions of a subset / permutation match
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(outputs(estimator, X[order]), first[order], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(outputs(estimator, X[:7]), first[:7], rtol=1e-5, atol=1e-7)
    # read-only input, lists, pickling
    readonly = X.copy()
    readonly.setflags(write=False)
    again = clone(estimator).fit(readonly, y)
    np.testing.assert_allclose(outputs(again, readonly), first, rtol=1e-5, atol=1e-7)
    restored = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(outputs(restored, X), first)
    assert estimator.n_features_in_ == NPIX
    with pytest.raises(ValueError, match="infinite"):
        clone(estimator).fit(np.where(np.arange(NPIX) == 0, np.inf, X), y)


# --- augment_rotation --------------------------------------------------------


def polar_blobs(n=40, noise=0.1, seed=0):
    """Class 1: a blob at the north pole, class 0: at the south pole."""
    rng = np.random.default_rng(seed)
    z = hp.pix2vec(NSIDE, np.arange(NPIX))[2]
    y = np.arange(n) % 2
    X = np.exp(-((z - np.where(y, 1, -1)[:, None]) ** 2) / 0.1)
    return X + noise * rng.normal(size=X.shape), y


@pytest.mark.parametrize("augment_rotation", [True, "grid"])
def test_augment_rotation_rotates_every_training_map(augment_rotation):
    """Random rotations make the pole of a blob uninformative: the loss stays
    at chance level (ln 2) while the unaugmented network learns at once.
    Half of the grid's 8 rotations swap the poles too."""
    X, y = polar_blobs()
    params = {**SMALL, "architecture": "cnn"}
    plain = SphericalCNNClassifier(**params).fit(X, y)
    rotated = SphericalCNNClassifier(augment_rotation=augment_rotation, **params).fit(X, y)
    assert plain.net_.history[-1, "train_loss"] < 0.1
    assert np.mean(rotated.net_.history[-4:, "train_loss"]) > 0.6
    # the augmentation is seeded by random_state and survives pickling
    again = SphericalCNNClassifier(augment_rotation=augment_rotation, **params).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), rotated.predict_proba(X))
    restored = pickle.loads(pickle.dumps(rotated))
    np.testing.assert_array_equal(restored.predict_proba(X), rotated.predict_proba(X))
    # "grid" moves values without changing them; uniform rotations resample
    maps = torch.as_tensor(X[:8, None], dtype=torch.float32)
    augmented = rotated.net_.augment(maps)
    exact = torch.equal(augmented.sort(-1).values, maps.sort(-1).values)
    assert exact == (augment_rotation == "grid")
    assert not torch.equal(augmented, maps)


def test_augment_rotation_needs_a_full_sky(two_classes):
    X, y = two_classes
    pixels = patch_pixels(NSIDE, 1, nest=False)[4]
    clf = SphericalCNNClassifier(nside=NSIDE, pixels=pixels, augment_rotation=True,
                                 **{**SMALL, "max_epochs": 1})
    with pytest.raises(ValueError, match="augment_rotation=True needs full-sky maps"):
        clf.fit(X[:10, pixels], y[:10])
    with pytest.raises(InvalidParameterError, match="augment_rotation"):
        SphericalCNNRegressor(augment_rotation="yes").fit(X[:10], y[:10])
def test_knn_graph_parameters(two_classes, monkeypatch):
    from skdeepsphere import _cache

    X, y = two_classes
    seen = []
    hierarchy = graph_module.laplacian_hierarchy

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return hierarchy(*args, **kwargs)

    monkeypatch.setattr(graph_module, "laplacian_hierarchy", spy)
    _cache.laplacian_hierarchy.cache_clear()
    clf = SphericalCNNClassifier(**{**SMALL, "max_epochs": 1}, graph="knn", n_neighbors=20)
    assert clf.fit(X[:16], y[:16]).predict(X[:3]).shape == (3,)
    assert seen == [dict(graph="knn", n_neighbors=20, kernel_width=None)]
    clone(clf).set_params(kernel_width=1e-3).fit(X[:16], y[:16])
    assert seen[-1] == dict(graph="knn", n_neighbors=20, kernel_width=1e-3)
    with pytest.raises(ValueError, match="graph='knn'"):
        clone(clf).set_params(graph="neighbours").fit(X[:10], y[:10])
    with pytest.raises(InvalidParameterError, match="graph"):
        clone(clf).set_params(graph="nearest").fit(X[:10], y[:10])
    with pytest.raises(InvalidParameterError, match="kernel_width"):
        clone(clf).set_params(kernel_width=0.0).fit(X[:10], y[:10])


# --- the graph reaches the network -------------------------------------------


def applied_operator(conv, n_pixels):
    """Dense matrix a fitted ChebConv applies as its first-order term T_1(L) = L.

    Probed through the module's forward pass on the canonical basis, with
    every weight but the one of T_1 set to zero.
    """
    probe = copy.deepcopy(conv)
    with torch.no_grad():
        probe.weight.zero_()
        probe.weight[1, 0, 0] = 1.0
        if probe.bias is not None:
            probe.bias.zero_()
        basis = torch.zeros(n_pixels, probe.in_channels, n_pixels)
        basis[:, 0, :] = torch.eye(n_pixels)
        return probe(basis)[:, 0, :].numpy().T  # column p is L e_p


@pytest.mark.parametrize("geometry", [
    dict(),
    dict(nside=NSIDE, pixels="cut"),
    dict(graph="knn", n_neighbors=8),
])
def test_fitted_network_applies_the_laplacians_of_the_geometry(two_classes, geometry):
    """Every graph convolution of a fitted network applies the Laplacian that
    laplacian_hierarchy builds for its level (itself tested against a dense
    construction in test_graph.py), and every pooling its parents."""
    X, y = two_classes
    pixels = None
    if geometry.get("pixels") == "cut":
        theta, _ = hp.pix2ang(NSIDE, np.arange(NPIX))
        pixels = np.flatnonzero(np.abs(np.pi / 2 - theta) > 0.3)
        geometry = {**geometry, "pixels": pixels}
    columns = slice(None) if pixels is None else pixels
    # The "mean" head ends in a graph convolution on the coarsest level: one
    # more Laplacian to check than the default "mean_var" head.
    clf = SphericalCNNClassifier(**{**SMALL, "max_epochs": 1, "channels": (4, 4, 4)},
                                 statistics="mean", **geometry).fit(X[:16, columns], y[:16])
    n_levels = 3
    laplacians, _, parents = laplacian_hierarchy(
        NSIDE, None if pixels is None else clf.nested_pixels_, n_levels,
        graph=geometry.get("graph", "neighbours"), n_neighbors=geometry.get("n_neighbors"))
    convs = [m for m in clf.net_.module_.modules() if isinstance(m, ChebConv)]
    levels = [0, 1, 2, 3]  # three blocks, then the FCN head on the coarsest level
    assert len(convs) == len(levels)
    for conv, level in zip(convs, levels):
        expected = laplacians[level].toarray()
        np.testing.assert_allclose(applied_operator(conv, len(expected)), expected,
                                   rtol=1e-5, atol=1e-6)
    pools = [m for m in clf.net_.module_.modules() if isinstance(m, HealpixPool)]
    assert len(pools) == n_levels
    for pool, expected in zip(pools, parents):
        np.testing.assert_array_equal(pool.parents.cpu().numpy(), expected)


def smooth_or_shuffled(n, seed):
    """Class 0: smooth Gaussian fields; class 1: the pixels of other such
    fields in random places.

    Every map of either class holds the values of a smooth field, so the
    one-point distribution is the same: only the spatial correlation, which
    a model needs the graph to see, tells the classes apart.
    """
    rng = np.random.default_rng(seed)
    maps = gaussian_maps(rng, 2 * n, 3)
    maps /= maps.std(axis=1, keepdims=True)
    shuffled = np.array([rng.permutation(m) for m in maps[n:]])
    X = np.concatenate([maps[:n], shuffled])
    y = np.repeat([0, 1], n)
    order = rng.permutation(2 * n)
    return X[order], y[order]


SPATIAL = {**SMALL, "channels": (8,), "n_poolings": 0}


def test_network_sees_spatial_correlation_that_no_pixel_wise_model_can():
    X, y = smooth_or_shuffled(40, seed=0)
    X_test, y_test = smooth_or_shuffled(20, seed=1)
    clf = SphericalCNNClassifier(**SPATIAL).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9
    # Shuffling the pixels of a smooth map makes it a shuffled one.
    smooth = X_test[y_test == 0]
    shuffled = np.array([np.random.default_rng(0).permutation(m) for m in smooth])
    assert np.mean(clf.predict(smooth) == 0) >= 0.9 and np.mean(clf.predict(shuffled) == 1) >= 0.9


def test_a_network_ignoring_the_graph_cannot_learn_the_spatial_task(monkeypatch):
    """The task above is a fair test: with all-zero Laplacians (the planted
    bug "graph ignored") the same network is pixel-wise, blind to shuffling,
    and at chance level."""
    def zero_laplacians(*args, **kwargs):
        laplacians, pixel_sets, parents = laplacian_hierarchy(*args, **kwargs)
        return [0 * L for L in laplacians], pixel_sets, parents

    monkeypatch.setattr(graph_module, "laplacian_hierarchy", zero_laplacians)
    _cache.laplacian_hierarchy.cache_clear()
    try:
        X, y = smooth_or_shuffled(40, seed=0)
        X_test, y_test = smooth_or_shuffled(20, seed=1)
        clf = SphericalCNNClassifier(**SPATIAL).fit(X, y)
        shuffled = np.array([np.random.default_rng(0).permutation(m) for m in X_test])
        np.testing.assert_allclose(clf.predict_proba(shuffled), clf.predict_proba(X_test),
                                   rtol=1e-4, atol=1e-5)
        assert clf.score(X_test, y_test) <= 0.7
    finally:
        _cache.laplacian_hierarchy.cache_clear()

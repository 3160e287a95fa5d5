"""What the training options of the estimators mean, checked from outside.

Each test observes the training (hooks, callbacks, the weights) and compares
it with an independent computation, so that a bug planted in the training
loop (noise in the wrong units, early stopping keeping the last weights,
stale BatchNorm statistics, a flipped decision function) fails a test.
"""

import copy

import healpy as hp
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score
from skorch.callbacks import Callback

from skdeepsphere import SphericalCNNClassifier, SphericalCNNRegressor
from skdeepsphere.healpix import patch_pixels


def power_law_maps(rng, n, nside, slopes=(2.0, 2.5), noise=1.0):
    """Unit-variance Gaussian maps with C_l ~ (l + 1)^-slope[class], plus white noise."""
    lmax = 3 * nside - 1
    ell = np.arange(lmax + 1)
    ell_of_alm, m_of_alm = hp.Alm.getlm(lmax)
    y = rng.permutation(np.arange(n) % 2)
    X = np.empty((n, hp.nside2npix(nside)), np.float32)
    for i, label in enumerate(y):
        cl = (ell + 1.0) ** -slopes[label]
        cl[0] = 0
        cl /= np.sum((2 * ell + 1) * cl) / (4 * np.pi)
        # Own draws: healpy.synfast would use numpy's global random state.
        alm = np.sqrt(cl[ell_of_alm] / 2) * (rng.standard_normal(ell_of_alm.size)
                                             + 1j * rng.standard_normal(ell_of_alm.size))
        alm[m_of_alm == 0] = np.sqrt(2) * alm[m_of_alm == 0].real
        X[i] = hp.alm2map(alm, nside, lmax=lmax) + noise * rng.standard_normal(X.shape[1])
    return X, y


@pytest.fixture(scope="module")
def reproducer():
    """The maps of the predict-mode collapse reported in the learner issue."""
    rng = np.random.default_rng(1)
    return power_law_maps(rng, 120, 16), power_law_maps(rng, 60, 16)


REPRODUCER = dict(channels=(8, 16), cheb_order=3, max_epochs=6, device="cpu")


def train_mode_scores(clf, X):
    """Network outputs with BatchNorm on batch statistics (as in training).

    The running statistics are left as they were.
    """
    module = clf.net_.module_
    state = copy.deepcopy(module.state_dict())
    maps = torch.as_tensor(clf._transform_maps(X))
    try:
        module.train()
        with torch.no_grad():
            scores = torch.cat([module(maps[i:i + 32]) for i in range(0, len(maps), 32)])
    finally:
        module.load_state_dict(state)
        module.eval()
    return scores.numpy()


def train_mode_accuracy(clf, X, y):
    return np.mean(clf.classes_[train_mode_scores(clf, X).argmax(1)] == y)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_predict_mode_reproducer_does_not_collapse(reproducer, seed):
    # Before precise BatchNorm: eval-mode test accuracies 0.50, 0.57, 0.50
    # while the same weights in train mode scored up to 0.85.
    (X, y), (X_test, y_test) = reproducer
    clf = SphericalCNNClassifier(random_state=seed, **REPRODUCER).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.75
    assert len(np.unique(clf.predict(X_test))) == 2
    # At the end of fit, predict (eval mode) agrees with the network that
    # training optimised (BatchNorm on batch statistics), on its own maps.
    assert abs(clf.score(X, y) - train_mode_accuracy(clf, X, y)) <= 0.05


def first_batch_norm_input(clf, X):
    """Inputs of the first BatchNorm layer, computed from the fitted weights."""
    conv = clf.net_.module_.blocks[0][0]
    with torch.no_grad():
        out = conv(torch.as_tensor(clf._transform_maps(X)))
    return out.transpose(0, 1).reshape(out.shape[1], -1).double().numpy()


@pytest.mark.parametrize("n_maps", [40, 33])
def test_running_statistics_are_the_population_statistics(reproducer, n_maps):
    # With 33 maps and batches of 16 the last training batch (one map) is dropped,
    # but the statistics are still those of the maps the calibration saw.
    (X, y), _ = reproducer
    clf = SphericalCNNClassifier(random_state=0, batch_size=16,
                                 **{**REPRODUCER, "max_epochs": 2}).fit(X[:n_maps], y[:n_maps])
    layer = clf.net_.module_.blocks[0][1]
    maps = X[:n_maps] if n_maps % 16 != 1 else X[np.unique(np.linspace(0, n_maps - 1, n_maps - 1)
                                                            .round().astype(int))]
    values = first_batch_norm_input(clf, maps)
    np.testing.assert_allclose(layer.running_mean.numpy(), values.mean(1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.running_var.numpy(), values.var(1, ddof=1), rtol=1e-4)
    # The calibration leaves no hook behind (hooks switch the fused kernels off).
    assert not layer._forward_pre_hooks and not layer._forward_hooks
    assert layer.momentum == 0.1


def test_statistics_follow_early_stopping_and_resume(tmp_path, reproducer):
    (X, y), (X_test, y_test) = reproducer
    params = dict(REPRODUCER, random_state=0, max_epochs=4)
    early = SphericalCNNClassifier(early_stopping=True, validation_fraction=0.2,
                                   n_iter_no_change=2, **params).fit(X, y)
    assert abs(early.score(X_test, y_test) - train_mode_accuracy(early, X_test, y_test)) <= 0.1
    # The statistics saved with an epoch's checkpoint are those of its weights:
    # a finished fit resumed with 0 more epochs predicts as the fit itself.
    fitted = SphericalCNNClassifier(checkpoint=tmp_path, **params).fit(X, y)
    resumed = SphericalCNNClassifier(checkpoint=tmp_path, resume=True, **params).fit(X, y)
    np.testing.assert_allclose(resumed.predict_proba(X_test), fitted.predict_proba(X_test),
                               rtol=1e-6, atol=1e-7)
    layer = resumed.net_.module_.blocks[0][1]
    np.testing.assert_allclose(layer.running_mean.numpy(),
                               first_batch_norm_input(resumed, X).mean(1), rtol=1e-4, atol=1e-5)


class NoiseRecorder(Callback):
    """Per-channel variance of the maps the network sees, in train and eval mode."""

    def on_train_begin(self, net, **kwargs):
        self.variances = {True: [], False: []}
        first = net.module_.blocks[0][0]

        def record(module, inputs):
            x = inputs[0].detach()
            variance = x.transpose(0, 1).reshape(x.shape[1], -1).var(1).numpy()
            self.variances[module.training].append(variance)

        self.hook = first.register_forward_pre_hook(record)

    def on_train_end(self, net, **kwargs):
        self.hook.remove()


def test_augment_noise_is_in_the_units_of_the_maps():
    rng = np.random.default_rng(0)
    n, npix = 40, 768
    scales = np.array([4.0, 0.5])
    X = rng.standard_normal((n, 2, npix)) * scales[:, None]
    y = np.arange(n) % 2
    recorder = NoiseRecorder()
    clf = SphericalCNNClassifier(channels=(4,), cheb_order=2, max_epochs=2, batch_size=16,
                                 augment_noise=1.0, early_stopping=True,
                                 validation_fraction=0.2, callbacks=[recorder],
                                 random_state=0, device="cpu").fit(X, y)
    # The network sees maps divided by their scale: unit variance plus
    # noise of standard deviation 1 / scale, in training batches (2 per
    # epoch) and in the BatchNorm calibration, validation and score passes.
    np.testing.assert_allclose(clf.input_scale_, scales, rtol=0.02)
    expected = 1 + 1 / clf.input_scale_ ** 2
    assert len(recorder.variances[True]) == 4
    np.testing.assert_allclose(np.mean(recorder.variances[True], axis=0), expected, rtol=0.02)
    np.testing.assert_allclose(np.mean(recorder.variances[False], axis=0), expected, rtol=0.02)
    # predict sees the maps as they are
    recorder.on_train_begin(clf.net_)
    clf.predict(X)
    recorder.on_train_end(clf.net_)
    np.testing.assert_allclose(np.mean(recorder.variances[False], axis=0), 1, rtol=0.02)


class WeightsPerEpoch(Callback):
    def on_train_begin(self, net, **kwargs):
        self.states = []

    def on_epoch_end(self, net, **kwargs):
        self.states.append({k: v.clone() for k, v in net.module_.state_dict().items()})


def test_early_stopping_restores_the_best_validation_weights():
    # Random labels: the validation loss soon stops improving.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 192))
    y = rng.permutation(np.arange(60) % 2)
    recorder = WeightsPerEpoch()
    clf = SphericalCNNClassifier(channels=(8, 8), cheb_order=3, max_epochs=30, lr=1e-2,
                                 early_stopping=True, n_iter_no_change=3,
                                 callbacks=[recorder], random_state=0, device="cpu").fit(X, y)
    losses = clf.net_.history[:, "valid_loss"]
    best = int(np.argmin(losses))
    assert clf.n_epochs_ < 30 and best < clf.n_epochs_ - 1
    final = clf.net_.module_.state_dict()
    for name, value in recorder.states[best].items():
        torch.testing.assert_close(final[name], value, rtol=0, atol=0)
    assert not all(torch.equal(final[name], value)
                   for name, value in recorder.states[-1].items())


def test_decision_function_is_the_logit_of_predict_proba():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 192)) * (1 + np.arange(24) % 2)[:, None]
    y = np.array(["a", "b"])[np.arange(24) % 2]
    clf = SphericalCNNClassifier(channels=(4,), cheb_order=2, max_epochs=3,
                                 random_state=0, device="cpu").fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(clf.decision_function(X),
                               np.log(proba[:, 1]) - np.log(proba[:, 0]), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-6, atol=1e-9)
    assert np.all(clf.predict(X) == np.where(clf.decision_function(X) > 0, "b", "a"))


@pytest.mark.parametrize("seed", range(12))
def test_divergence_raises_and_leaves_no_model(seed):
    # Some seeds end with finite but huge weights whose forward pass
    # overflows: the predict-mode check must catch those too.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 192))
    y = np.arange(16) % 2
    clf = SphericalCNNClassifier(channels=(4,), max_epochs=3, lr=1e30, device="cpu",
                                 random_state=seed)
    with pytest.raises(ValueError, match="training diverged: .*Lower the learning rate"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        clf.predict_proba(X[:1])


def test_a_last_batch_of_one_map_at_a_one_pixel_level():
    rng = np.random.default_rng(0)
    pixels = patch_pixels(32, patch_nside=4)[0]
    clf = SphericalCNNClassifier(nside=32, pixels=pixels, max_epochs=1, random_state=0,
                                 device="cpu").fit(rng.normal(size=(33, 64)), np.arange(33) % 2)
    # 32 maps trained (the 33rd, alone in its batch, sits out this epoch)
    assert clf.net_.history[-1, "train_batch_count"] == 1
    assert np.all(np.isfinite(clf.predict_proba(rng.normal(size=(3, 64)))))


def test_epoch_log_shows_the_predict_mode_score(reproducer, capsys):
    (X, y), _ = reproducer
    clf = SphericalCNNClassifier(random_state=0, verbose=1,
                                 **{**REPRODUCER, "max_epochs": 2}).fit(X[:60], y[:60])
    # Without a validation split: the score of predict on the training maps
    # (all of them: fewer than the 256 of the fixed subsample).
    assert clf.net_.history[-1, "train_acc"] == clf.score(X[:60], y[:60])
    out = capsys.readouterr().out
    assert "train_acc" in out and "\x1b[" not in out  # not a terminal: no colours
    early = SphericalCNNClassifier(random_state=0, early_stopping=True,
                                   **{**REPRODUCER, "max_epochs": 2}).fit(X[:60], y[:60])
    assert {"valid_acc", "valid_loss"} <= set(early.net_.history[-1])
    reg = SphericalCNNRegressor(random_state=0, **{**REPRODUCER, "max_epochs": 2})
    target = X[:60].std(1)
    reg.fit(X[:60], target)
    np.testing.assert_allclose(reg.net_.history[-1, "train_r2"],
                               r2_score(target, reg.predict(X[:60])), rtol=1e-5)


def test_verbose_2_adds_a_progress_bar(reproducer, capsys):
    (X, y), _ = reproducer
    clf = SphericalCNNClassifier(random_state=0, verbose=2, **{**REPRODUCER, "max_epochs": 1})
    clf.fit(X[:40], y[:40])
    assert "progress_bar" in dict(clf.net_.callbacks_)
    assert clf.callbacks is None

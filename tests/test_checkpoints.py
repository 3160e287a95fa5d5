"""Tests of skdeepsphere.checkpoints: resumable state after every epoch,
resuming a fit whose process was killed."""

import doctest
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from skdeepsphere import SphericalCNNClassifier, checkpoints

SMALL = dict(channels=(4, 4), cheb_order=3, batch_size=8, lr=3e-3, random_state=0,
             device="cpu")


def test_docstring_examples():
    result = doctest.testmod(checkpoints, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


FIT_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    import torch
    from skorch.callbacks import Callback
    from skdeepsphere import SphericalCNNClassifier

    class Slow(Callback):
        def on_epoch_end(self, net, **kwargs):
            time.sleep(0.4)

    data, checkpoint, threads, params = sys.argv[1:5]
    torch.set_num_threads(int(threads))
    X, y = np.load(data + "/X.npy"), np.load(data + "/y.npy")
    clf = SphericalCNNClassifier(checkpoint=checkpoint, callbacks=[Slow()], **eval(params))
    clf.fit(X, y)
    print("finished", flush=True)
""")


def test_fit_killed_with_sigkill_resumes_from_last_epoch(tmp_path, maps_and_labels):
    X, y = maps_and_labels
    params = dict(SMALL, max_epochs=8, augment_noise=0.1, lr_decay="cosine")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    checkpoint = tmp_path / "checkpoints"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen(
        [sys.executable, "-c", FIT_SCRIPT, str(tmp_path), str(checkpoint),
         str(torch.get_num_threads()), repr(params)],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": root})
    try:
        deadline = time.monotonic() + 120
        while not any((json.loads(latest.read_text())["epoch"] or 0) >= 2
                      for latest in checkpoint.glob("fit-*/latest.json")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        out, _ = process.communicate()
    assert process.returncode == -signal.SIGKILL and b"finished" not in out
    (latest,) = checkpoint.glob("fit-*/latest.json")
    done = json.loads(latest.read_text())["epoch"]
    assert 2 <= done < params["max_epochs"]
    saved_history = json.loads((latest.parent / f"epoch-{done}" / "history.json").read_text())

    resumed = SphericalCNNClassifier(checkpoint=checkpoint, resume=True, **params).fit(X, y)
    history = resumed.net_.history
    assert resumed.n_epochs_ == params["max_epochs"]
    assert history[:, "epoch"] == list(range(1, params["max_epochs"] + 1))
    # the epochs run before the kill are kept, not rerun
    assert history[:done, "train_loss"] == [row["train_loss"] for row in saved_history]
    # Adam's step count went on from the checkpoint
    n_batches = int(np.ceil(len(X) / params["batch_size"]))
    state = resumed.net_.optimizer_.state_dict()["state"]
    assert all(int(s["step"]) == n_batches * params["max_epochs"] for s in state.values())
    # same optimizer moments and random state: as if never interrupted
    uninterrupted = SphericalCNNClassifier(**params).fit(X, y)
    np.testing.assert_allclose(history[:, "train_loss"],
                               uninterrupted.net_.history[:, "train_loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.predict_proba(X), uninterrupted.predict_proba(X),
                               rtol=1e-5, atol=1e-6)
    assert json.loads(latest.read_text())["epoch"] == params["max_epochs"]
    assert sorted(p.name for p in checkpoint.iterdir()) == [
        latest.parent.name, "skdeepsphere-checkpoints.json"]
    assert sorted(p.name for p in latest.parent.iterdir()) == [
        ".lock", f"epoch-{params['max_epochs']}", "latest.json"]


def test_resume_without_checkpoint_starts_over_each_fit_its_own_state(tmp_path,
                                                                      maps_and_labels):
    X, y = maps_and_labels
    params = dict(SMALL, max_epochs=2)
    fresh = SphericalCNNClassifier(checkpoint=tmp_path, resume=True, **params).fit(X, y)
    plain = SphericalCNNClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(fresh.predict_proba(X), plain.predict_proba(X))
    # a finished run resumed with more epochs trains only the new ones
    more = SphericalCNNClassifier(checkpoint=tmp_path, resume=True, **{**params, "max_epochs": 3})
    assert more.fit(X, y).n_epochs_ == 3
    assert more.net_.history[:2, "train_loss"] == fresh.net_.history[:, "train_loss"]
    # Other data (another fold of a grid search sharing the folder) or other
    # hyperparameters: their own subfolder, trained from scratch.
    for X_other, y_other, changes in [(X[:30], y[:30], {}), (X, y[::-1], {}),
                                      (X, y, {"cheb_order": 2})]:
        other = SphericalCNNClassifier(checkpoint=tmp_path, resume=True,
                                       **{**params, **changes}).fit(X_other, y_other)
        expected = SphericalCNNClassifier(**{**params, **changes}).fit(X_other, y_other)
        np.testing.assert_array_equal(other.predict_proba(X), expected.predict_proba(X))
    assert len(list(tmp_path.glob("fit-*/epoch-*"))) == 4


def test_grid_search_with_resume_resumes_every_fit(tmp_path, maps_and_labels):
    from sklearn.model_selection import GridSearchCV

    X, y = maps_and_labels
    search = GridSearchCV(
        SphericalCNNClassifier(checkpoint=tmp_path, resume=True, **dict(SMALL, max_epochs=1)),
        {"cheb_order": [2, 3]}, cv=2)
    first = search.fit(X, y).cv_results_["mean_test_score"]
    assert len(list(tmp_path.glob("fit-*/epoch-1"))) == 2 * 2 + 1  # candidates x folds + refit
    # the same search again resumes every fit at its last epoch: same scores
    again = GridSearchCV(search.estimator, search.param_grid, cv=2).fit(X, y)
    np.testing.assert_array_equal(again.cv_results_["mean_test_score"], first)
    np.testing.assert_array_equal(again.predict_proba(X), search.predict_proba(X))

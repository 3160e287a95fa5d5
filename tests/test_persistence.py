"""Tests of skdeepsphere.persistence: model files without pickle."""

import doctest
import json
import pickle

import healpy as hp
import numpy as np
import pytest
import torch

from skdeepsphere import (HistogramFeatures, SphericalCNNClassifier, SphericalCNNRegressor,
                          load_estimator, persistence, save_estimator)
from skdeepsphere.healpix import patch_pixels

NSIDE = 8
NPIX = hp.nside2npix(NSIDE)
SMALL = dict(channels=(4, 4), cheb_order=3, max_epochs=2, batch_size=8, random_state=0,
             device="cpu")


def test_docstring_examples():
    result = doctest.testmod(persistence, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    X = rng.standard_normal((30, 2, NPIX)) * (1 + y[:, None, None])
    return X, y


@pytest.mark.parametrize("estimator, labels", [
    (SphericalCNNClassifier(**SMALL), np.array(["lcdm", "wcdm", "mg"])),
    (SphericalCNNClassifier(architecture="cnn", pooling="avg", **SMALL), np.array([3, 5, 7])),
    (SphericalCNNRegressor(statistics="mean_var", **SMALL), None),
    (SphericalCNNClassifier(nside=NSIDE, pixels=patch_pixels(NSIDE, 1)[4],
                            architecture="2dcnn", **SMALL), np.array([0, 1, 2])),
])
def test_save_load_round_trip_gives_identical_predictions(tmp_path, data, estimator, labels):
    X, y = data
    if estimator.pixels is not None:
        X = X[..., estimator.pixels]
    target = labels[y] if labels is not None else np.stack([y, y**2], axis=1) * 1.0
    estimator.fit(X, target)
    path = save_estimator(estimator, tmp_path / "model")
    loaded = load_estimator(path)
    assert type(loaded) is type(estimator)
    assert loaded.get_params().keys() == estimator.get_params().keys()
    for name, value in estimator.get_params().items():
        np.testing.assert_array_equal(np.asarray(getattr(loaded, name), dtype=object),
                                      np.asarray(value, dtype=object))
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    if labels is not None:
        np.testing.assert_array_equal(loaded.classes_, estimator.classes_)
        np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    np.testing.assert_array_equal(loaded.input_scale_, estimator.input_scale_)
    assert loaded.n_epochs_ == estimator.n_epochs_
    assert loaded.net_.history[:, "train_loss"] == estimator.net_.history[:, "train_loss"]
    # pickling keeps working, for sklearn users who want it
    unpickled = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(unpickled.predict(X), estimator.predict(X))


def test_files_hold_no_pickled_code(tmp_path, data):
    X, y = data
    clf = SphericalCNNClassifier(**SMALL).fit(X, y)
    path = tmp_path / "model"
    save_estimator(clf, path)
    assert sorted(p.name for p in path.iterdir()) == [
        "attributes.pt", "estimator.json", "history.json", "optimizer.pt", "params.pt"]
    for name in ("attributes.pt", "params.pt", "optimizer.pt"):
        torch.load(path / name, weights_only=True)  # refuses arbitrary objects
    saved = json.loads((path / "estimator.json").read_text())
    assert saved["class"] == "SphericalCNNClassifier"
    # a tampered file with a pickled object is refused
    torch.save({"input_mean_": HistogramFeatures()}, path / "attributes.pt")
    with pytest.raises(ValueError, match="attributes.pt.* not a file of tensors written by skdeepsphere"):
        load_estimator(path)
    saved["class"] = "os.system"
    (path / "estimator.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="not a saved SphericalCNNClassifier"):
        load_estimator(path)


def test_save_errors(tmp_path, data):
    X, y = data
    with pytest.raises(TypeError, match="got HistogramFeatures; use pickle"):
        save_estimator(HistogramFeatures().fit(X), tmp_path)
    with pytest.raises(Exception, match="not fitted"):
        save_estimator(SphericalCNNClassifier(), tmp_path)
    with pytest.raises(FileNotFoundError, match="estimator.json is missing"):
        load_estimator(tmp_path / "nothing")
    clf = SphericalCNNClassifier(**{**SMALL, "random_state": np.random.RandomState(0)})
    clf.fit(X, y)
    loaded = load_estimator(save_estimator(clf, tmp_path / "model"), device="cpu")
    assert loaded.random_state is None and loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))

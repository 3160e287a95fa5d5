"""Regression tests of a new-user trial's bad and hostile inputs (issue 17).

Every case asserts that no payload ran (a pickled object whose unpickling
would create a marker file) and that no file outside the intended folder
changed (a snapshot of the whole temporary folder, before and after).
"""

import hashlib
import json
import os
import pickle
import shutil
import threading
import warnings

import healpy as hp
import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skdeepsphere import (
    HistogramFeatures,
    PowerSpectrumFeatures,
    SphericalCNNClassifier,
    SphericalCNNRegressor,
    _cache,
    load_estimator,
    save_estimator,
)
from skdeepsphere.checkpoints import EpochCheckpoint, load_checkpoint
from skdeepsphere.graph import healpix_laplacian, laplacian_hierarchy

NSIDE = 4
NPIX = 12 * NSIDE**2
SMALL = dict(channels=(2,), cheb_order=2, batch_size=8, max_epochs=2, random_state=0,
             device="cpu")


class Payload:
    """Unpickling this creates ``marker``: the proof that a file ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def snapshot(folder, skip=None):
    """Every entry under ``folder`` (but ``skip``) with its content digest."""
    state = {}
    for root, dirs, files in os.walk(folder):
        if skip is not None and os.path.abspath(root).startswith(os.path.abspath(skip)):
            continue
        for name in dirs + files:
            path = os.path.join(root, name)
            if skip is not None and os.path.abspath(path) == os.path.abspath(skip):
                continue
            key = os.path.relpath(path, folder)
            if os.path.islink(path):
                state[key] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                state[key] = "dir"
            else:
                with open(path, "rb") as file:
                    state[key] = hashlib.sha256(file.read()).hexdigest()
    return state


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 8)
    X = rng.standard_normal((16, NPIX)) * (1 + y[:, None])
    return X.astype(np.float32), y


def user_files(folder):
    """A user's results folder, with names the old code deleted."""
    (folder / "epoch-comparison-plots").mkdir(parents=True)
    (folder / "epoch-comparison-plots" / "fig.png").write_bytes(b"my figure")
    (folder / "epoch-7").mkdir()
    (folder / "notes.txt").write_text("my notes")
    (folder / "latest.json").write_text("{}")


# -- checkpoint folders ----------------------------------------------------------

def test_checkpoint_refuses_a_folder_of_user_files(tmp_path, data):
    X, y = data
    results = tmp_path / "results"
    user_files(results)
    before = snapshot(tmp_path)
    for resume in (False, True):
        with pytest.raises(ValueError, match=r"checkpoint folder '.*results' is not empty "
                                             r"and was not created by skdeepsphere"):
            SphericalCNNClassifier(checkpoint=results, resume=resume, **SMALL).fit(X, y)
    assert snapshot(tmp_path) == before


def test_checkpoint_keeps_user_files_put_into_its_folder_later(tmp_path, data):
    X, y = data
    checkpoint = tmp_path / "run"
    SphericalCNNClassifier(checkpoint=checkpoint, **SMALL).fit(X, y)
    (fit_folder,) = checkpoint.glob("fit-*")
    user_files(checkpoint / "mine")
    (fit_folder / "epoch-1-plots").mkdir()
    (fit_folder / "epoch-5").mkdir()  # a name the package uses, but not listed as its own
    (tmp_path / "beside" / "epoch-1").mkdir(parents=True)
    before = snapshot(tmp_path, skip=fit_folder)
    mine = {name for name in os.listdir(fit_folder) if "plots" in name or name == "epoch-5"}
    SphericalCNNClassifier(checkpoint=checkpoint, **{**SMALL, "max_epochs": 4}).fit(X, y)
    # epoch-5 is the user's: the package does not overwrite it either
    with pytest.raises(ValueError, match="epoch-5' exists but was not written"):
        SphericalCNNClassifier(checkpoint=checkpoint, **{**SMALL, "max_epochs": 5}).fit(X, y)
    assert snapshot(tmp_path, skip=fit_folder) == before
    assert mine <= set(os.listdir(fit_folder))


def test_unwritable_checkpoint_folder_fails_before_the_first_epoch(tmp_path, data):
    X, y = data
    (tmp_path / "a_file").write_text("not a folder")
    epochs = []

    class Count(Callback):
        def on_epoch_end(self, net, **kwargs):
            epochs.append(len(net.history))

    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="cannot create the checkpoint folder .*a_file"):
        SphericalCNNClassifier(checkpoint=tmp_path / "a_file" / "run", callbacks=[Count()],
                               **SMALL).fit(X, y)
    assert epochs == [] and snapshot(tmp_path) == before


def test_concurrent_fits_on_one_folder_fail_cleanly_or_take_separate_subfolders(tmp_path,
                                                                                 data):
    X, y = data
    checkpoint = tmp_path / "shared"
    started, release = threading.Event(), threading.Event()

    class Hold(Callback):
        def on_epoch_end(self, net, **kwargs):
            started.set()
            release.wait(60)

    results = {}

    def first():
        results["first"] = SphericalCNNClassifier(
            checkpoint=checkpoint, callbacks=[Hold()], **SMALL).fit(X, y)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(60)
        # the same data and parameters: the running fit holds the lock
        with pytest.raises(ValueError, match="is in use by another fit"):
            SphericalCNNClassifier(checkpoint=checkpoint, **SMALL).fit(X, y)
        # other parameters: a separate subfolder, no collision
        other = SphericalCNNClassifier(checkpoint=checkpoint, **{**SMALL, "cheb_order": 3})
        other.fit(X, y)
    finally:
        release.set()
        thread.join(60)
    assert results["first"].n_epochs_ == 2
    folders = sorted(checkpoint.glob("fit-*"))
    assert len(folders) == 2
    for folder in folders:
        assert sorted(os.listdir(folder)) == [".lock", "epoch-2", "latest.json"]
    # both resume exactly
    for params in (SMALL, {**SMALL, "cheb_order": 3}):
        resumed = SphericalCNNClassifier(checkpoint=checkpoint, resume=True, **params).fit(X, y)
        assert resumed.n_epochs_ == 2


@pytest.fixture(scope="module")
def checkpoint_template(tmp_path_factory, data):
    X, y = data
    checkpoint = tmp_path_factory.mktemp("template") / "run"
    clf = SphericalCNNClassifier(checkpoint=checkpoint, **SMALL).fit(X, y)
    return clf, checkpoint


@pytest.fixture()
def finished_checkpoint(tmp_path, checkpoint_template):
    clf, template = checkpoint_template
    checkpoint = tmp_path / "run"
    shutil.copytree(template, checkpoint, symlinks=True)
    (fit_folder,) = checkpoint.glob("fit-*")
    return clf, checkpoint, fit_folder


def _resume(checkpoint, data):
    X, y = data
    return SphericalCNNClassifier(checkpoint=checkpoint, resume=True,
                                  **{**SMALL, "max_epochs": 3}).fit(X, y)


@pytest.mark.parametrize("change, message", [
    (dict(folder="../../victim", epoch=2), "'epoch' and 'folder' must name one of"),
    (dict(folder="../../victim", epoch=2, entries=["epoch-2", "../../victim"]),
     "'entries' must list epoch-<n> folders"),
    (dict(entries=["epoch-2", "/tmp"]), "'entries' must list epoch-<n> folders"),
    (dict(fingerprint=None), "the fingerprint of the training data is missing"),
    (dict(fingerprint="drop"), "the fingerprint of the training data is missing"),
    (dict(fingerprint={"n_samples": 3}), "written for other training data"),
    (dict(epoch="2"), "'epoch' and 'folder' must name one of"),
    (dict(format=99), "checkpoint state of format 1"),
])
def test_hostile_latest_json_is_refused(tmp_path, data, finished_checkpoint, change, message):
    _, checkpoint, fit_folder = finished_checkpoint
    victim = tmp_path / "victim"
    (victim / "epoch-1").mkdir(parents=True)
    (victim / "params.pt").write_bytes(b"mine")
    latest = fit_folder / "latest.json"
    state = json.loads(latest.read_text())
    for key, value in change.items():
        if value == "drop":
            del state[key]
        else:
            state[key] = value
    latest.write_text(json.dumps(state))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=message):
        _resume(checkpoint, data)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "", "\xff\xfe", "[" * 100000])
def test_malformed_latest_json_names_the_file(tmp_path, data, finished_checkpoint, content):
    _, checkpoint, fit_folder = finished_checkpoint
    (fit_folder / "latest.json").write_bytes(content.encode("latin-1"))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"latest.json' is not a valid checkpoint state"):
        _resume(checkpoint, data)
    assert snapshot(tmp_path) == before


def test_linked_epoch_folder_is_refused(tmp_path, data, finished_checkpoint):
    _, checkpoint, fit_folder = finished_checkpoint
    outside = tmp_path / "outside"
    os.replace(fit_folder / "epoch-2", outside)
    os.symlink(outside, fit_folder / "epoch-2")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="'epoch-2' is a symbolic link"):
        _resume(checkpoint, data)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["params.pt", "optimizer.pt", "rng.pt"])
def test_pickled_payload_in_a_checkpoint_does_not_run(tmp_path, data, finished_checkpoint,
                                                      name):
    _, checkpoint, fit_folder = finished_checkpoint
    marker = tmp_path / "payload-ran"
    torch.save({"state": Payload(marker)}, fit_folder / "epoch-2" / name)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=f"{name}' is not a valid .* not a file of tensors "
                                         "written by skdeepsphere") as error:
        _resume(checkpoint, data)
    assert "weights_only" not in str(error.value)
    assert not marker.exists() and snapshot(tmp_path) == before


@pytest.mark.parametrize("history", ["{", "{}", "[{\"epoch\": 5, \"batches\": []}]"])
def test_malformed_history_names_the_file(tmp_path, data, finished_checkpoint, history):
    _, checkpoint, fit_folder = finished_checkpoint
    (fit_folder / "epoch-2" / "history.json").write_text(history)
    with pytest.raises(ValueError, match="history.json' is not a valid skorch history"):
        _resume(checkpoint, data)


def test_load_checkpoint_reads_nothing_outside(tmp_path):
    fingerprint = {"n_samples": 1}
    saver = EpochCheckpoint(tmp_path / "run", fingerprint).open()
    saver.close()
    assert load_checkpoint(tmp_path / "run", fingerprint) is None  # no epoch yet
    state = json.loads((tmp_path / "run" / os.path.basename(saver.folder) /
                        "latest.json").read_text())
    state.update(epoch=1, folder="epoch-1", entries=["epoch-1"])
    (tmp_path / "run" / os.path.basename(saver.folder) / "latest.json").write_text(
        json.dumps(state))
    with pytest.raises(ValueError, match="its folder 'epoch-1' is missing"):
        load_checkpoint(tmp_path / "run", fingerprint)


# -- saved estimators --------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_template(tmp_path_factory, data):
    X, y = data
    clf = SphericalCNNClassifier(**SMALL).fit(X, y)
    return clf, save_estimator(clf, tmp_path_factory.mktemp("template") / "model")


@pytest.fixture()
def saved(tmp_path, saved_template):
    clf, template = saved_template
    shutil.copytree(template, tmp_path / "model")
    return clf, tmp_path / "model"


def _edit(path, edit):
    description = path / "estimator.json"
    content = json.loads(description.read_text())
    edit(content)
    description.write_text(json.dumps(content))


def test_loading_never_restores_checkpoint_resume_or_callbacks(tmp_path, data, saved):
    X, y = data
    _, path = saved
    victim = tmp_path / "victim_dir"
    (victim / "epoch-1").mkdir(parents=True)
    (victim / "epoch-1" / "precious.txt").write_text("keep me")

    def plant(content):
        content["params"].update(checkpoint=str(victim), resume=True, callbacks=None)

    _edit(path, plant)
    before = snapshot(tmp_path, skip=path)
    loaded = load_estimator(path)
    assert (loaded.checkpoint, loaded.resume, loaded.callbacks) == (None, False, None)
    loaded.fit(X, y)  # the refit of a received model
    assert snapshot(tmp_path, skip=path) == before


def test_saved_files_hold_no_paths(tmp_path, data):
    X, y = data
    clf = SphericalCNNClassifier(checkpoint=tmp_path / "ck", resume=True, **SMALL).fit(X, y)
    save_estimator(clf, tmp_path / "model")
    params = json.loads((tmp_path / "model" / "estimator.json").read_text())["params"]
    assert (params["checkpoint"], params["resume"], params["callbacks"]) == (None, False, None)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["attributes"].update(predict="os.system"), "learned attributes are"),
    (lambda c: c["attributes"].update(__dict__={"a": 1}), "learned attributes are"),
    (lambda c: c["attributes"].update(_private=1), "learned attributes are"),
    (lambda c: c["attributes"].pop("n_epochs_"), "learned attributes are"),
    (lambda c: c["params"].update(__class__="x"), r"unknown parameters \['__class__'\]"),
    (lambda c: c["params"].update(net_=1), r"unknown parameters \['net_'\]"),
    (lambda c: c["params"].update(max_epochs="many"), "'max_epochs' parameter"),
    (lambda c: c["params"].update(max_epochs=-1), "'max_epochs' parameter"),
    (lambda c: c["params"].update(device="gpu"), "'device' parameter"),
    (lambda c: c["params"].update(channels={"__sequence__": "os.system", "values": []}),
     "not written by save_estimator"),
    (lambda c: c["params"].update(nside=4, pixels={"__sequence__": "list",
                                                   "values": [0, 1]}),
     "pixel_order_ and nested_pixels_ do not match"),
    (lambda c: c["attributes"].update(n_epochs_="2"), "attribute n_epochs_ has the wrong"),
    (lambda c: c.update(params=[]), "is not a saved SphericalCNNClassifier"),
    (lambda c: c.update({"class": "os.system"}), "is not a saved SphericalCNNClassifier"),
])
def test_hostile_estimator_json_is_refused(tmp_path, saved, edit, message):
    _, path = saved
    _edit(path, edit)
    with pytest.raises(ValueError, match=message) as error:
        load_estimator(path)
    assert "estimator.json" in str(error.value)


@pytest.mark.parametrize("content", ["{", "[]", "null", "\xff", "[" * 100000])
def test_malformed_estimator_json_names_the_file(saved, content):
    _, path = saved
    (path / "estimator.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match="estimator.json' is not a"):
        load_estimator(path)


@pytest.mark.parametrize("name", ["attributes.pt", "params.pt", "optimizer.pt"])
def test_pickled_payload_in_a_model_does_not_run(tmp_path, saved, name):
    _, path = saved
    marker = tmp_path / "payload-ran"
    torch.save({"input_mean_": Payload(marker)}, path / name)
    with pytest.raises(ValueError, match=f"{name}' is not a valid") as error:
        load_estimator(path)
    assert "weights_only" not in str(error.value) and not marker.exists()


def test_tensors_of_the_wrong_shape_are_refused(saved):
    _, path = saved
    good = torch.load(path / "attributes.pt", weights_only=True)
    torch.save({**good, "pixel_order_": good["pixel_order_"][:5]}, path / "attributes.pt")
    with pytest.raises(ValueError, match="pixel_order_ has 5 entries"):
        load_estimator(path)
    torch.save({**good, "input_mean_": torch.zeros(2, 2)}, path / "attributes.pt")
    with pytest.raises(ValueError, match="attribute input_mean_ has the wrong type or shape"):
        load_estimator(path)
    torch.save(good, path / "attributes.pt")
    weights = torch.load(path / "params.pt", weights_only=True)
    torch.save({name: value[..., :1] if value.ndim else value
                for name, value in weights.items()}, path / "params.pt")
    with pytest.raises(ValueError, match="params.pt' is not a valid network parameters for "
                                         "this network: RuntimeError"):
        load_estimator(path)


def test_save_estimator_refuses_a_folder_of_user_files(tmp_path, saved):
    clf, _ = saved
    user_files(tmp_path / "results")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="is a folder of other files"):
        save_estimator(clf, tmp_path / "results")
    assert snapshot(tmp_path) == before


# -- the graph cache ---------------------------------------------------------------

@pytest.fixture()
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SKDEEPSPHERE_CACHE", str(folder))
    monkeypatch.setattr(_cache, "MIN_PIXELS", 48)  # cache from nside 2
    _cache.laplacian_hierarchy.cache_clear()
    return folder


def _entry(nside):
    # the key laplacian_hierarchy uses for a full-sky 8-neighbour level
    return _cache.entry_path(os.environ["SKDEEPSPHERE_CACHE"], nside, None,
                             graph="neighbours", kernel_width=None, max_eigenvalue="estimate")


def test_cache_holds_no_pickles(cache, data):
    X, y = data
    SphericalCNNClassifier(**{**SMALL, "max_epochs": 1}).fit(X, y)
    files = sorted(os.listdir(cache))
    assert files and all(name.startswith("laplacian-") and name.endswith(".npz")
                         for name in files)
    for name in files:  # plain arrays: readable without pickle
        with np.load(cache / name, allow_pickle=False) as arrays:
            assert all(arrays[key].dtype != object for key in arrays.files)


def test_planted_pickle_in_the_cache_does_not_run(tmp_path, cache):
    marker = tmp_path / "payload-ran"
    expected = healpix_laplacian(NSIDE)
    # where the joblib cache kept its pickles, and where the new cache looks
    joblib_entry = cache / "joblib" / "skdeepsphere" / "graph" / "_build_laplacian" / "x"
    joblib_entry.mkdir(parents=True)
    for path in (joblib_entry / "output.pkl", _entry(NSIDE)):
        with open(path, "wb") as file:
            pickle.dump(Payload(marker), file)
    with pytest.warns(RuntimeWarning, match="ignoring the graph cache entry .*rebuilding"):
        laplacians, _, _ = laplacian_hierarchy(NSIDE, None, 1)
    assert not marker.exists()
    assert abs(laplacians[0] - expected).max() == 0
    # rebuilt: the entry now holds the right arrays, read without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, _, _ = laplacian_hierarchy(NSIDE, None, 1)
    assert abs(again[0] - expected).max() == 0


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as arrays:
        content = {key: arrays[key] for key in arrays.files}
    content.update(changes)
    content = {key: value for key, value in content.items() if value is not None}
    with open(path, "wb") as file:
        np.savez(file, **content)


@pytest.mark.parametrize("corrupt, reason", [
    (lambda p: p.write_bytes(p.read_bytes()[:100]), "BadZipFile|EOFError|OSError"),
    (lambda p: _rewrite(p, digest=np.array("0" * 64)), "built for other parameters"),
    (lambda p: _rewrite(p, shape=np.array([5, 5])), "shape"),
    (lambda p: _rewrite(p, data=np.zeros(3, np.float64)), "dtypes or sizes"),
    (lambda p: _rewrite(p, extra=np.zeros(1)), "arrays"),
    (lambda p: _rewrite(p, indices=np.full_like(np.load(p)["indices"], 10**6)),
     "inconsistent sparse structure"),
    (lambda p: _rewrite(p, data=np.full_like(np.load(p)["data"], np.nan)),
     "inconsistent sparse structure"),
])
def test_corrupt_or_foreign_cache_entry_is_rebuilt_with_a_warning(cache, corrupt, reason):
    expected, _, _ = laplacian_hierarchy(NSIDE, None, 0)
    path = _entry(NSIDE)
    assert os.path.exists(path)
    corrupt(__import__("pathlib").Path(path))
    with pytest.warns(RuntimeWarning, match=f"ignoring the graph cache entry.*({reason})"):
        rebuilt, _, _ = laplacian_hierarchy(NSIDE, None, 0)
    assert abs(rebuilt[0] - expected[0]).max() == 0
    with np.load(path, allow_pickle=False) as arrays:
        assert str(arrays["digest"]) in os.path.basename(path)


# -- lazy inputs and input conventions ---------------------------------------------

@pytest.fixture()
def memmap_with_unseen(tmp_path, data):
    X, _ = data
    path = tmp_path / "maps.f32"
    writer = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    writer[:] = X
    writer[5, 17] = hp.UNSEEN
    writer.flush()
    bad = X.copy()
    bad[5, 17] = hp.UNSEEN
    return np.memmap(path, dtype=np.float32, mode="r", shape=X.shape), bad


@pytest.mark.parametrize("Estimator", [SphericalCNNClassifier, SphericalCNNRegressor])
def test_memmap_with_unseen_is_refused_like_in_memory(data, memmap_with_unseen, Estimator):
    X, y = data
    lazy, in_memory = memmap_with_unseen
    fitted = Estimator(**{**SMALL, "max_epochs": 1}).fit(X, y)
    methods = ["predict"] + (["predict_proba", "predict_log_proba", "decision_function"]
                             if Estimator is SphericalCNNClassifier else [])
    for method in methods:
        for maps in (lazy, in_memory):
            with pytest.raises(ValueError, match=r"masked pixels \(healpy.UNSEEN\)"):
                getattr(fitted, method)(maps)
    for maps in (lazy, in_memory):
        with pytest.raises(ValueError, match=r"masked pixels \(healpy.UNSEEN\)"):
            Estimator(**SMALL).fit(maps, y)


def test_transformers_refuse_unseen_in_memmaps(data, memmap_with_unseen):
    X, _ = data
    lazy, in_memory = memmap_with_unseen
    for transformer in (HistogramFeatures(bins=4, range=(-3, 3)), PowerSpectrumFeatures()):
        for maps in (lazy, in_memory):
            with pytest.raises(ValueError, match=r"masked pixels \(healpy.UNSEEN\)"):
                transformer.fit(maps)
            with pytest.raises(ValueError, match=r"masked pixels \(healpy.UNSEEN\)"):
                transformer.fit(X).transform(maps)


def test_lmax_beyond_the_resolution_is_an_error(data):
    X, _ = data
    with pytest.raises(ValueError, match=r"lmax=12 is beyond 3 \* nside - 1 = 11"):
        PowerSpectrumFeatures(lmax=12).fit(X)
    assert PowerSpectrumFeatures(lmax=11).fit(X).transform(X).shape == (16, 12)
    from skdeepsphere.graph import harmonic_equivariance_error, healpix_weights, normalized_laplacian
    from skdeepsphere.synthesis import random_smooth_maps

    with pytest.raises(ValueError, match="ells must be at most 3 \\* nside - 1 = 11"):
        harmonic_equivariance_error(normalized_laplacian(healpix_weights(NSIDE)), [12])
    with pytest.raises(ValueError, match=r"lmax must be in \[1, 11\]"):
        random_smooth_maps(1, NSIDE, lmax=12)


def test_torch_tensors_are_accepted_as_maps(data):
    X, y = data
    clf = SphericalCNNClassifier(**SMALL).fit(X, y)
    from_tensor = SphericalCNNClassifier(**SMALL).fit(torch.from_numpy(X), torch.from_numpy(y))
    np.testing.assert_array_equal(from_tensor.predict_proba(torch.from_numpy(X)),
                                  clf.predict_proba(X))
    tensor = torch.from_numpy(X).requires_grad_()
    np.testing.assert_array_equal(clf.predict_proba(tensor), clf.predict_proba(X))
    np.testing.assert_array_equal(
        PowerSpectrumFeatures().fit(torch.from_numpy(X)).transform(torch.from_numpy(X)),
        PowerSpectrumFeatures().fit(X).transform(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("device, message", [
    ("cuda", "torch sees no CUDA GPU"),
    ("cuda:1", "torch sees no CUDA GPU"),
])
def test_cuda_without_gpu_fails_at_once(data, device, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        SphericalCNNClassifier(**{**SMALL, "device": device}).fit(X, y)


@pytest.mark.parametrize("device", ["gpu", "cude", 3, ""])
def test_device_typos_are_parameter_errors(data, device):
    X, y = data
    with pytest.raises(ValueError, match="'device' parameter of SphericalCNNClassifier must "
                                         "be 'auto' or a torch device"):
        SphericalCNNClassifier(**{**SMALL, "device": device}).fit(X, y)


def test_dataframe_column_names_are_checked_like_sklearn(tmp_path, data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(NPIX)])
    clf = SphericalCNNClassifier(**SMALL).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        from_array = clf.predict_proba(X)  # sklearn warns, and predicts
    np.testing.assert_array_equal(clf.predict_proba(frame), from_array)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        clf.predict(frame[frame.columns[::-1]])
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        clf.predict(frame.rename(columns={"pixel0": "other"}))
    # the names survive saving
    loaded = load_estimator(save_estimator(clf, tmp_path / "model"))
    np.testing.assert_array_equal(loaded.feature_names_in_, frame.columns)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        loaded.predict(frame[frame.columns[::-1]])


def test_boolean_mask_as_pixels_asks_for_indices(data):
    mask = np.zeros(NPIX, dtype=bool)
    mask[:48] = True
    maps = data[0][:, :48]
    for estimator in (PowerSpectrumFeatures(nside=NSIDE, pixels=mask),
                      SphericalCNNClassifier(**SMALL, nside=NSIDE, pixels=mask)):
        with pytest.raises(ValueError, match=r"pixels must be pixel indices, got a boolean "
                                             r"array .*numpy.flatnonzero\(mask\)"):
            estimator.fit(maps, data[1])

"""Tests of skdeepsphere.training and skdeepsphere.streaming: lazy arrays,
checkpoints, and resuming a fit whose process was killed."""

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

from skdeepsphere import (HistogramFeatures, PowerSpectrumFeatures, SphericalCNNClassifier,
                          SphericalCNNRegressor, streaming, training)
from skdeepsphere.streaming import channel_statistics, iter_chunks

NPIX = 768
SMALL = dict(channels=(4, 4), cheb_order=3, batch_size=8, lr=3e-3, random_state=0,
             device="cpu")


@pytest.mark.parametrize("module", [streaming, training])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.fixture(scope="module")
def maps_and_labels():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = (rng.standard_normal((40, 2, NPIX)) * (1 + 0.5 * y[:, None, None]) + 0.3)
    return X.astype(np.float32), y


@pytest.fixture()
def memmap(tmp_path, maps_and_labels):
    X, _ = maps_and_labels
    path = tmp_path / "maps.f32"
    writer = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    writer[:] = X
    writer.flush()
    return np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)


class RowsOnly:
    """An array-like that can only be read by rows (like an HDF5 dataset)."""

    def __init__(self, array):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        self.rows_read = 0

    def __getitem__(self, index):
        if not isinstance(index, (int, np.integer, slice)):
            raise TypeError("rows only")
        rows = self.array[index]
        self.rows_read += 1 if rows.ndim < self.array.ndim else len(rows)
        return rows

    def __len__(self):
        return len(self.array)

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole lazy array was materialised")


def test_channel_statistics_match_numpy_for_any_blocks(maps_and_labels):
    X, _ = maps_and_labels
    X64 = X.astype(np.float64) * 1e3 + 5e4  # large offset: the naive formula would cancel
    for chunk_bytes in (4 * 2 * NPIX, 5 * 4 * 2 * NPIX, 10**9):
        mean, std = channel_statistics(c for _, c in iter_chunks(X64, chunk_bytes=chunk_bytes))
        np.testing.assert_allclose(mean, X64.astype(np.float32).mean((0, 2), dtype=np.float64),
                                   rtol=1e-12)
        np.testing.assert_allclose(std, X64.astype(np.float32).std((0, 2), dtype=np.float64),
                                   rtol=1e-9)


def test_chunks_report_bad_rows(maps_and_labels):
    X, _ = maps_and_labels
    bad = X.copy()
    bad[13, 1, 5] = np.inf
    with pytest.raises(ValueError, match=r"rows 13 to 13: maps contain NaN or infinite"):
        list(iter_chunks(bad, chunk_bytes=4 * 2 * NPIX))


@pytest.mark.parametrize("Estimator", [SphericalCNNClassifier, SphericalCNNRegressor])
def test_memmap_fit_predict_identical_to_in_memory(Estimator, maps_and_labels, memmap):
    X, y = maps_and_labels
    params = dict(SMALL, max_epochs=2, augment_noise=0.1)
    in_memory = Estimator(**params).fit(X, y)
    lazy = Estimator(**params).fit(memmap, y)
    np.testing.assert_array_equal(lazy.input_mean_, in_memory.input_mean_)
    np.testing.assert_array_equal(lazy.predict(memmap), in_memory.predict(X))
    np.testing.assert_array_equal(in_memory.predict(memmap), in_memory.predict(X))


def test_lazy_array_is_read_by_rows_never_whole(maps_and_labels, monkeypatch):
    X, y = maps_and_labels
    rows = RowsOnly(X)
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 4 * 2 * NPIX * 8)  # 8 maps per block
    clf = SphericalCNNClassifier(**SMALL, max_epochs=1).fit(rows, y)
    # one pass for the statistics (by blocks), one epoch (map by map)
    assert rows.rows_read == 2 * len(X)
    np.testing.assert_array_equal(clf.predict_proba(rows), clf.predict_proba(X))
    bad = X.copy()
    bad[3, 0, 0] = np.nan
    with pytest.raises(ValueError, match="rows 0 to 7: maps contain NaN"):
        SphericalCNNClassifier(**SMALL).fit(RowsOnly(bad), y)
    with pytest.raises(ValueError, match="map 3 contains NaN"):
        clf.predict(RowsOnly(bad))
    with pytest.raises(ValueError, match="3 channels, but .* fitted on 2"):
        clf.predict(RowsOnly(np.zeros((2, 3, NPIX), np.float32)))


def test_transformers_read_lazy_arrays_in_blocks(maps_and_labels, memmap, monkeypatch):
    X, _ = maps_and_labels
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 4 * 2 * NPIX * 8)  # 8 maps per block
    for transformer in (HistogramFeatures(bins=5, range=(-3, 3)),
                        HistogramFeatures(bins=np.linspace(-2, 2, 4)),
                        PowerSpectrumFeatures(n_bins=4, cross_spectra=True)):
        expected = transformer.fit(X).transform(X)
        np.testing.assert_array_equal(transformer.fit(memmap).transform(memmap), expected)
        rows = RowsOnly(X)
        np.testing.assert_array_equal(transformer.fit(rows).transform(rows), expected)
        assert rows.rows_read == 2 * len(X)
    bad = X.copy()
    bad[20, 0, 0] = np.inf
    with pytest.raises(ValueError, match="rows 16 to 23: maps contain NaN or infinite"):
        PowerSpectrumFeatures().fit(RowsOnly(bad))
    with pytest.raises(ValueError, match="pass range=.* or explicit bin edges"):
        HistogramFeatures(bins=5).fit(memmap)
    # quantiles of data that fit in one block are fine
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 10**9)
    np.testing.assert_array_equal(HistogramFeatures(bins=5).fit(memmap).bin_edges_,
                                  HistogramFeatures(bins=5).fit(X).bin_edges_)


# -- checkpoints and resume ----------------------------------------------------

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
    params = dict(SMALL, max_epochs=8, augment_noise=0.1)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    checkpoint = tmp_path / "checkpoints"
    latest = checkpoint / "latest.json"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen(
        [sys.executable, "-c", FIT_SCRIPT, str(tmp_path), str(checkpoint),
         str(torch.get_num_threads()), repr(params)],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": root})
    try:
        deadline = time.monotonic() + 120
        while not (latest.exists() and json.loads(latest.read_text())["epoch"] >= 2):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        out, _ = process.communicate()
    assert process.returncode == -signal.SIGKILL and b"finished" not in out
    done = json.loads(latest.read_text())["epoch"]
    assert 2 <= done < params["max_epochs"]
    saved_history = json.loads((checkpoint / f"epoch-{done}" / "history.json").read_text())

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
        f"epoch-{params['max_epochs']}", "latest.json"]


def test_resume_without_checkpoint_starts_over_and_checks_the_data(tmp_path, maps_and_labels):
    X, y = maps_and_labels
    params = dict(SMALL, max_epochs=2)
    fresh = SphericalCNNClassifier(checkpoint=tmp_path, resume=True, **params).fit(X, y)
    plain = SphericalCNNClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(fresh.predict_proba(X), plain.predict_proba(X))
    # a finished run resumed with more epochs trains only the new ones
    more = SphericalCNNClassifier(checkpoint=tmp_path, resume=True, **{**params, "max_epochs": 3})
    assert more.fit(X, y).n_epochs_ == 3
    with pytest.raises(ValueError, match="written for other training data .*differ in: "
                                         "input_mean, input_scale, n_samples"):
        SphericalCNNClassifier(checkpoint=tmp_path, resume=True, **params).fit(X[:30], y[:30])
    # e.g. folds of a grid search sharing one folder: same size, other maps or labels
    with pytest.raises(ValueError, match="differ in: params_and_targets"):
        SphericalCNNClassifier(checkpoint=tmp_path, resume=True, **params).fit(X, y[::-1])
    with pytest.raises(ValueError, match="differ in: params_and_targets"):
        SphericalCNNClassifier(checkpoint=tmp_path, resume=True,
                               **{**params, "cheb_order": 2}).fit(X, y)


@pytest.mark.parametrize("Estimator", [SphericalCNNClassifier, SphericalCNNRegressor])
def test_same_random_state_same_predictions_on_cpu(Estimator, maps_and_labels):
    X, y = maps_and_labels
    params = dict(SMALL, max_epochs=2, augment_noise=0.2, dropout=0.3, early_stopping=True,
                  validation_fraction=0.25)

    def outputs(**changes):
        estimator = Estimator(**{**params, **changes}).fit(X, y)
        return (estimator.predict_proba(X) if Estimator is SphericalCNNClassifier
                else estimator.predict(X))

    first = outputs()
    np.testing.assert_array_equal(outputs(), first)
    assert not np.allclose(outputs(random_state=1), first)


def _rss_file():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("RssFile"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_pages_of_a_read_only_memmap_are_released(tmp_path):
    n_maps, npix = 256, 3 * NPIX * 8  # 256 maps of 72 KiB: 18 MiB
    path = tmp_path / "big.f32"
    writer = np.memmap(path, dtype=np.float32, mode="w+", shape=(n_maps, npix))
    writer[:] = np.arange(n_maps, dtype=np.float32)[:, None]
    writer.flush()
    del writer
    data_bytes = 4 * n_maps * npix
    # the control: an ndarray view of the same mapping keeps its pages resident
    for released, view in [(True, lambda m: m[5:]), (False, lambda m: np.asarray(m)[5:])]:
        maps = np.memmap(path, dtype=np.float32, mode="r", shape=(n_maps, npix))
        before = _rss_file()
        sums = [block.sum(axis=(1, 2)) for _, block in iter_chunks(view(maps), chunk_bytes=2**20)]
        grown = _rss_file() - before
        np.testing.assert_array_equal(np.concatenate(sums), np.arange(5, n_maps) * npix)
        assert grown < data_bytes / 4 if released else grown > data_bytes / 2, grown
        del maps

"""Tests of skdeepsphere.streaming: lazy arrays read in blocks, MapDataset."""

import doctest
import os

import numpy as np
import pytest

from skdeepsphere import (HistogramFeatures, PowerSpectrumFeatures, SphericalCNNClassifier,
                          SphericalCNNRegressor, streaming)
from skdeepsphere.streaming import channel_statistics, iter_chunks

NPIX = 768
SMALL = dict(channels=(4, 4), cheb_order=3, batch_size=8, lr=3e-3, random_state=0,
             device="cpu")


def test_docstring_examples():
    streaming.MapDataset  # defined on first use, then found by doctest
    result = doctest.testmod(streaming, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


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
    # One pass for the statistics (by blocks) and one epoch (map by map),
    # then after the epoch the BatchNorm recalibration and the predict-mode
    # score, each over all of these 40 maps (their caps are 512 and 256).
    assert rows.rows_read == 4 * len(X)
    np.testing.assert_array_equal(clf.predict_proba(rows), clf.predict_proba(X))
    bad = X.copy()
    bad[3, 0, 0] = np.nan
    with pytest.raises(ValueError, match="rows 0 to 7: maps contain NaN"):
        SphericalCNNClassifier(**SMALL).fit(RowsOnly(bad), y)
    with pytest.raises(ValueError, match="map 3: maps contain NaN"):
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

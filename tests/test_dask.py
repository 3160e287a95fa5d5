"""A grid search over the CNN and the baselines on a dask.distributed cluster."""

import healpy as hp
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from skdeepsphere import HistogramFeatures, PowerSpectrumFeatures, SphericalCNNClassifier

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed: pip install 'skdeepsphere[dask]'")

NPIX = hp.nside2npix(8)


def _one_torch_thread():
    import torch

    torch.set_num_threads(1)
    return torch.get_num_threads()


def test_grid_search_runs_on_a_local_dask_cluster():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 12)
    X = rng.standard_normal((24, NPIX)) * (1 + y[:, None])
    pipeline = Pipeline([("features", "passthrough"), ("model", LogisticRegression())])
    grid = [
        {"model": [SphericalCNNClassifier(channels=(4,), cheb_order=2, max_epochs=2,
                                          batch_size=8, random_state=0, device="cpu")],
         "model__cheb_order": [2, 3]},
        {"features": [HistogramFeatures(bins=8)], "model": [SVC()], "model__C": [0.1, 1.0]},
        {"features": [PowerSpectrumFeatures(n_bins=4)], "model": [LogisticRegression()]},
    ]
    expected = GridSearchCV(pipeline, grid, cv=2).fit(X, y).cv_results_

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert set(client.run(_one_torch_thread).values()) == {1}
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            search = GridSearchCV(pipeline, grid, cv=2, n_jobs=-1).fit(X, y)
        workers = {task["worker"] for task in tasks.data}
        # the fits ran in the cluster's worker processes
        assert workers and workers <= set(cluster.scheduler_info["workers"])
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  expected["mean_test_score"])
    assert search.best_score_ >= 0.9
    assert search.predict(X[:4]).shape == (4,)

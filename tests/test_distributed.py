"""Data-parallel fits: two CPU processes (gloo, loopback) against one.

Every multi-process run is a ``torch.distributed.run`` child started and
awaited by the test, bounded by a timeout and talking only on 127.0.0.1.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("accelerate")

from skdeepsphere.distributed import DistributedBatchNorm1d, convert_batch_norm  # noqa: E402
from skdeepsphere.persistence import load_estimator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 240

FIT_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    import skdeepsphere.estimators as estimators
    from skdeepsphere import SphericalCNNClassifier
    from skdeepsphere.distributed import process_index
    from skdeepsphere.persistence import save_estimator

    torch.set_num_threads(1)
    out, options = sys.argv[1], json.loads(sys.argv[2])
    seen, in_step = [], []
    augment = estimators._DeepSphereNet.augment
    step = estimators._DeepSphereNet.train_step_single

    def stepping(self, batch, **fit_params):
        in_step.append(True)
        try:
            return step(self, batch, **fit_params)
        finally:
            in_step.pop()

    def recording(self, Xi):
        # The training batches only (not the BatchNorm recalibration passes).
        before = torch.as_tensor(Xi).clone()
        augmented = augment(self, Xi)
        if in_step:
            seen.append({"maps": before.sum((1, 2)).tolist(),
                         "noise": (augmented - before).flatten()[:4].tolist()})
        return augmented

    estimators._DeepSphereNet.augment = recording
    estimators._DeepSphereNet.train_step_single = stepping
    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    X = (rng.normal(size=(64, 768)) * (1 + 0.5 * y[:, None])).astype(np.float32)
    clf = SphericalCNNClassifier(channels=(8, 8), cheb_order=3, random_state=0,
                                 distributed=True, device="cpu", **options).fit(X, y)
    rank = process_index()
    state = {k: v.numpy() for k, v in clf.net_.module_.state_dict().items()}
    np.savez(f"{out}/rank{rank}.npz", proba=clf.predict_proba(X), **state)
    with open(f"{out}/batches{rank}.json", "w") as file:
        json.dump(seen, file)
    if rank == 0:
        save_estimator(clf, f"{out}/model")
    # A second, noisy fit: the noise of each process.
    seen.clear()
    clf.set_params(augment_noise=1.0, max_epochs=1).fit(X, y)
    with open(f"{out}/noise{rank}.json", "w") as file:
        json.dump([batch["noise"] for batch in seen], file)

    class Recording:
        # Lazy maps (like an h5py dataset) that count the maps read.
        def __init__(self, maps):
            self.maps, self.shape, self.dtype, self.rows = maps, maps.shape, maps.dtype, 0

        def __getitem__(self, key):
            part = self.maps[key]
            self.rows += len(part) if part.ndim == self.maps.ndim else 1
            return part

    lazy = Recording(X)
    clf.set_params(augment_noise=0.0, max_epochs=1).fit(lazy, y)
    with open(f"{out}/lazy{rank}.json", "w") as file:
        json.dump({"rows": lazy.rows, "mean": clf.input_mean_.tolist(),
                   "scale": clf.input_scale_.tolist()}, file)
""")

BN_CHECK = textwrap.dedent("""
    import torch.distributed as dist
    from skdeepsphere.distributed import DistributedBatchNorm1d

    if dist.is_initialized() and dist.get_world_size() == 2:
        rank = dist.get_rank()
        torch.manual_seed(0)
        x = torch.randn(8, 3, 5)
        weights = torch.randn(8, 3, 5)
        bn = DistributedBatchNorm1d(3)
        mine = x[4 * rank:4 * rank + 4].clone().requires_grad_()
        normalized = bn(mine)
        # This process's share of the mean over all 8 maps.
        ((normalized * weights[4 * rank:4 * rank + 4]).sum() / 8).backward()
        np.savez(f"{out}/bn{rank}.npz", out=normalized.detach().numpy(),
                 grad=mine.grad.numpy(), weight_grad=bn.weight.grad.numpy(),
                 running_mean=bn.running_mean.numpy(), running_var=bn.running_var.numpy())
""")


FIT_SCRIPT += BN_CHECK


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(script, args, n_processes, tmp_path):
    path = tmp_path / "script.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    if n_processes == 1:
        command = [sys.executable, str(path), *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run",
                   f"--nproc_per_node={n_processes}", "--master_addr=127.0.0.1",
                   f"--master_port={_free_port()}", str(path), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One fit in one process and the same fit on two processes."""
    options = json.dumps({"batch_norm": False, "max_epochs": 2, "batch_size": 16})
    folders = {}
    for n in (1, 2):
        folder = tmp_path_factory.mktemp(f"n{n}")
        _run(FIT_SCRIPT, [str(folder), options], n, folder)
        folders[n] = folder
    return folders


def test_two_processes_fit_the_model_of_one(runs):
    one = np.load(runs[1] / "rank0.npz")
    for rank in (0, 1):
        two = np.load(runs[2] / f"rank{rank}.npz")
        assert sorted(one.files) == sorted(two.files)
        for name in one.files:
            if one[name].dtype.kind == "f":
                # float32 sums of the gradient in another order: 1e-5 after 8 steps
                np.testing.assert_allclose(two[name], one[name], atol=1e-5, err_msg=name)
            else:
                np.testing.assert_array_equal(two[name], one[name], err_msg=name)


def test_each_process_reads_its_half_of_every_batch(runs):
    one = json.loads((runs[1] / "batches0.json").read_text())
    halves = [json.loads((runs[2] / f"batches{rank}.json").read_text()) for rank in (0, 1)]
    assert len(halves[0]) == len(halves[1]) == len(one) == 8
    for whole, first, second in zip(one, *halves):
        assert len(first["maps"]) == len(second["maps"]) == 8
        np.testing.assert_allclose(first["maps"] + second["maps"], whole["maps"], rtol=1e-5)


def test_lazy_maps_are_split_between_the_processes(runs):
    one = json.loads((runs[1] / "lazy0.json").read_text())
    parts = [json.loads((runs[2] / f"lazy{rank}.json").read_text()) for rank in (0, 1)]
    # The statistics pass and the epoch's training batches (64 maps each)
    # are split between the two processes; the BatchNorm recalibration and
    # the predict-mode score read the same maps in every process.
    assert one["rows"] >= 2 * 64
    assert parts[0]["rows"] == parts[1]["rows"] == one["rows"] - 64
    for part in parts:
        np.testing.assert_allclose(part["mean"], one["mean"], rtol=1e-6)
        np.testing.assert_allclose(part["scale"], one["scale"], rtol=1e-6)


def test_saved_model_predicts_like_the_processes(runs):
    model = load_estimator(runs[2] / "model")
    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    X = (rng.normal(size=(64, 768)) * (1 + 0.5 * y[:, None])).astype(np.float32)
    np.testing.assert_allclose(model.predict_proba(X), np.load(runs[2] / "rank0.npz")["proba"],
                               atol=1e-6)
    assert model.get_params()["distributed"] is True


def test_augmentation_noise_differs_between_processes(runs):
    noise = [np.array(json.loads((runs[2] / f"noise{rank}.json").read_text()))
             for rank in (0, 1)]
    assert noise[0].shape == noise[1].shape == (4, 4)
    assert 0.5 < noise[0].std() < 2
    assert not np.allclose(noise[0], noise[1])


def test_distributed_batch_norm_uses_the_global_batch(runs):
    tmp_path = runs[2]
    torch.manual_seed(0)
    x = torch.randn(8, 3, 5).requires_grad_()
    weights = torch.randn(8, 3, 5)
    reference = torch.nn.BatchNorm1d(3)
    out = reference(x)
    ((out * weights).sum() / 8).backward()
    for rank in (0, 1):
        got = np.load(tmp_path / f"bn{rank}.npz")
        mine = slice(4 * rank, 4 * rank + 4)
        np.testing.assert_allclose(got["out"], out.detach()[mine], atol=1e-6)
        np.testing.assert_allclose(got["grad"], x.grad[mine], atol=1e-6)
        np.testing.assert_allclose(got["running_mean"], reference.running_mean, atol=1e-6)
        np.testing.assert_allclose(got["running_var"], reference.running_var, atol=1e-6)
    # Each process holds its part of the weight gradient (its loss is its
    # share of the global mean); together they make the global gradient.
    parts = sum(np.load(tmp_path / f"bn{rank}.npz")["weight_grad"] for rank in (0, 1))
    np.testing.assert_allclose(parts, reference.weight.grad, atol=1e-6)


def test_single_process_batch_norm_is_torch_batch_norm():
    torch.manual_seed(0)
    x = torch.randn(6, 4, 7)
    mine = convert_batch_norm(torch.nn.Sequential(torch.nn.BatchNorm1d(4)))
    reference = torch.nn.BatchNorm1d(4)
    assert isinstance(mine[0], DistributedBatchNorm1d)
    np.testing.assert_allclose(mine(x).detach(), reference(x).detach(), atol=1e-6)
    np.testing.assert_allclose(mine[0].running_var, reference.running_var, atol=1e-6)
    assert set(mine.state_dict()) == {f"0.{name}" for name in reference.state_dict()}


def test_exit_handler_releases_the_gil_before_destroying_the_group(monkeypatch):
    # gloo's worker threads may still need the GIL to finish a collective of
    # the last backward pass; the handler sleeps (releasing it) first.
    import skdeepsphere.distributed as distributed
    calls = []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "destroy_process_group",
                        lambda: calls.append("destroy"))
    monkeypatch.setattr(distributed.time, "sleep", lambda seconds: calls.append(seconds))
    distributed._destroy_process_group()
    assert calls == [distributed._EXIT_GRACE_SECONDS, "destroy"]
    assert distributed._EXIT_GRACE_SECONDS > 0

"""Throughput of one data-parallel fit: N processes against one.

Each candidate is a fresh ``torchrun`` launch of the same fit
(``SphericalCNNClassifier(distributed=True)``, default FCN) on the same
generated maps; the candidates are run in turns (``--repeats`` rounds) and
the best epoch time of each is kept. On CPU the processes share the cores
(``--threads`` torch threads in all, split between the processes) and the
gradients go through ``gloo`` on the loopback interface, so little speed-up
is expected: the point is that one script runs unchanged from one CPU
process to several GPUs or machines.

    python benchmarks/distributed.py                 # CPU: 1 and 2 processes
    python benchmarks/distributed.py --device cuda --processes 1 2 4   # GPUs

Prints one line per candidate and the ratio against one process.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent("""
    import json, sys, time
    import numpy as np, torch
    from skdeepsphere import SphericalCNNClassifier
    from skdeepsphere.distributed import process_index, world_size

    nside, n_maps, epochs, device, out = (int(sys.argv[1]), int(sys.argv[2]),
                                          int(sys.argv[3]), sys.argv[4], sys.argv[5])
    rng = np.random.default_rng(0)
    y = np.arange(n_maps) % 2
    X = (rng.normal(size=(n_maps, 12 * nside**2)) * (1 + 0.2 * y[:, None])).astype(np.float32)
    clf = SphericalCNNClassifier(max_epochs=epochs, batch_size=16, random_state=0,
                                 distributed=True, device=device)
    clf.fit(X, y)
    if process_index() == 0:
        durations = [row["dur"] for row in clf.net_.history]
        with open(out, "w") as file:
            json.dump({"processes": world_size(), "epoch_seconds": durations,
                       "train_accuracy": float(clf.score(X, y))}, file)
""")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(n_processes, args, folder):
    script = Path(folder) / "worker.py"
    script.write_text(WORKER)
    out = Path(folder) / f"result-{n_processes}.json"
    threads = max(1, args.threads // n_processes)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "torch.distributed.run",
               f"--nproc_per_node={n_processes}", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", str(script), str(args.nside),
               str(args.maps), str(args.epochs), args.device, str(out)]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=1800)
    return json.loads(out.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=32)
    parser.add_argument("--maps", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    best = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for n in args.processes:
                result = launch(n, args, folder)
                # The first epoch carries the one-off costs (graph, compilation).
                epoch = min(result["epoch_seconds"][1:] or result["epoch_seconds"])
                best[n] = min(best.get(n, float("inf")), epoch)
    print(f"nside {args.nside}, {args.maps} maps, batch 16, default FCN, device {args.device}, "
          f"{args.threads} threads in all, best of {args.repeats} launches")
    base = args.maps / best[args.processes[0]]
    for n in args.processes:
        rate = args.maps / best[n]
        print(f"{n} process(es): {best[n]:.2f} s per epoch, {rate:.1f} maps/s, "
              f"{rate / base:.2f}x of {args.processes[0]} process(es)")


if __name__ == "__main__":
    main()

"""Build time and peak memory of the HEALPix graph Laplacians, and the disk cache.

Usage: python benchmarks/knn_graph.py [--nside 256 1024] [--k 20]
       [--graph knn] [--max-eigenvalue estimate 2]

Each measurement runs in a fresh child process, so that its peak resident
memory (``ru_maxrss``) is its own. One line per (nside, max_eigenvalue):

- ``weights``: wall seconds, CPU seconds (all threads, imports included)
  and peak GB of ``healpix_weights`` alone (the k-NN search with
  ``cKDTree`` and the symmetrisation);
- ``build``: the same for ``laplacian_hierarchy(nside, None, 0)``
  (weights, normalisation, max_eigenvalue estimate or bound, rescaling to float32:
  what a fit does), with an empty temporary ``SKDEEPSPHERE_CACHE``, which it
  fills;
- ``hit``: the same call in a new process that finds the Laplacian in that
  cache (a second fit in a new session);
- ``nnz`` of the weights and the cache's size on disk.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def child(nside, graph, k, max_eigenvalue, mode):
    from skdeepsphere import graph as graphs

    kwargs = dict(graph=graph, n_neighbors=k if graph == "knn" else None)
    result = {}
    start = time.perf_counter()
    if mode == "weights":
        result["nnz"] = graphs.healpix_weights(nside, **kwargs).nnz
    else:
        max_eigenvalue = max_eigenvalue if max_eigenvalue == "estimate" else float(max_eigenvalue)
        graphs.laplacian_hierarchy(nside, None, 0, max_eigenvalue=max_eigenvalue, **kwargs)
    result["seconds"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # imports included
    result["peak_gb"] = usage.ru_maxrss / 2**20
    print(json.dumps(result))


def folder_size(path):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def run_child(*args, env=None):
    output = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--graph", default="knn", choices=["knn", "neighbours"])
    parser.add_argument("--max-eigenvalue", nargs="+", default=["estimate", "2"])
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        nside, graph, k, max_eigenvalue, mode = args.child
        child(int(nside), graph, int(k), max_eigenvalue, mode)
        return
    print(f"graph={args.graph} k={args.k}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'nside':>5} {'max_eigenvalue':>14} | {'weights s':>9} {'cpu s':>6} {'GB':>5} | "
          f"{'build s':>8} {'cpu s':>6} {'GB':>5} | {'hit s':>6} {'GB':>5} | "
          f"{'nnz':>11} {'cache GB':>8}")
    for nside in args.nside:
        weights = run_child(nside, args.graph, args.k, "2", "weights")
        for max_eigenvalue in args.max_eigenvalue:
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "SKDEEPSPHERE_CACHE": cache}
                miss = run_child(nside, args.graph, args.k, max_eigenvalue, "build", env=env)
                hit = run_child(nside, args.graph, args.k, max_eigenvalue, "build", env=env)
                size = folder_size(cache) / 2**30
            print(f"{nside:5d} {max_eigenvalue:>14} | {weights['seconds']:9.2f} "
                  f"{weights['cpu_seconds']:6.1f} {weights['peak_gb']:5.2f} | "
                  f"{miss['seconds']:8.2f} {miss['cpu_seconds']:6.1f} "
                  f"{miss['peak_gb']:5.2f} | {hit['seconds']:6.2f} {hit['peak_gb']:5.2f} | "
                  f"{weights['nnz']:11d} {size:8.2f}", flush=True)


if __name__ == "__main__":
    main()

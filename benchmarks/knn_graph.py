"""Build time and peak memory of the HEALPix graph Laplacians, and the disk cache.

Usage: python benchmarks/knn_graph.py [--nside 256 1024] [--k 20]
       [--graph knn] [--lmax estimate 2]

Each measurement runs in a fresh child process (so that its peak resident
memory, ``ru_maxrss``, is its own) and prints one line per (nside, lmax):
seconds for the weights (k-NN search with ``cKDTree`` and symmetrisation),
the normalised Laplacian, the lmax estimate and the rescaling, the total,
the peak RSS, and the number of non-zeros. The last two columns time
``laplacian_hierarchy(nside, None, 0)`` in two more fresh processes sharing
a temporary ``SKDEEPSPHERE_CACHE``: the first builds and stores the
Laplacian, the second loads it (a second fit in a new session).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def child(nside, graph, k, lmax, mode):
    from skdeepsphere import graph as graphs

    kwargs = dict(graph=graph, n_neighbours=k if graph == "knn" else None)
    lmax = lmax if lmax == "estimate" else float(lmax)
    result = {}
    if mode == "stages":
        start = time.perf_counter()
        weights = graphs.healpix_weights(nside, **kwargs)
        result["weights"] = time.perf_counter() - start
        result["nnz"] = weights.nnz
        start = time.perf_counter()
        laplacian = graphs.normalized_laplacian(weights)
        del weights
        result["laplacian"] = time.perf_counter() - start
        start = time.perf_counter()
        value = graphs.estimate_lmax(laplacian) if lmax == "estimate" else lmax
        result["lmax"] = time.perf_counter() - start
        result["lmax_value"] = value
        start = time.perf_counter()
        graphs.rescale_laplacian(laplacian, value)
        result["rescale"] = time.perf_counter() - start
    else:
        start = time.perf_counter()
        graphs.laplacian_hierarchy(nside, None, 0, lmax=lmax, **kwargs)
        result["hierarchy"] = time.perf_counter() - start
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(result))


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
    parser.add_argument("--lmax", nargs="+", default=["estimate", "2"])
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        nside, graph, k, lmax, mode = args.child
        child(int(nside), graph, int(k), lmax, mode)
        return
    print(f"graph={args.graph} k={args.k}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'nside':>5} {'lmax':>8} {'weights':>8} {'laplac.':>8} {'lmax s':>7} "
          f"{'rescale':>8} {'total':>7} {'peak GB':>8} {'nnz':>11} "
          f"{'miss s':>7} {'hit s':>6} {'hit GB':>6}")
    for nside in args.nside:
        for lmax in args.lmax:
            stages = run_child(nside, args.graph, args.k, lmax, "stages")
            total = sum(stages[key] for key in ("weights", "laplacian", "lmax", "rescale"))
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "SKDEEPSPHERE_CACHE": cache}
                miss = run_child(nside, args.graph, args.k, lmax, "cache", env=env)
                hit = run_child(nside, args.graph, args.k, lmax, "cache", env=env)
            print(f"{nside:5d} {lmax:>8} {stages['weights']:8.2f} {stages['laplacian']:8.2f} "
                  f"{stages['lmax']:7.2f} {stages['rescale']:8.2f} {total:7.2f} "
                  f"{stages['peak_rss_gb']:8.2f} {stages['nnz']:11d} "
                  f"{miss['hierarchy']:7.2f} {hit['hierarchy']:6.2f} "
                  f"{hit['peak_rss_gb']:6.2f}", flush=True)


if __name__ == "__main__":
    main()

"""Time PowerSpectrumFeatures per map at a few resolutions and n_jobs.

Usage: python benchmarks/psd_timing.py [--nside 256 1024] [--n-maps 4]
       [--backend loky|threading]

Prints one line per (nside, n_jobs): seconds per map of ``transform``, the
best and median of ``--repeat`` runs after one warm-up call (which starts
joblib's workers), the speed-up of the best over ``n_jobs=1`` and the load
average (timings on a busy machine are noisy: compare best times).
"""

import argparse
import os
import time

import healpy as hp
import numpy as np
from joblib import parallel_config

from skdeepsphere import PowerSpectrumFeatures


def seconds_per_map(maps, n_jobs, repeat):
    spectrum = PowerSpectrumFeatures(n_bins=20, n_jobs=n_jobs).fit(maps)
    spectrum.transform(maps[:n_jobs])  # warm-up: worker start, FFT plans
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        spectrum.transform(maps)
        times.append(time.perf_counter() - start)
    return np.min(times) / len(maps), np.median(times) / len(maps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--n-maps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="loky", choices=["loky", "threading"])
    args = parser.parse_args()
    print(
        f"cpus={os.cpu_count()} backend={args.backend} iter=0 lmax=3*nside-1 "
        f"n_maps={args.n_maps}"
    )
    rng = np.random.default_rng(0)
    for nside in args.nside:
        maps = rng.standard_normal((args.n_maps, hp.nside2npix(nside)))
        serial = None
        for n_jobs in args.n_jobs:
            with parallel_config(backend=args.backend):
                best, median = seconds_per_map(maps, n_jobs, args.repeat)
            serial = serial or best
            print(
                f"nside={nside:5d} n_jobs={n_jobs:2d} best {best:8.3f} s/map "
                f"(median {median:.3f}) speed-up x{serial / best:.2f} "
                f"load={os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

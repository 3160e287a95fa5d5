"""Time the feature transformers on full-sky maps, next to healpy.anafast.

Usage: python benchmarks/feature_timing.py [--nside 256] [--n-maps 4]
       [--repeat 3] [--n-jobs 2] [--one-thread] [--only NAME ...]

For each transformer, ``transform`` of ``--n-maps`` full-sky maps is timed
with the default ``n_jobs=None`` (the maps one after the other in this
process, healpy using every core through OpenMP) and with ``--n-jobs``
worker processes, next to a plain loop of ``healpy.anafast(map, iter=0)``
over the same maps. The variants are run interleaved, ``--repeat`` times,
after one warm-up call each (which fills the caches and starts joblib's
workers whatever the work, as an earlier call of a cross-validation would);
the table shows the best times, seconds per map, and the ratios:
``x anafast`` (a transformer's time per map over one anafast call) and
``n_jobs speed-up`` (the default's time over the workers'; above 1 means
the workers are faster; "same loop" when the maps take less than
``skdeepsphere.features.MIN_PARALLEL_SECONDS`` and no worker is used:
both columns then time the same code, and their ratio shows the noise).
``cold start`` is a first call with ``n_jobs`` after the workers were shut
down: "(started)" if it started them (more than
``MIN_COLD_PARALLEL_SECONDS`` of work), "(loop)" if it ran the plain loop;
``first, None`` is the first call of a fresh copy with ``n_jobs=None``
right after it, its like-for-like reference (a first call pays one-time
set-up either way).
With ``--one-thread`` the default loop runs again with healpy limited to one
OpenMP thread (``threadpoolctl``), with its speed-up over the default. On a
machine shared with other jobs the times are noisy: only the best of the
repetitions is shown, with the load average.
"""

import argparse
import copy
import os
import time

import healpy as hp
import numpy as np
from joblib.externals.loky import get_reusable_executor
from threadpoolctl import threadpool_limits

from skdeepsphere import (
    HistogramFeatures,
    MinkowskiFunctionalFeatures,
    MultiScaleHistogramFeatures,
    PeakCountFeatures,
    PowerSpectrumFeatures,
    features,
)


def gaussian_maps(nside, n_maps, seed=0):
    """Gaussian maps with a red spectrum, from a seeded generator."""
    rng = np.random.default_rng(seed)
    lmax = 3 * nside - 1
    ell, m = hp.Alm.getlm(lmax)
    cl = 1.0 / (np.arange(lmax + 1) + 10.0) ** 2
    scale = np.sqrt(np.where(m == 0, cl[ell], cl[ell] / 2))
    maps = []
    for _ in range(n_maps):
        alm = rng.standard_normal(ell.size) + 1j * rng.standard_normal(ell.size)
        alm.imag[m == 0] = 0
        maps.append(hp.alm2map(alm * scale, nside, lmax=lmax))
    return np.array(maps)


def transformers(nside):
    pixel = hp.nside2resol(nside, arcmin=True)
    fwhm = (0.0, 2 * pixel, 4 * pixel)
    return {
        "HistogramFeatures": HistogramFeatures(bins=20),
        "PowerSpectrumFeatures": PowerSpectrumFeatures(n_bins=20),
        # standardize="map": fit needs no pass over the maps; transform
        # costs the same as with "train".
        "MultiScaleHistogramFeatures": MultiScaleHistogramFeatures(fwhm, standardize="map"),
        "PeakCountFeatures": PeakCountFeatures(fwhm, standardize="map"),
        "MinkowskiFunctionalFeatures": MinkowskiFunctionalFeatures(fwhm, standardize="map"),
    }


def stop_workers():
    """Shut joblib's process workers down, so that the next call finds none."""
    get_reusable_executor().shutdown(wait=True)
    features._last_parallel_call = None
    # The worker processes still exit in the background after shutdown
    # returns, which slowed the next call by up to 2x in a test: wait.
    time.sleep(3)


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=256)
    parser.add_argument("--n-maps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="names of the transformers to time")
    parser.add_argument(
        "--one-thread",
        action="store_true",
        help="also time the default loop with healpy limited to one OpenMP thread",
    )
    args = parser.parse_args()
    maps = gaussian_maps(args.nside, args.n_maps)
    n = len(maps)
    print(
        f"nside={args.nside} n_maps={n} cpus={os.cpu_count()} "
        f"workers={args.n_jobs} repeat={args.repeat} (best of, interleaved); "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    def anafast_loop():
        for m in maps:
            hp.anafast(m, iter=0)

    anafast_loop()  # warm-up
    selected = transformers(args.nside)
    if args.only:
        selected = {name: selected[name] for name in args.only}
    variants = {}
    cold = {}
    for name, transformer in selected.items():
        serial = transformer.fit(maps)
        serial.transform(maps)
        parallel = None
        if "n_jobs" in serial.get_params():  # HistogramFeatures is plain numpy
            parallel = copy.deepcopy(serial).set_params(n_jobs=args.n_jobs)
            # A first call without running workers: it starts them only for
            # more than MIN_COLD_PARALLEL_SECONDS of work.
            stop_workers()
            calls = features.parallel_calls
            cold[name] = (timed(lambda: parallel.transform(maps)),
                          features.parallel_calls > calls,
                          # the same first call of a fresh copy, n_jobs=None
                          timed(lambda: copy.deepcopy(serial).transform(maps)))
            # Then the workers are started whatever the work, as by an
            # earlier call of a cross-validation, for the timed calls.
            cold_threshold = features.MIN_COLD_PARALLEL_SECONDS
            features.MIN_COLD_PARALLEL_SECONDS = features.MIN_PARALLEL_SECONDS
            try:
                parallel.transform(maps)
            finally:
                features.MIN_COLD_PARALLEL_SECONDS = cold_threshold
        variants[name] = {"serial": serial, "parallel": parallel}
    kinds = ("serial", "parallel", "one_thread")
    one_thread_too = args.one_thread
    times = {"anafast": []}
    used_workers = set()
    times.update({(name, kind): [] for name in variants for kind in kinds})
    for _ in range(args.repeat):
        times["anafast"].append(timed(anafast_loop))
        for name, pair in variants.items():
            for kind, transformer in pair.items():
                if transformer is not None:
                    calls = features.parallel_calls
                    times[name, kind].append(timed(lambda: transformer.transform(maps)))
                    if features.parallel_calls > calls:
                        used_workers.add(name)
            if not one_thread_too:
                continue
            # The default loop again, healpy limited to one OpenMP thread.
            with threadpool_limits(1, user_api="openmp"):
                times[name, "one_thread"].append(timed(lambda: pair["serial"].transform(maps)))
    anafast = min(times["anafast"]) / n
    print(f"healpy.anafast(iter=0), plain loop: {anafast:.3f} s/map")
    print(
        f"{'transformer':29s} {'n_jobs=None':>12s} {'x anafast':>9s} "
        f"{f'n_jobs={args.n_jobs}':>10s} {'n_jobs speed-up':>26s} {'cold start':>20s} "
        f"{'first, None':>10s} "
        f"{'1 OpenMP thread':>16s}"
    )
    for name in variants:
        serial = min(times[name, "serial"]) / n
        threads = ""
        if times[name, "one_thread"]:
            one_thread = min(times[name, "one_thread"]) / n
            threads = f"{one_thread:8.3f} s (x{serial / one_thread:.2f})"
        if not times[name, "parallel"]:
            print(
                f"{name:29s} {serial:10.3f} s {serial / anafast:9.2f} "
                f"{'(no n_jobs)':>10s} {'':>26s} {'':>20s} {'':>10s} {threads:>16s}"
            )
            continue
        parallel = min(times[name, "parallel"]) / n
        verdict = "workers faster" if parallel < serial else "workers SLOWER"
        if name not in used_workers:
            verdict = "same loop"  # too little work: no worker was used
        cold_time, started, first_serial = cold[name]
        print(
            f"{name:29s} {serial:10.3f} s {serial / anafast:9.2f} {parallel:8.3f} s "
            f"{serial / parallel:9.2f} ({verdict:>14s}) {cold_time / n:8.3f} s "
            f"{'(started)' if started else '(loop)':9s} {first_serial / n:8.3f} s "
            f"{threads:>16s}",
            flush=True,
        )
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

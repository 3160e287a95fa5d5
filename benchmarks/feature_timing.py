"""Time the feature transformers on full-sky maps, next to healpy.anafast.

Usage: python benchmarks/feature_timing.py [--nside 256] [--n-maps 4]
       [--repeat 3] [--n-jobs 2]

For each transformer, ``transform`` of ``--n-maps`` full-sky maps is timed
with the default ``n_jobs=None`` (the maps one after the other in this
process, healpy using every core through OpenMP) and with ``--n-jobs``
worker processes, next to a plain loop of ``healpy.anafast(map, iter=0)``
over the same maps. The variants are run interleaved, ``--repeat`` times,
after one warm-up call each (which starts joblib's workers and fills the
caches); the table shows the best times, seconds per map, and the ratios:
``x anafast`` (a transformer's time per map over one anafast call) and
``n_jobs speed-up`` (the default's time over the workers'; above 1 means the
workers are faster). The first, cold call with workers (their start
included) is printed too. On a machine shared with other jobs the medians
are noisy; compare the best times, and the load average printed with them.
"""

import argparse
import os
import time

import healpy as hp
import numpy as np

from skdeepsphere import (
    HistogramFeatures,
    MinkowskiFunctionalFeatures,
    MultiScaleHistogramFeatures,
    PeakCountFeatures,
    PowerSpectrumFeatures,
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
        "MultiScaleHistogramFeatures": MultiScaleHistogramFeatures(fwhm),
        "PeakCountFeatures": PeakCountFeatures(fwhm),
        "MinkowskiFunctionalFeatures": MinkowskiFunctionalFeatures(fwhm),
    }


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
            parallel = type(serial)(**{**serial.get_params(), "n_jobs": args.n_jobs})
            parallel.fit(maps)
            cold[name] = timed(lambda: parallel.transform(maps))  # starts the workers
        variants[name] = {"serial": serial, "parallel": parallel}
    times = {"anafast": []}
    times.update({(name, kind): [] for name in variants for kind in ("serial", "parallel")})
    for _ in range(args.repeat):
        times["anafast"].append(timed(anafast_loop))
        for name, pair in variants.items():
            for kind, transformer in pair.items():
                if transformer is not None:
                    times[name, kind].append(timed(lambda: transformer.transform(maps)))
    anafast = min(times["anafast"]) / n
    print(f"healpy.anafast(iter=0), plain loop: {anafast:.3f} s/map")
    print(
        f"{'transformer':29s} {'n_jobs=None':>12s} {'x anafast':>9s} "
        f"{f'n_jobs={args.n_jobs}':>10s} {'n_jobs speed-up':>15s} {'cold start':>10s}"
    )
    for name in variants:
        serial = min(times[name, "serial"]) / n
        if not times[name, "parallel"]:
            print(f"{name:29s} {serial:10.3f} s {serial / anafast:9.2f}   (no n_jobs)")
            continue
        parallel = min(times[name, "parallel"]) / n
        verdict = "workers faster" if parallel < serial else "workers SLOWER"
        print(
            f"{name:29s} {serial:10.3f} s {serial / anafast:9.2f} {parallel:8.3f} s "
            f"{serial / parallel:9.2f} ({verdict}) {cold[name] / n:8.3f} s",
            flush=True,
        )
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""Held-out accuracy of every feature transformer on noisy convergence maps.

Usage: python benchmarks/feature_accuracy.py [--nside 32] [--noise-level 6]
       [--n-maps 80]

Draws ``--n-maps`` training and as many test maps of the two cosmologies of
:func:`skdeepsphere.datasets.make_convergence_maps` (equal power spectra)
with white noise, and fits each transformer + StandardScaler +
LogisticRegression with a 3-fold inner GridSearchCV over ``C`` (and, for the
multi-scale transformers, ``fwhm``: unsmoothed only, or 0, 2 and 4 pixel
sizes). Prints the inner-CV score, the held-out accuracy and the chosen
parameters. healpy runs on one OpenMP thread (small maps: threads cost more
than they save).
"""

import argparse
import time

import healpy as hp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skdeepsphere import (
    HistogramFeatures,
    MinkowskiFunctionalFeatures,
    MultiScaleHistogramFeatures,
    PeakCountFeatures,
    PowerSpectrumFeatures,
)
from skdeepsphere.datasets import make_convergence_maps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=32)
    parser.add_argument("--noise-level", type=float, default=6.0)
    parser.add_argument("--n-maps", type=int, default=80)
    args = parser.parse_args()
    maps, labels = make_convergence_maps(
        args.n_maps, args.nside, noise_level=args.noise_level, random_state=0
    )[:2]
    test_maps, test_labels = make_convergence_maps(
        args.n_maps, args.nside, noise_level=args.noise_level, random_state=1
    )[:2]
    pixel = hp.nside2resol(args.nside, arcmin=True)
    scales = [(0.0,), (0.0, 2 * pixel, 4 * pixel)]
    candidates = {
        "HistogramFeatures": (HistogramFeatures(bins=20), {}),
        "PowerSpectrumFeatures": (PowerSpectrumFeatures(n_bins=10, ell_factor=True), {}),
        "MultiScaleHistogramFeatures": (MultiScaleHistogramFeatures(bins=10), scales),
        "PeakCountFeatures": (PeakCountFeatures(bins=10), scales),
        "MinkowskiFunctionalFeatures": (MinkowskiFunctionalFeatures(bins=10), scales),
    }
    print(
        f"nside={args.nside} noise_level={args.noise_level} {args.n_maps} training and "
        f"{args.n_maps} test maps; pixel size {pixel:.0f} arcmin"
    )
    for name, (transformer, fwhm_grid) in candidates.items():
        start = time.perf_counter()
        pipeline = Pipeline(
            [
                ("features", transformer),
                ("scale", StandardScaler()),
                ("classify", LogisticRegression(max_iter=5000)),
            ]
        )
        grid = {"classify__C": [0.01, 0.1, 1.0]}
        if fwhm_grid:
            grid["features__fwhm"] = fwhm_grid
        search = GridSearchCV(pipeline, grid, cv=StratifiedKFold(3))
        with threadpool_limits(1, user_api="openmp"):
            search.fit(maps, labels)
            score = search.score(test_maps, test_labels)
        chosen = search.best_params_
        fwhm = chosen.get("features__fwhm")
        fwhm = "" if fwhm is None else " fwhm=(" + ", ".join(f"{f:.0f}" for f in fwhm) + ")"
        print(
            f"{name:28s} inner CV {search.best_score_:.3f}  held-out {score:.3f}  "
            f"C={chosen['classify__C']}{fwhm}  {time.perf_counter() - start:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()

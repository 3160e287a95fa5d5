"""Weak non-Gaussianity under noise: default DeepSphere networks against classical statistics.

Usage::

    python benchmarks/weak_signal.py [--quick] [--nside 64] [--n-maps 300]
                                     [--noise 0,2,4,6] [--folds 5] [--models ...]
                                     [--non-gaussianity 0.1]

Data: :func:`skdeepsphere.datasets.make_weak_non_gaussian_maps`, full-sky
maps of two classes with the same power spectrum at every multipole (class
0 Gaussian, class 1 the local non-Gaussian field ``g + a (g^2 - 1)``). For
each noise level (white noise, in units of the standard deviation of the
Gaussian field) the maps are split by stratified K-fold cross-validation:

* DeepSphere FCN and CNN, ``SphericalCNNClassifier`` with its default
  hyperparameters (``random_state`` and ``architecture`` aside), follow the
  paper's protocol: they train on the clean maps with
  ``augment_noise=<noise level>`` (fresh noise in every batch) and are
  tested on the noisy test maps;
* the classical statistics (power spectrum, histogram, and, when
  available, the multi-scale histogram, peak counts and Minkowski
  functionals of the smoothed maps) are computed on the noisy maps and
  classified by an RBF SVC whose C is chosen by an inner 3-fold search.
  The feature transformers are fitted on all the noisy maps (they learn no
  labels: only per-feature standardisation).
* a reference that is not a generic baseline: the cubic (bispectrum)
  estimator of local non-Gaussianity (Komatsu, Spergel & Wandelt 2005),
  ``mean(A^2 B) - mean(A^2) mean(B)`` per map, where ``A`` is the
  Wiener-filtered map ``S_l / (S_l + N_l)`` and ``B`` the inverse-variance
  filtered map ``1 / (S_l + N_l)``. ``S_l + N_l`` is the mean spectrum of
  the noisy training maps of the fold and ``N_l`` the white-noise spectrum
  of the known noise level (the networks know it too, as
  ``augment_noise``). For a weak ``g^2`` term it is the optimal statistic
  built from the bispectrum, so it shows how much of the information in
  these maps a classifier can be expected to use. Classified by a
  logistic regression on that one number.

The noisy test maps are the same for every model. Prints one Markdown
table: mean and standard deviation over folds of the test accuracy, and a
verdict line computed from it. ``--quick``: nside 16, 120 maps, 3 folds,
noise levels 0 and 2. ``--non-gaussianity 0`` is the null test: two
classes of Gaussian maps, every column should be at chance.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import healpy as hp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from skdeepsphere import (HistogramFeatures, PowerSpectrumFeatures,  # noqa: E402
                          SphericalCNNClassifier)
from skdeepsphere.datasets import make_weak_non_gaussian_maps  # noqa: E402

NON_GAUSSIANITY = 0.1
CUBIC = "cubic estimator (reference)"


def classical_features():
    """(name, transformer) of the classical statistics available here."""
    features = [("PSD", PowerSpectrumFeatures()), ("histogram", HistogramFeatures())]
    try:
        from skdeepsphere import (MinkowskiFunctionalFeatures, MultiScaleHistogramFeatures,
                                  PeakCountFeatures)
    except ImportError:
        print("(multi-scale histogram, peaks and Minkowski functionals not available)")
        return features
    return features + [("multi-scale histogram", MultiScaleHistogramFeatures()),
                       ("peaks", PeakCountFeatures()),
                       ("Minkowski", MinkowskiFunctionalFeatures())]


def svm():
    return GridSearchCV(make_pipeline(StandardScaler(), SVC()),
                        {"svc__C": [0.1, 1.0, 10.0]}, cv=3)


def cubic_estimator_scores(noisy, y, folds, noise):
    """Test accuracies per fold of the cubic (bispectrum) estimator."""
    nside = hp.npix2nside(noisy.shape[1])
    lmax = 3 * nside - 1
    alms = [hp.map2alm(m.astype(np.float64), lmax=lmax) for m in noisy]
    spectra = np.array([hp.alm2cl(alm) for alm in alms])
    noise_cl = noise**2 * 4 * np.pi / noisy.shape[1]
    scores = []
    for train, test in folds:
        total = spectra[train].mean(axis=0)
        inverse = np.divide(1, total, out=np.zeros_like(total), where=total > 0)
        wiener = np.clip(total - noise_cl, 0, None) * inverse
        wiener[0] = inverse[0] = 0  # the monopole carries no shape information
        statistic = np.empty(len(noisy))
        for i, alm in enumerate(alms):
            a = hp.alm2map(hp.almxfl(alm, wiener), nside, lmax=lmax)
            b = hp.alm2map(hp.almxfl(alm, inverse), nside, lmax=lmax)
            statistic[i] = np.mean(a * a * b) - np.mean(a * a) * np.mean(b)
        model = make_pipeline(StandardScaler(), LogisticRegression())
        model.fit(statistic[train, None], y[train])
        scores.append(model.score(statistic[test, None], y[test]))
    return scores


def network(architecture, noise, seed):
    return SphericalCNNClassifier(architecture=architecture, augment_noise=noise,
                                  random_state=seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="nside 16, 120 maps, 3 folds, noise 0 and 2")
    parser.add_argument("--nside", type=int, default=64)
    parser.add_argument("--n-maps", type=int, default=300)
    parser.add_argument("--noise", default="0,2,4,6",
                        help="comma-separated noise levels")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--models", default="all",
                        help="comma-separated subset of: classical,cubic,fcn,cnn")
    parser.add_argument("--non-gaussianity", type=float, default=NON_GAUSSIANITY,
                        help="coefficient of g^2 in class 1; 0 is the null test")
    args = parser.parse_args()
    if args.quick:
        args.nside, args.n_maps, args.folds, args.noise = 16, 120, 3, "0,2"
    noise_levels = [float(value) for value in args.noise.split(",")]
    models = ({"classical", "cubic", "fcn", "cnn"} if args.models == "all"
              else set(args.models.split(",")))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    start = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"load average {os.getloadavg()[0]:.1f}")

    X, y = make_weak_non_gaussian_maps(args.n_maps, nside=args.nside,
                                       non_gaussianity=args.non_gaussianity,
                                       random_state=0)
    noise_maps = np.random.default_rng(1).standard_normal(X.shape).astype(np.float32)
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(X, y))
    print(f"{args.n_maps} full-sky maps, nside {args.nside}, non_gaussianity "
          f"{args.non_gaussianity}, {args.folds}-fold CV\n")

    columns = []
    if "classical" in models:
        columns += [name for name, _ in classical_features()]
    if "cubic" in models:
        columns.append(CUBIC)
    columns += [name for name, key in [("DeepSphere FCN", "fcn"), ("DeepSphere CNN", "cnn")]
                if key in models]
    results = {}
    for noise in noise_levels:
        noisy = X + noise * noise_maps
        if "classical" in models:
            for name, transformer in classical_features():
                features = transformer.fit_transform(noisy)
                results[noise, name] = [
                    svm().fit(features[train], y[train]).score(features[test], y[test])
                    for train, test in folds]
                print(f"noise {noise}: {name} {np.mean(results[noise, name]):.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
        if "cubic" in models:
            results[noise, CUBIC] = cubic_estimator_scores(noisy, y, folds, noise)
            print(f"noise {noise}: {CUBIC} {np.mean(results[noise, CUBIC]):.3f}, folds "
                  + " ".join(f"{s:.3f}" for s in results[noise, CUBIC])
                  + f" ({time.perf_counter() - start:.0f} s)", flush=True)
        for name, architecture in [("DeepSphere FCN", "fcn"), ("DeepSphere CNN", "cnn")]:
            if architecture not in models:
                continue
            scores = []
            for seed, (train, test) in enumerate(folds):
                model = network(architecture, noise, seed).fit(X[train], y[train])
                scores.append(model.score(noisy[test], y[test]))
                print(f"noise {noise}: {name} fold {seed + 1}/{len(folds)} {scores[-1]:.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
            results[noise, name] = scores
            print(f"noise {noise}: {name} {np.mean(scores):.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

    print("\n| noise | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for noise in noise_levels:
        cells = [f"{np.mean(results[noise, c]):.3f} ± {np.std(results[noise, c]):.3f}"
                 for c in columns]
        print(f"| {noise:g} | " + " | ".join(cells) + " |")
    classical = [c for c in columns if not c.startswith("DeepSphere") and c != CUBIC]
    if classical and "fcn" in models:
        print()
        for noise in noise_levels:
            fcn = np.mean(results[noise, "DeepSphere FCN"])
            best = max(classical, key=lambda c: np.mean(results[noise, c]))
            best_score = np.mean(results[noise, best])
            verdict = "at or above" if fcn >= best_score else "below"
            reference = ""
            if "cubic" in models:
                cubic = np.mean(results[noise, CUBIC])
                reference = (f"; cubic estimator {cubic:.3f}, FCN "
                             f"{fcn - cubic:+.3f} (fold spread "
                             f"{np.std(results[noise, 'DeepSphere FCN']):.3f})")
            print(f"noise {noise:g}: the default FCN ({fcn:.3f}) is {verdict} the best "
                  f"classical statistic ({best}, {best_score:.3f}); plain histogram "
                  f"{np.mean(results[noise, 'histogram']):.3f}{reference}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

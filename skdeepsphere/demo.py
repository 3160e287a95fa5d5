"""DeepSphere against the SVM baselines on generated convergence maps.

The paper's main experiment at laptop scale: maps of two cosmologies with
the same power spectrum are cut into nested square patches, noise is added,
and the DeepSphere FCN is cross-validated against a linear SVM on histogram
features and on power spectrum features, with the same grouped folds, at
several noise levels (see :func:`evaluate_under_noise` for the protocol). Run with ``make demo`` or ``python -m skdeepsphere.demo``.
"""

import argparse
import csv
import os
import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from .datasets import make_convergence_maps
from .estimators import SphericalCNNClassifier
from .features import HistogramFeatures, PowerSpectrumFeatures

__all__ = ["evaluate_under_noise", "main", "make_models"]


def _svm(features):
    """z-scored features, linear SVM with C in logspace(-2, 2, 9) (paper).

    The search wraps the scaler and SVM only, so that the features are
    computed once per outer fold, not once per value of C.
    """
    svm = make_pipeline(StandardScaler(), LinearSVC(max_iter=20000))
    return make_pipeline(features, GridSearchCV(svm, {"linearsvc__C": np.logspace(-2, 2, 9)},
                                                cv=3))


def make_models(nside, pixels, *, max_epochs=8, random_state=0):
    """The compared models, each a scikit-learn estimator.

    Parameters
    ----------
    nside : int
        Resolution of the patches.
    pixels : ndarray of int
        RING pixel indices of one patch (the graph shared by all patches).
    max_epochs : int, default=8
        Training epochs of DeepSphere.
    random_state : int, default=0

    Returns
    -------
    models : dict of str to estimator
    """
    return {
        # Mean and variance of the last feature maps: at this small scale it
        # trains faster and more reliably than the paper's mean-only head.
        "DeepSphere FCN": SphericalCNNClassifier(
            nside=nside, pixels=pixels, architecture="fcn", channels=(16, 32, 32),
            statistics="mean_var", cheb_order=3, max_epochs=max_epochs, batch_size=64,
            lr=3e-3, random_state=random_state),
        "Histogram + SVM": _svm(HistogramFeatures(bins=100)),
        "PSD + SVM": _svm(PowerSpectrumFeatures(nside=nside, pixels=pixels, n_bins=10)),
    }


def _figure(noise_levels, scores, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, per_noise in scores.items():
        means = [np.mean(per_noise[noise]) for noise in noise_levels]
        stds = [np.std(per_noise[noise]) for noise in noise_levels]
        ax.errorbar(noise_levels, means, yerr=stds, marker="o", capsize=3, label=name)
    ax.axhline(0.5, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="noise level (std relative to the signal)", ylabel="accuracy (CV)",
           title="Two cosmologies, partial-sky patches")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_under_noise(models, X, y, groups, noise_levels, *, n_folds=3,
                         n_realisations=2, random_state=0):
    """Accuracy of each model at each noise level, on the same grouped folds.

    The protocol of the DeepSphere paper: the networks train on noise-free
    patches with fresh noise drawn for every batch (``augment_noise``),
    the SVMs on ``n_realisations`` noisy copies of each training patch;
    every model is tested on the same noisy test patches.

    Parameters
    ----------
    models : dict of str to estimator
    X : ndarray of shape (n_patches, n_pixels)
        Noise-free patches.
    y, groups : ndarray of shape (n_patches,)
        Labels, and the map each patch comes from (kept in one fold).
    noise_levels : sequence of float
        Standard deviations of the white noise.
    n_folds : int, default=3
    n_realisations : int, default=2
    random_state : int, default=0

    Returns
    -------
    scores : dict of str to dict of float to list of float
        ``scores[model][noise]`` is the accuracy on each fold.
    """
    rng = np.random.default_rng(random_state)
    folds = StratifiedGroupKFold(n_folds, shuffle=True, random_state=random_state)
    scores = {name: {noise: [] for noise in noise_levels} for name in models}
    for noise in noise_levels:
        for train, test in folds.split(X, y, groups):
            X_test = X[test] + noise * rng.standard_normal(X[test].shape)
            for name, model in models.items():
                start = time.perf_counter()
                model = clone(model)
                if isinstance(model, SphericalCNNClassifier):
                    model.set_params(augment_noise=noise).fit(X[train], y[train])
                else:
                    draws = rng.standard_normal((n_realisations,) + X[train].shape)
                    X_train = (X[train] + noise * draws).reshape(-1, X.shape[-1])
                    model.fit(X_train, np.tile(y[train], n_realisations))
                scores[name][noise].append(model.score(X_test, y[test]))
                print(f"  noise {noise:4.2f}  {name:16s} fold {len(scores[name][noise])}: "
                      f"{scores[name][noise][-1]:.3f}  ({time.perf_counter() - start:.0f} s)",
                      flush=True)
    return scores


def main(argv=None):
    """Run the comparison, print the table, write CSV and figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=32)
    parser.add_argument("--patch-nside", type=int, default=2,
                        help="patches are the 12 patch_nside^2 nested pixels of this resolution")
    parser.add_argument("--n-maps", type=int, default=16,
                        help="full-sky maps (each gives 12 patch_nside^2 patches)")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--output", default="results")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y, patch_pixels = make_convergence_maps(
        args.n_maps, args.nside, patch_nside=args.patch_nside, random_state=args.seed)
    # Patches of one map are correlated: keep them in the same fold.
    groups = np.repeat(np.arange(args.n_maps), len(patch_pixels))
    print(f"{len(X)} patches of {X.shape[1]} pixels (nside={args.nside}, patch_nside "
          f"{args.patch_nside}) from {args.n_maps} maps, {args.folds}-fold grouped CV")
    models = make_models(args.nside, patch_pixels[0], max_epochs=args.epochs,
                         random_state=args.seed)
    scores = evaluate_under_noise(models, X, y, groups, args.noise, n_folds=args.folds,
                                  random_state=args.seed)

    header = ["model"] + [f"noise {noise:g}" for noise in args.noise]
    rows = [[name] + [f"{np.mean(per_noise[n]):.3f}" for n in args.noise]
            for name, per_noise in scores.items()]
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    print()
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))

    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "demo.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    _figure(args.noise, scores, os.path.join(args.output, "demo.png"))
    print(f"\nwrote {args.output}/demo.csv and {args.output}/demo.png")
    return scores


if __name__ == "__main__":
    main()

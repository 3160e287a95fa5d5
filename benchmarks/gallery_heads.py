"""The gallery's fits of the default FCN head, over seeds (issue 13).

Usage::

    python benchmarks/gallery_heads.py '{"statistics": "mean"}' 0,1,2,3,4 [full,mask,patch,grid]

Reruns, with the keyword arguments of the first argument (JSON) on top of
each example's own settings and with each seed of the second argument as
``random_state``, the network fits of the gallery examples that use the
estimator's default FCN head: ``plot_classify_full_sky`` (``full``),
``plot_partial_sky_mask`` on the full sky and behind the WMAP mask
(``mask``), the FCN of ``plot_2d_cnn_baseline`` (``patch``, mean over its
3 folds) and the FCN grid of ``plot_grid_search`` (``grid``, mean of the
3-fold scores of its 4 candidates). Same data, splits and settings as the
examples; prints one line per example: the test accuracy per seed, their
mean and the time.
"""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    StratifiedGroupKFold,
    StratifiedKFold,
    cross_val_score,
    train_test_split,
)

from skdeepsphere import SphericalCNNClassifier  # noqa: E402
from skdeepsphere.datasets import load_survey_mask, make_convergence_maps  # noqa: E402


def report(params, seeds, name, fit_and_score):
    start = time.perf_counter()
    scores = [fit_and_score(seed) for seed in seeds]
    print(f"{params} {name}: " + " ".join(f"{value:.3f}" for value in scores)
          + f" mean {np.mean(scores):.3f} ({time.perf_counter() - start:.0f} s)", flush=True)


def main():
    params = json.loads(sys.argv[1])
    seeds = [int(seed) for seed in sys.argv[2].split(",")]
    which = sys.argv[3].split(",") if len(sys.argv) > 3 else ["full", "mask", "patch", "grid"]
    # plot_classify_full_sky and plot_partial_sky_mask
    small = dict(channels=(8, 16, 32, 32), cheb_order=5, max_epochs=15, lr=3e-3,
                 early_stopping=True, validation_fraction=0.2, n_iter_no_change=5)
    nside = 16
    if "full" in which:
        X, y = make_convergence_maps(240, nside, noise_level=3.0, random_state=0)
        train, test = train_test_split(np.arange(240), test_size=0.25, stratify=y,
                                       random_state=0)
        report(params, seeds, "classify_full_sky", lambda seed: SphericalCNNClassifier(
            **small, random_state=seed, **params).fit(X[train], y[train]).score(X[test], y[test]))
    if "mask" in which:
        X, y = make_convergence_maps(240, nside, noise_level=2.5, random_state=0)
        pixels = np.flatnonzero(load_survey_mask("wmap", nside))
        train, test = train_test_split(np.arange(240), test_size=0.25, stratify=y,
                                       random_state=0)
        report(params, seeds, "mask_full", lambda seed: SphericalCNNClassifier(
            **small, random_state=seed, **params).fit(X[train], y[train]).score(X[test], y[test]))
        masked = X[:, pixels]
        report(params, seeds, "mask_wmap", lambda seed: SphericalCNNClassifier(
            **small, nside=nside, pixels=pixels, random_state=seed, **params).fit(
                masked[train], y[train]).score(masked[test], y[test]))
    if "patch" in which:  # plot_2d_cnn_baseline
        patch_nside, order, n_maps = 32, 2, 16
        X, y, pixels = make_convergence_maps(n_maps, patch_nside, patch_nside=order,
                                             random_state=0)
        groups = np.repeat(np.arange(n_maps), len(pixels))
        noise = np.random.default_rng(0).standard_normal(X.shape).astype(np.float32)

        def patches(seed):
            scores = []
            folds = StratifiedGroupKFold(3, shuffle=True, random_state=0).split(X, y, groups)
            for train, test in folds:
                model = SphericalCNNClassifier(
                    nside=patch_nside, pixels=pixels[0], channels=(16, 32, 32), max_epochs=8,
                    lr=3e-3, batch_size=64, augment_noise=1.5, random_state=seed,
                    architecture="fcn", cheb_order=3, **params).fit(X[train], y[train])
                scores.append(model.score(X[test] + 1.5 * noise[test], y[test]))
            return np.mean(scores)
        report(params, seeds, "2d_cnn_baseline_fcn", patches)
    if "grid" in which:  # plot_grid_search, its FCN candidates
        X, y = make_convergence_maps(200, 8, noise_level=1.0, random_state=0)
        cv = StratifiedKFold(3, shuffle=True, random_state=0)

        def grid(seed):
            return np.mean([cross_val_score(SphericalCNNClassifier(
                channels=(8, 16, 32), max_epochs=12, batch_size=16, random_state=seed,
                cheb_order=order, lr=lr, **params), X, y, cv=cv).mean()
                for order in (3, 5) for lr in (1e-3, 5e-3)])
        report(params, seeds, "grid_search_fcn_mean4", grid)


if __name__ == "__main__":
    main()

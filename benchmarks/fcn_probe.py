"""One hyperparameter change of the FCN on weak_signal.py's data, folds and seeds.

Usage::

    python benchmarks/fcn_probe.py --noise 6 --folds 5,1 --params '{"statistics": "mean_var"}'

The same 300 nside-64 maps (``make_weak_non_gaussian_maps``, non-Gaussianity
0.1, ``random_state=0``), the same stratified 5-fold split, the same noisy
test maps and the same seed per fold (``random_state`` = fold index) as the
DeepSphere FCN column of ``weak_signal.py``, with the keyword arguments of
``--params`` (JSON) on top of ``architecture="fcn", augment_noise=<noise>``.
So a probe is paired with the default run fold by fold. Prints, per fold
(numbered from 1 as in ``weak_signal.py``), the test accuracy, the accuracy
on the noisy training maps and the elapsed time; ``--verbose`` adds the
per-epoch log.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from skdeepsphere import SphericalCNNClassifier  # noqa: E402
from skdeepsphere.datasets import make_weak_non_gaussian_maps  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, default=6.0)
    parser.add_argument("--folds", default="1,2,3,4,5", help="1-based fold numbers")
    parser.add_argument("--params", default="{}", help="JSON keyword arguments")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    params = json.loads(args.params)
    X, y = make_weak_non_gaussian_maps(300, nside=64, non_gaussianity=0.1, random_state=0)
    noise_maps = np.random.default_rng(1).standard_normal(X.shape).astype(np.float32)
    noisy = X + args.noise * noise_maps
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    start = time.perf_counter()
    scores = []
    for number in (int(f) for f in args.folds.split(",")):
        train, test = folds[number - 1]
        model = SphericalCNNClassifier(**{"architecture": "fcn", "augment_noise": args.noise,
                                          "random_state": number - 1,
                                          "verbose": int(args.verbose), **params})
        model.fit(X[train], y[train])
        scores.append(model.score(noisy[test], y[test]))
        print(f"noise {args.noise} {params} fold {number}/5 test {scores[-1]:.3f} "
              f"train-noisy {model.score(noisy[train], y[train]):.3f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"mean {np.mean(scores):.3f} +- {np.std(scores):.3f} over {len(scores)} folds")


if __name__ == "__main__":
    main()

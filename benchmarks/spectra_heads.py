"""The FCN heads on two Gaussian classes that differ only in their spectrum (issue 13).

Usage::

    python benchmarks/spectra_heads.py '{"statistics": "mean"}' '{"statistics": "mean_var", "max_epochs": 20}'

The data of issue 13's small reproducer (the classes of
``../shared/checks/predict_mode.py``, drawn with the package's
:func:`skdeepsphere.synthesis.gaussian_map` instead of ``healpy.synfast``):
Gaussian maps with C_ell proportional to (ell+1)^-2 or (ell+1)^-2.5 (no
monopole), unit variance, white noise of standard deviation 1, nside 16;
120 training maps (seed 1) and 60 test maps (seed 2). For each JSON
argument, fits ``SphericalCNNClassifier(channels=(8, 16), cheb_order=3,
max_epochs=6)`` with the argument's keyword arguments on top, with
``random_state`` 0 to 4, and prints the five test accuracies, their mean
and the time.
"""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from skdeepsphere import SphericalCNNClassifier  # noqa: E402
from skdeepsphere.synthesis import gaussian_map  # noqa: E402


def two_spectra(n, nside=16, seed=0, noise=1.0):
    """n maps, half of each spectrum, in random order, and their classes."""
    rng = np.random.default_rng(seed)
    ell = np.arange(3 * nside)
    y = rng.permutation(np.arange(n) % 2)
    X = np.empty((n, 12 * nside**2), np.float32)
    for i, c in enumerate(y):
        cl = (ell + 1.0) ** -(2.0, 2.5)[c]
        cl[0] = 0
        cl /= np.sum((2 * ell + 1) * cl) / (4 * np.pi)  # unit pixel variance
        X[i] = (gaussian_map(cl, nside, int(rng.integers(2**31)))
                + noise * rng.normal(size=X.shape[1]))
    return X, y


def main():
    X, y = two_spectra(120, seed=1)
    X_test, y_test = two_spectra(60, seed=2)
    for params in map(json.loads, sys.argv[1:]):
        start = time.perf_counter()
        scores = [SphericalCNNClassifier(**{"channels": (8, 16), "cheb_order": 3,
                                            "max_epochs": 6, "random_state": seed,
                                            **params}).fit(X, y).score(X_test, y_test)
                  for seed in range(5)]
        print(params, " ".join(f"{s:.3f}" for s in scores),
              f"mean {np.mean(scores):.3f} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

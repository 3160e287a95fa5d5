"""How much a rotation augmentation changes the maps it rotates.

Usage::

    python benchmarks/rotation_smoothing.py [--nside 64] [--n-maps 40]

Rotates weak non-Gaussian maps (``make_weak_non_gaussian_maps``, the data
of ``weak_signal.py``) once with each of the estimators' two rotation
augmentations (:class:`skdeepsphere.nn.RandomBatchRotation`): uniform
rotations (bilinear resampling, ``augment_rotation=True``) and the HEALPix
grid's 8 rotations (a permutation, ``augment_rotation="grid"``). Prints the
rotated maps' mean power spectrum relative to the original one at a few
multipoles, and their variance, skewness and excess kurtosis: what the
network is trained on against what it is later asked about.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import healpy as hp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import kurtosis, skew  # noqa: E402

from skdeepsphere.datasets import make_weak_non_gaussian_maps  # noqa: E402
from skdeepsphere.nn import RandomBatchRotation  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=64)
    parser.add_argument("--n-maps", type=int, default=40)
    args = parser.parse_args()
    nside = args.nside
    X, _ = make_weak_non_gaussian_maps(args.n_maps, nside=nside, non_gaussianity=0.1,
                                       random_state=0)
    lmax = 3 * nside - 1
    ells = [ell for ell in (10, 30, 60, 90, 120, 150, 180) if ell <= lmax]

    def spectrum(maps):
        return np.mean([hp.anafast(hp.reorder(m, n2r=True), lmax=lmax) for m in maps], 0)

    original = spectrum(X)
    print("rotation | " + " | ".join(f"C_l ratio at l={ell}" for ell in ells)
          + " | variance | skewness | excess kurtosis")
    print(f"none | {' | '.join('1.000' for _ in ells)} | {X.var():.3f} | "
          f"{np.mean(skew(X, axis=1)):.3f} | {np.mean(kurtosis(X, axis=1)):.3f}")
    for kind in ("uniform", "grid"):
        rotate = RandomBatchRotation(nside, random_state=0, rotations=kind)
        R = rotate(torch.from_numpy(X[:, None].astype(np.float64)))[:, 0].numpy()
        ratio = spectrum(R) / original
        print(f"{kind} | {' | '.join(f'{ratio[ell]:.3f}' for ell in ells)} | {R.var():.3f} | "
              f"{np.mean(skew(R, axis=1)):.3f} | {np.mean(kurtosis(R, axis=1)):.3f}")


if __name__ == "__main__":
    main()

"""Rotated spherical digits, rotation equivariance and augmentation cost (issue 8).

Usage::

    python benchmarks/spherical_digits.py [--nside 8] [--epochs 15] [--quick]

Prints three tables:

1. Accuracy on spherical digits (scikit-learn's 8x8 digits projected on the
   sphere, :func:`skdeepsphere.datasets.make_spherical_digits`): the first
   1200 digits train, the other 597 test, the test maps always randomly
   rotated. Protocols: train rotated / test rotated (R/R), train unrotated /
   test rotated (N/R), and train unrotated with ``augment_rotation=True``
   (N+aug/R). Models: DeepSphere's FCN (rotation invariant by design), its
   CNN variant (a dense head: not invariant), and an RBF SVC on the raw
   pixels of the maps (the non-spherical baseline). The last column is the
   invariance error of the fitted model's probabilities under rotations of
   the test maps (:func:`skdeepsphere.rotation.empirical_equivariance_error`).
2. Equivariance error of a random ChebConv (K = 5, HEALPix 8-neighbour
   graph) on band-limited random maps at two resolutions, next to the
   interpolation floor (rotate and rotate back) and a pixel shuffle.
3. Cost of ``augment_rotation``: seconds to rotate one batch, times batches
   per epoch, divided by the seconds of an epoch without it.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from skdeepsphere import SphericalCNNClassifier  # noqa: E402
from skdeepsphere.datasets import make_spherical_digits  # noqa: E402
from skdeepsphere.graph import healpix_laplacian  # noqa: E402
from skdeepsphere.nn import ChebConv, RandomBatchRotation  # noqa: E402
from skdeepsphere.rotation import (  # noqa: E402
    empirical_equivariance_error,
    rotation_roundtrip_error,
)
from skdeepsphere.synthesis import random_smooth_maps  # noqa: E402

N_TRAIN = 1200


def digits_data(nside, n_train):
    digits = load_digits()
    images, labels = digits.images / 16, digits.target
    train, test = slice(0, n_train), slice(N_TRAIN, None)
    rotated = make_spherical_digits(images[train], labels[train], nside=nside,
                                    random_state=0)
    unrotated = make_spherical_digits(images[train], labels[train], nside=nside,
                                      rotate=False)
    test_maps, test_labels = make_spherical_digits(images[test], labels[test], nside=nside,
                                                   random_state=1)
    return {"R": rotated, "N": unrotated}, (test_maps, test_labels)


def network(architecture, epochs, augment_rotation=False):
    return SphericalCNNClassifier(architecture=architecture, channels=(16, 32, 64),
                                  cheb_order=4, statistics="mean_var", max_epochs=epochs,
                                  batch_size=32, lr=3e-3, augment_rotation=augment_rotation,
                                  random_state=0, device="cpu")


def accuracy_table(nside, epochs, n_train):
    train_sets, (X_test, y_test) = digits_data(nside, n_train)
    runs = []
    for architecture in ("fcn", "cnn"):
        runs += [(f"DeepSphere {architecture.upper()}", protocol,
                  network(architecture, epochs, augment_rotation=protocol == "N+aug"))
                 for protocol in ("R", "N", "N+aug")]
    runs += [("SVC on pixels", protocol, make_pipeline(StandardScaler(), SVC()))
             for protocol in ("R", "N")]
    print(f"\nSpherical digits, nside={nside}, {n_train} train / {len(y_test)} rotated "
          f"test maps, {epochs} epochs")
    print("| model | train | test | accuracy | invariance error | fit seconds |")
    print("|---|---|---|---|---|---|")
    for name, protocol, model in runs:
        X_train, y_train = train_sets[protocol[0]]
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        accuracy = model.score(X_test, y_test)
        invariance = empirical_equivariance_error(model, X_test[:100], n_rotations=4,
                                                 random_state=0)
        train = {"R": "rotated", "N": "unrotated", "N+aug": "unrotated + augment_rotation"}
        print(f"| {name} | {train[protocol]} | rotated | {accuracy:.3f} | {invariance:.3f} "
              f"| {seconds:.0f} |", flush=True)


def equivariance_table(nsides, lmaxes):
    print("\nEquivariance error ||f(Rx) - R f(x)|| / ||f(x)||, mean over 8 maps x 8 "
          "rotations (band-limited maps, flat spectrum up to lmax)")
    print("| nside | lmax | ChebConv K=5 | interpolation floor | pixel shuffle |")
    print("|---|---|---|---|---|")
    for lmax in lmaxes:
        for nside in nsides:
            lmax_value = nside if lmax == "nside" else lmax
            maps = random_smooth_maps(8, nside, lmax=lmax_value, nest=True, random_state=0)
            torch.manual_seed(0)
            conv = ChebConv(1, 8, healpix_laplacian(nside), cheb_order=5, bias=False)
            chebconv = empirical_equivariance_error(conv, maps, n_rotations=8, random_state=0)
            floor = rotation_roundtrip_error(maps, n_rotations=8, nest=True, random_state=0)
            shuffle = np.random.default_rng(0).permutation(maps.shape[1])
            shuffled = empirical_equivariance_error(lambda x: x[..., shuffle], maps,
                                                   n_rotations=8, random_state=0)
            print(f"| {nside} | {lmax_value} | {chebconv:.4f} | {floor:.4f} | {shuffled:.3f} |",
                  flush=True)


def augmentation_cost(nside, n_maps=256, batch_size=32, repeat=3):
    digits = load_digits()
    X, y = make_spherical_digits(digits.images[:n_maps] / 16, digits.target[:n_maps],
                                 nside=nside, rotate=False)
    epoch = []
    for _ in range(repeat):
        clf = network("fcn", 1)
        start = time.perf_counter()
        clf.fit(X, y)
        epoch.append(time.perf_counter() - start)
    rotate = RandomBatchRotation(nside, random_state=0)
    batch = torch.as_tensor(X[:batch_size, None])
    n_batches = int(np.ceil(n_maps / batch_size))
    per_batch = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n_batches):
            rotate(batch)
        per_batch.append((time.perf_counter() - start) / n_batches)
    ratio = min(per_batch) * n_batches / min(epoch)
    print(f"| {nside} | {batch_size} | {1e3 * min(per_batch):.1f} | {min(epoch):.2f} "
          f"| {ratio:.3f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--quick", action="store_true",
                        help="400 training maps and 5 epochs")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    start = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"load average {os.getloadavg()[0]:.1f}")
    equivariance_table((16, 32), (8, "nside"))
    print("\nCost of augment_rotation (FCN (16, 32, 64), K=4, 256 maps; minimum of 3)")
    print("| nside | batch | ms per batch rotation | s per epoch | rotation / epoch |")
    print("|---|---|---|---|---|")
    for nside in (8, 16):
        augmentation_cost(nside)
    epochs, n_train = (5, 400) if args.quick else (args.epochs, N_TRAIN)
    accuracy_table(args.nside, epochs, n_train)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

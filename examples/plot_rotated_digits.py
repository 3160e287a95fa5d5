"""
Rotated spherical digits: invariance learned or built in
=========================================================

Spherical CNNs are judged on *rotated spherical MNIST* (Cohen et al. 2018):
digits projected onto the sphere and turned by random 3-D rotations. A
model that only memorises where the strokes of a digit lie fails as soon as
the digit is turned; a rotation-equivariant network recognises it in any
orientation, even one it never saw in training. DeepSphere's graph
convolutions are equivariant only approximately, since the HEALPix graph is
not perfectly regular. This example measures that approximation, and what
it is worth on the benchmark, next to an SVM on the raw pixels.
"""

# %%
# Digits on the sphere
# --------------------
#
# :func:`~skdeepsphere.datasets.make_spherical_digits` projects
# scikit-learn's 8x8 digits stereographically onto the northern hemisphere
# and, with ``rotate=True``, turns each map by its own uniformly random
# rotation. We use ``nside = 8`` (768 pixels, about 280 under a digit) to
# keep the example fast; the first 500 digits train, the next 400 test.

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skdeepsphere import SphericalCNNClassifier
from skdeepsphere.datasets import make_spherical_digits
from skdeepsphere.graph import healpix_laplacian
from skdeepsphere.nn import ChebConv
from skdeepsphere.rotation import empirical_equivariance_error, rotation_roundtrip_error
from skdeepsphere.synthesis import random_smooth_maps

nside = 8
digits = load_digits()
images, labels = digits.images / 16, digits.target
train, test = slice(0, 500), slice(500, 900)
X_flat, y_train = make_spherical_digits(images[train], labels[train], nside=nside,
                                        rotate=False)
X_rotated, _ = make_spherical_digits(images[train], labels[train], nside=nside,
                                     random_state=0)
X_test, y_test = make_spherical_digits(images[test], labels[test], nside=nside,
                                       random_state=1)
print(X_flat.shape, X_test.shape)

# %%
# The same digit unrotated (seen from above the north pole) and rotated (the
# whole sphere in the Mollweide projection).

fig = plt.figure(figsize=(10, 3))
hp.orthview(X_flat[0], rot=(0, 90, 270), flip="geo", half_sky=True, fig=fig.number,
            sub=(1, 3, 1), title=f"digit {y_train[0]}, unrotated", cbar=False)
hp.mollview(X_flat[0], fig=fig.number, sub=(1, 3, 2), title="unrotated", cbar=False)
hp.mollview(X_rotated[0], fig=fig.number, sub=(1, 3, 3), title="randomly rotated",
            cbar=False)

# %%
# Three protocols, two models
# ---------------------------
#
# The test maps are always rotated. The models train either on rotated maps
# (*rotated / rotated*: invariance can be learned from the data) or on
# unrotated ones (*unrotated / rotated*: invariance must be built in). The
# DeepSphere FCN ends in global statistics of its feature maps, so it is
# invariant as far as its graph convolutions are equivariant. The baseline
# is an RBF SVM on the pixels of the same maps. A third protocol trains the
# FCN on the unrotated maps with ``augment_rotation=True``: every training
# map is turned by a fresh random rotation at every epoch.


def deepsphere(augment_rotation=False):
    return SphericalCNNClassifier(channels=(16, 32, 64), cheb_order=4,
                                  statistics="mean_var", max_epochs=7, lr=3e-3,
                                  augment_rotation=augment_rotation, random_state=0)


protocols = {
    "rotated": (X_rotated, {"DeepSphere FCN": deepsphere(),
                            "SVC on pixels": make_pipeline(StandardScaler(), SVC())}),
    "unrotated": (X_flat, {"DeepSphere FCN": deepsphere(),
                           "SVC on pixels": make_pipeline(StandardScaler(), SVC())}),
    "unrotated,\naugment_rotation": (X_flat, {"DeepSphere FCN": deepsphere(True)}),
}
results = {}
for protocol, (X_train, models) in protocols.items():
    for name, model in models.items():
        model.fit(X_train, y_train)
        results[name, protocol] = model.score(X_test, y_test)
        print(f"{name:15s} train {protocol.replace(chr(10), ' '):28s} "
              f"test rotated: accuracy {results[name, protocol]:.2f}")

fig, ax = plt.subplots(figsize=(7, 3.4))
for i, name in enumerate(["DeepSphere FCN", "SVC on pixels"]):
    positions = [j for j, protocol in enumerate(protocols) if (name, protocol) in results]
    scores = [results[name, protocol] for protocol in protocols if (name, protocol) in results]
    ax.bar(np.array(positions) + 0.38 * (i - 0.5), scores, width=0.36, label=name)
ax.axhline(0.1, color="0.5", ls="--", lw=1, label="chance")
ax.set(xticks=range(len(protocols)), xticklabels=[f"train {p}" for p in protocols],
       ylabel="accuracy on rotated test maps", ylim=(0, 1),
       title="Rotated spherical digits")
ax.legend(loc="upper right")
fig.tight_layout()

# %%
# The SVM sees a rotated digit as a new pattern of pixels: it needs many
# rotated examples of each digit and is at chance when it never saw one.
# The FCN recognises many digits in orientations it never saw, and
# ``augment_rotation=True`` recovers much of the gap to training on rotated
# maps. With more data and epochs (``benchmarks/spherical_digits.py``: 1200
# digits, 15 epochs) the augmented FCN even beats it, 0.87 against 0.83,
# since a fresh orientation of every digit at every epoch is more data than
# one fixed orientation each; the FCN trained on unrotated maps alone
# reaches 0.64, the SVM stays at chance.
#
# How equivariant is a graph convolution?
# ---------------------------------------
#
# :func:`~skdeepsphere.rotation.empirical_equivariance_error` compares
# filtering a rotated map with rotating the filtered map,
# :math:`\|f(Rx) - R f(x)\| / \|f(x)\|`, on smooth random maps (band
# limited to :math:`\ell \le 8`). Rotations interpolate between pixels, so
# part of the error is interpolation: rotating a map and rotating it back
# (:func:`~skdeepsphere.rotation.rotation_roundtrip_error`) measures that
# floor. A layer that shuffles the pixels is the non-equivariant reference.

rows = []
for resolution in (8, 16, 32):
    maps = random_smooth_maps(4, resolution, lmax=8, nest=True, random_state=0)
    torch.manual_seed(0)
    conv = ChebConv(1, 4, healpix_laplacian(resolution), cheb_order=5, bias=False)
    shuffle = np.random.default_rng(0).permutation(maps.shape[1])
    rows.append([empirical_equivariance_error(conv, maps, n_rotations=4, random_state=0),
                 rotation_roundtrip_error(maps, n_rotations=4, nest=True, random_state=0),
                 empirical_equivariance_error(lambda x: x[..., shuffle], maps,
                                             n_rotations=4, random_state=0)])
    print(f"nside {resolution:2d}: ChebConv {rows[-1][0]:.3f}, "
          f"interpolation floor {rows[-1][1]:.3f}, pixel shuffle {rows[-1][2]:.2f}")

fig, ax = plt.subplots(figsize=(5, 3.2))
for values, label, marker in zip(np.array(rows).T, ["ChebConv (K = 5)",
                                                    "interpolation floor",
                                                    "pixel shuffle"], "osx"):
    ax.semilogy([8, 16, 32], values, marker=marker, label=label)
ax.set_xscale("log", base=2)
ax.minorticks_off()
ax.set(xticks=[8, 16, 32], xticklabels=["8", "16", "32"], xlabel="nside",
       ylabel="relative error", title="Equivariance error")
ax.legend()

# %%
# Conclusion
# ----------
#
# On maps smooth at the scale of the pixels, a DeepSphere graph convolution
# commutes with rotations up to about 13 % at ``nside = 8`` (no more than
# the interpolation itself costs), 10 % at 16 and 6 % at 32, against more
# than 100 % for an operator that ignores the geometry. That approximate
# equivariance is what lets the FCN classify digits in orientations it
# never saw, where a classifier of raw pixels is at chance. The FCN is far
# from the 99 % that exactly equivariant spherical CNNs reach on rotated
# MNIST: these are tiny 8x8 digits, a few hundred of them, and a few
# epochs on one CPU core.

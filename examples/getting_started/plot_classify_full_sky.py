"""
Classifying whole-sphere maps
=============================

The simplest DeepSphere task: every sample is a whole-sky HEALPix map and the
label says which of two cosmological models produced it. The two models are
built to be hard for classical statistics: their maps have the same angular
power spectrum and differ only in their non-Gaussian structure, as the mass
maps of two cosmologies with degenerate power spectra did in the DeepSphere
paper. This example generates such maps, looks at them, trains a
:class:`~skdeepsphere.SphericalCNNClassifier` on a laptop CPU (the fit
time is printed below), follows its training curve and reads its confusion
matrix.
"""

# %%
# The data
# --------
#
# :func:`~skdeepsphere.datasets.make_convergence_maps` draws maps of the two
# classes at a chosen resolution. We use ``nside = 16`` (3072 pixels per map)
# and 240 maps, with white noise three times as strong as the signal
# (``noise_level=3``, in units of the signal's standard deviation), so
# that the task is hard enough for the classifier to make mistakes; the
# paper used ``nside = 1024`` and thousands of maps. The maps come in the
# RING ordering, like maps read with :func:`healpy.read_map`.

import time

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score
from sklearn.model_selection import train_test_split

from skdeepsphere import SphericalCNNClassifier
from skdeepsphere.datasets import make_convergence_maps
from skdeepsphere.plotting import color_limits, mollview, plot_history

nside = 16
X, y = make_convergence_maps(240, nside, noise_level=3.0, random_state=0)
print(f"maps: {X.shape}, classes: {np.unique(y)} with {np.bincount(y)} maps each")

# %%
# One map of each class, in the Mollweide projection. By eye the two are
# hard to tell apart.

fig = plt.figure(figsize=(10, 3.6))
vmin, vmax = color_limits(X)
for label in (0, 1):
    mollview(X[y == label][0], fig=fig, sub=(1, 2, label + 1), title=f"class {label}",
             unit="convergence + noise (signal std)", vmin=vmin, vmax=vmax)

# %%
# Summary statistics tell more. The two classes are built to share their
# angular power spectrum (the bands are the spread over maps), so a
# two-point statistic should hardly separate them; the line printed below
# the figure gives the largest gap between the class means, multipole by
# multipole, in units of that spread. Their pixel histograms differ in the
# tails, the non-Gaussian part: class 1 is a more skewed lognormal field,
# with a hard floor that the noise blurs.

ell = np.arange(3 * nside)
spectra = np.array([hp.anafast(m) for m in X])
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
bins = np.linspace(vmin, vmax, 60)
for label, colour in zip((0, 1), ("C0", "C3")):
    mean = spectra[y == label].mean(axis=0)
    std = spectra[y == label].std(axis=0)
    left.fill_between(ell[1:], (mean - std)[1:], (mean + std)[1:], color=colour, alpha=0.2)
    left.loglog(ell[1:], mean[1:], color=colour, label=f"class {label}")
    right.hist(X[y == label].ravel(), bins=bins, density=True, histtype="step",
               color=colour, label=f"class {label}")
left.set(xlabel=r"multipole $\ell$", ylabel=r"$C_\ell$", title="angular power spectrum")
right.set(xlabel="pixel value (signal std)", ylabel="density", yscale="log",
          title="pixel histogram")
left.legend()
right.legend();

gap = np.abs(spectra[y == 1].mean(axis=0) - spectra[y == 0].mean(axis=0))
spread = 0.5 * (spectra[y == 1].std(axis=0) + spectra[y == 0].std(axis=0))
worst = int(np.argmax((gap / spread)[1:])) + 1
print(f"largest gap between the class-mean spectra: {(gap / spread)[worst]:.1f} "
      f"map-to-map standard deviations, at l = {worst}")

# %%
# Training a spherical CNN
# ------------------------
#
# :class:`~skdeepsphere.SphericalCNNClassifier` takes the maps as they are,
# an array of shape ``(n_maps, n_pixels)``, infers ``nside`` from the number
# of pixels and builds the graph, the pooling hierarchy and the network. The
# default ``architecture="fcn"`` ends in global statistics (the mean and
# variance of each feature map over the sphere): its prediction does not
# depend on where structures are on the sphere. We keep the network
# small (four blocks of 8 to 32 channels) and ask for early stopping, which
# holds out a fifth of the training maps (``validation_fraction=0.2``) and
# records a validation loss at every
# epoch.

X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)

clf = SphericalCNNClassifier(
    channels=(8, 16, 32, 32),
    cheb_order=5,
    max_epochs=15,
    lr=3e-3,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=5,
    random_state=0,
)
start = time.perf_counter()
clf.fit(X_train, y_train)
fit_time = time.perf_counter() - start
accuracy = accuracy_score(y_test, clf.predict(X_test))
print(f"{clf.n_epochs_} epochs in {fit_time:.0f} s; test accuracy: {accuracy:.2f}")

# %%
# The fitted estimator keeps its skorch net in ``net_``; its ``history``
# holds one row per epoch, so the training curves are one indexing away.

plot_history(clf, ylabel="cross-entropy", title="Training curve");

# %%
# Where does it go wrong?
# -----------------------
#
# The confusion matrix on the held-out maps, and the predicted probability of
# class 1 for every test map: a confident classifier puts the two classes at
# the two ends.

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
ConfusionMatrixDisplay.from_estimator(clf, X_test, y_test, ax=left, colorbar=False,
                                      cmap="Blues")
left.set_title("confusion matrix (test maps)")
proba = clf.predict_proba(X_test)[:, 1]
for label, colour in zip((0, 1), ("C0", "C3")):
    right.hist(proba[y_test == label], bins=np.linspace(0, 1, 21), alpha=0.6,
               color=colour, label=f"true class {label}")
right.set(xlabel="predicted probability of class 1", ylabel="test maps",
          title="predicted probabilities")
right.legend();

wrong = int(np.sum(clf.predict(X_test) != y_test))
if wrong:
    print(f"misclassified: {wrong} of {len(y_test)} test maps; "
          f"{np.sum((proba > 0.3) & (proba < 0.7))} get a probability between 0.3 and 0.7.")
else:
    print(f"All {len(y_test)} test maps are classified correctly: at this noise level "
          "the task is too easy to show mistakes; raise noise_level.")

# %%
# Conclusion
# ----------
#
# A few lines of scikit-learn code train a graph CNN on whole-sphere maps:
# no projection, no padding, no choice of orientation. The estimator is an
# ordinary scikit-learn classifier, so ``cross_val_score``, ``Pipeline`` and
# ``GridSearchCV`` work on it as they do on any other (see
# :ref:`sphx_glr_auto_examples_scaling_up_plot_grid_search.py`). With noise and with
# only part of the sky the task gets harder:
# :ref:`sphx_glr_auto_examples_paper_reproductions_plot_partial_sky_noise.py` compares DeepSphere
# with its baselines in that setting.

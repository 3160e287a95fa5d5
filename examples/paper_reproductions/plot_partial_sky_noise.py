"""
Partial-sky patches with noise: DeepSphere against its baselines
================================================================

The main experiment of the DeepSphere paper (Perraudin et al. 2019): cut
simulated convergence maps of two cosmologies into patches of the sky, add
white noise, and ask which model still tells the cosmologies apart. The two
classes have the same power spectrum, so the classical power-spectrum
analysis struggles by construction, and the noise hides the non-Gaussian
features that separate them. The paper compared DeepSphere (fully
convolutional and with a dense head) with a 2D CNN on the patches and with
SVMs on power spectra and on pixel histograms. We run the same five models,
on the same folds, at three noise levels, at a size that fits in a minute or
two on a laptop CPU: 16 maps at ``nside = 32`` instead of 30 at ``nside =
1024``, patches of 256 pixels instead of 65 536.
"""

# %%
# Maps cut into patches
# ---------------------
#
# With ``patch_nside=2``, :func:`~skdeepsphere.datasets.make_convergence_maps`
# cuts every full-sky map into the ``12 × 2² = 48`` NESTED patches of the
# HEALPix base pixels at resolution 2, each ``16 × 16`` pixels, and returns
# the patches as samples together with their pixel indices. Patches of one
# map are rows ``48 i`` to ``48 i + 47``; since they come from the same sky
# they must stay in the same fold, hence the ``groups``.

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC

from skdeepsphere import (
    HistogramFeatures,
    PowerSpectrumFeatures,
    SphericalCNNClassifier,
)
from skdeepsphere.datasets import make_convergence_maps
from skdeepsphere.plotting import gnomview, mollview

# sphinx_gallery_thumbnail_number = 2
nside, patch_nside, n_maps = 32, 2, 16
X, y, pixels = make_convergence_maps(n_maps, nside, patch_nside=patch_nside, random_state=0)
n_patches = len(pixels)
groups = np.repeat(np.arange(n_maps), n_patches)
print(f"{X.shape[0]} patches of {X.shape[1]} pixels from {n_maps} maps")

# %%
# Noise is added in the experiment rather than by the generator, so that the
# networks can be trained the way the paper trained them: on the clean
# training patches with a *fresh* noise realisation at every batch
# (``augment_noise``), which keeps 16 maps' worth of patches from being
# memorised. Test patches get one fixed realisation per noise level. Here is
# one map with its 48 patches, and one patch (cyan) at three noise levels,
# in units of the signal's standard deviation (the paper used ``0.5`` to ``2``).

noise_levels = [0.5, 1.0, 2.0]
rng = np.random.default_rng(0)
noise = rng.standard_normal(X.shape).astype(np.float32)

sky = np.empty(hp.nside2npix(nside))
sky[pixels] = X[:n_patches]  # the 48 patches of the first map put back
patch = 21  # the patch shown with noise


def outline(patch, **style):
    """Draw the border of a patch: the HEALPix pixel ``patch`` at nside=patch_nside."""
    theta, phi = hp.vec2ang(hp.boundaries(patch_nside, patch, step=8, nest=True).T)
    hp.projplot(np.append(theta, theta[0]), np.append(phi, phi[0]), **style)


fig = plt.figure(figsize=(12, 6.4))
mollview(sky, fig=fig, sub=(1, 2, 1), cmap="magma", vmin=-3, vmax=3,
         unit="convergence (signal std)", title="one map (noise-free) and its 48 patches")
for other in range(n_patches):
    outline(other, color="w", lw=0.5)
outline(patch, color="c", lw=2)
centre = hp.pix2ang(patch_nside, patch, nest=True, lonlat=True)
for i, level in enumerate([0.0] + noise_levels):
    noisy = np.full(hp.nside2npix(nside), hp.UNSEEN)
    noisy[pixels[patch]] = X[patch] + level * noise[patch]
    gnomview(noisy, rot=centre, reso=20, xsize=140, fig=fig,
             sub=(2, 4, 3 + i + 2 * (i // 2)), cmap="magma", vmin=-3, vmax=3,
             unit="signal std", title=f"noise level {level}" if level else "patch, no noise",
             margins=(0.01, 0.02, 0.01, 0.06))

# %%
# Five models
# -----------
#
# The three networks share their convolution widths and training budget.
# They are told the geometry once: ``pixels=pixels[0]`` (with ``nside``) is
# the pixel set of one patch, and since all patches of one patch_nside have the same
# nested layout, its graph stands for all of them.
#
# * **DeepSphere FCN** ends in global statistics (the mean and variance of
#   each feature map over the patch), invariant to where features are;
# * **DeepSphere CNN** ends in a dense layer on the coarsest feature maps;
# * **2D CNN** lays each patch out as a ``16 × 16`` image and uses ordinary
#   2D convolutions;
# * **PowerSpectrumFeatures + SVC**: angular power spectrum of the patch,
#   its logarithm, standardised, RBF-kernel SVM;
# * **HistogramFeatures + SVC**: histogram of pixel values, standardised,
#   RBF-kernel SVM.
#
# The SVMs cannot train on fresh noise every batch; they get the training
# patches with 2 noise realisations each.

def log_spectrum(spectra):
    """log C_l: amplitudes multiply the spectrum, so they shift its logarithm."""
    return np.log(np.clip(spectra, 1e-30, None))


network = dict(nside=nside, pixels=pixels[0], channels=(16, 32, 32), cheb_order=3,
               max_epochs=8, lr=3e-3, batch_size=64, random_state=0)
models = {
    "DeepSphere FCN": SphericalCNNClassifier(architecture="fcn", statistics="mean_var",
                                             **network),
    "DeepSphere CNN": SphericalCNNClassifier(architecture="cnn", **network),
    "2D CNN": SphericalCNNClassifier(architecture="2dcnn", **network),
    "PowerSpectrum + SVC": make_pipeline(
        PowerSpectrumFeatures(nside=nside, pixels=pixels[0]),
        FunctionTransformer(log_spectrum), StandardScaler(), SVC()),
    "Histogram + SVC": make_pipeline(HistogramFeatures(bins=50), StandardScaler(), SVC()),
}
n_realisations = 2

# %%
# The experiment
# --------------
#
# Three folds, split by map and stratified by class, fixed once and used for
# every model and noise level.

folds = list(StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0)
             .split(X, y, groups))
records = []
for level in noise_levels:
    for fold, (train, test) in enumerate(folds):
        X_test = X[test] + level * noise[test]
        for name, model in models.items():
            model = clone(model)
            if isinstance(model, SphericalCNNClassifier):
                model.set_params(augment_noise=level).fit(X[train], y[train])
            else:
                draws = rng.standard_normal((n_realisations,) + X[train].shape)
                X_train = (X[train] + level * draws).reshape(-1, X.shape[1])
                model.fit(X_train, np.tile(y[train], n_realisations))
            records.append({"model": name, "noise": level, "fold": fold,
                            "accuracy": model.score(X_test, y[test])})
results = pd.DataFrame(records)

# %%
# Accuracy against noise
# ----------------------
#
# Mean test accuracy over the three folds (the bars span the folds' spread).

summary = results.groupby(["model", "noise"])["accuracy"].agg(["mean", "std"]).reset_index()
styles = {"DeepSphere FCN": ("C0", "o-"), "DeepSphere CNN": ("C1", "s-"),
          "2D CNN": ("C2", "^--"), "PowerSpectrum + SVC": ("C3", "v:"),
          "Histogram + SVC": ("C4", "d:")}
fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
for name, (colour, style) in styles.items():
    rows = summary[summary["model"] == name]
    ax.errorbar(rows["noise"], rows["mean"], yerr=rows["std"], fmt=style, color=colour,
                capsize=3, label=name)
ax.axhline(0.5, color="0.5", lw=1, ls=":")
ax.set(xlabel="noise level (std of the noise / std of the signal)",
       ylabel="test accuracy", ylim=(0.4, 1.02), xticks=noise_levels,
       title=f"Patches at patch_nside={patch_nside} (nside {nside}), 3-fold CV")
ax.legend(fontsize="small");

# %%
# The same numbers as a table (mean ± std over folds):

# sphinx_gallery_capture_repr_block = ('_repr_html_', '__repr__')
table = (summary.assign(accuracy=lambda d: [f"{m:.2f} ± {s:.2f}"
                                            for m, s in zip(d["mean"], d["std"])])
         .pivot(index="model", columns="noise", values="accuracy")
         .loc[list(styles)])
table.columns = [f"noise {level}" for level in table.columns]
table

# %%
# What the numbers say
# --------------------
#
# The comparisons that the paper made, computed from the table above. A
# gap smaller than the spread of the folds is reported as a tie.

mean = summary.pivot(index="model", columns="noise", values="mean")
spread = summary.pivot(index="model", columns="noise", values="std")


def compare(a, b, level):
    gap = mean.loc[a, level] - mean.loc[b, level]
    noise_of_gap = max(spread.loc[a, level], spread.loc[b, level])
    if abs(gap) <= noise_of_gap:
        return f"{a} ties with {b} ({gap:+.2f}, fold spread {noise_of_gap:.2f})"
    verb = "beats" if gap > 0 else "does not beat"
    return f"{a} {verb} {b} ({gap:+.2f}, fold spread {noise_of_gap:.2f})"


for level in noise_levels:
    ranking = mean[level].sort_values(ascending=False)
    print(f"noise {level}: best {ranking.index[0]} ({ranking.iloc[0]:.2f}), "
          f"worst {ranking.index[-1]} ({ranking.iloc[-1]:.2f})")
    for other in ["Histogram + SVC", "PowerSpectrum + SVC", "2D CNN", "DeepSphere CNN"]:
        print("   ", compare("DeepSphere FCN", other, level))
drop = {name: mean.loc[name, noise_levels[0]] - mean.loc[name, noise_levels[-1]]
        for name in mean.index}
print(f"accuracy lost from noise {noise_levels[0]} to {noise_levels[-1]}:",
      ", ".join(f"{name} {value:.2f}" for name, value in drop.items()))
print(f"paper (order 4, noise 2, nside 1024): FCN 86.9 %, CNN 83.6 %, 2D CNN 80.1 %, "
      f"histogram SVM 74.3 %, PSD SVM 63.7 %")

# %%
# Conclusion
# ----------
#
# The lines above state, for this run, which of the paper's comparisons
# hold at this tiny scale; the paper's own numbers are printed last for
# reference. By construction the power spectrum is nearly blind to what
# separates the classes; the pixel histogram sees the non-Gaussian tails,
# but white noise widens every histogram alike; the DeepSphere FCN can learn
# filters that average the noise away while keeping the smooth signal. With
# 16 maps the folds vary by several points, so read the gaps against the
# printed fold spreads; the paper's 30 maps at ``nside = 1024`` make them
# sharper. To rerun the experiment at scale, raise ``nside``, ``n_maps``
# and ``max_epochs``, and pass ``device="cuda"`` if you have a GPU.

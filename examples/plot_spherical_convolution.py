"""
Spherical convolution on the HEALPix graph
==========================================

A convolutional network needs a convolution. On a flat image it slides a
small kernel over a grid; the sphere has no grid that a kernel could slide
on without distortion. DeepSphere instead connects every HEALPix pixel to its
neighbours and filters maps with polynomials of the graph Laplacian. This
example opens that convolution up: it builds the graph, designs one
Chebyshev filter by hand, and applies it to a Dirac (to see the kernel) and
to a random map (to see what it does to a sky), with the same
:class:`skdeepsphere.nn.ChebConv` module that the estimators train.
"""

# %%
# The graph
# ---------
#
# The vertices are the ``12 nside²`` pixels; each is joined to its 8
# neighbours (7 for the few pixels at the corners of the base pixels) with a
# Gaussian weight on the distance between pixel centres
# (:func:`skdeepsphere.graph.healpix_weights`). All matrices of the package
# follow the NESTED ordering. Here is the graph at ``nside = 4`` (192
# vertices), drawn on the sphere.

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from numpy.polynomial import chebyshev

from skdeepsphere.graph import (
    estimate_max_eigenvalue,
    healpix_weights,
    normalized_laplacian,
    rescale_laplacian,
)
from skdeepsphere.nn import ChebConv

small = healpix_weights(4).tocoo()
xyz = np.stack(hp.pix2vec(4, np.arange(hp.nside2npix(4)), nest=True), axis=1)
n_neighbors = np.bincount(small.row)
print(f"{small.shape[0]} vertices, {small.nnz // 2} edges, "
      f"neighbours per pixel: {np.bincount(n_neighbors)[7:]} (7, 8)")


def orthographic(vectors, lon=30.0, lat=20.0):
    """Project unit vectors on the plane seen from (lon, lat); flag the front."""
    lon, lat = np.radians(lon), np.radians(lat)
    view = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.cross(view, east)
    return vectors @ east, vectors @ north, vectors @ view > 0


u, v, front = orthographic(xyz)
edges = [(i, j) for i, j in zip(small.row, small.col) if i < j and front[i] and front[j]]
segments = [[(u[i], v[i]), (u[j], v[j])] for i, j in edges]
weights = np.array([small.tocsr()[i, j] for i, j in edges])

fig, ax = plt.subplots(figsize=(5.5, 5))
lines = LineCollection(segments, array=weights, cmap="viridis", linewidths=1.5)
ax.add_collection(lines)
ax.scatter(u[front], v[front], s=14, c="k", zorder=3)
ax.add_patch(plt.Circle((0, 0), 1, fill=False, color="0.6"))
fig.colorbar(lines, ax=ax, shrink=0.7, label="edge weight $W_{ij}$")
ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), aspect="equal",
       title="HEALPix graph, nside = 4 (front half)")
ax.set_axis_off()

# %%
# Each pixel has four side neighbours (strong edges) and four diagonal ones,
# further away (weak edges). Since the HEALPix pixels have equal areas and
# almost the same shape, every vertex sees nearly the same neighbourhood;
# that regularity is what makes a graph filter behave the same everywhere on
# the sphere.
#
# A filter designed in the spectral domain
# ----------------------------------------
#
# A graph filter multiplies each eigenvector of the normalised Laplacian
# :math:`L` by a response :math:`g(\lambda)`. We ask for a low-pass,
# heat-kernel response :math:`g(\lambda) = e^{-\tau\lambda}` and approximate
# it by a Chebyshev polynomial of degree :math:`K - 1` in the rescaled
# Laplacian :math:`\tilde L = 2L/\lambda_{max} - I`. The :math:`K`
# coefficients are exactly the weights of a :class:`~skdeepsphere.nn.ChebConv`
# with one input and one output channel: in a network they are learned, here
# we set them. We work at ``nside = 16`` (3072 pixels).

nside = 16
npix = hp.nside2npix(nside)
laplacian = normalized_laplacian(healpix_weights(nside))
max_eigenvalue = estimate_max_eigenvalue(laplacian)
rescaled = rescale_laplacian(laplacian, max_eigenvalue)
tau = 5.0


def response(eigenvalue):
    return np.exp(-tau * eigenvalue)


def heat_filter(cheb_order):
    """A ChebConv whose polynomial interpolates ``response`` on the spectrum."""
    coefficients = chebyshev.chebinterpolate(
        lambda x: response((x + 1) * max_eigenvalue / 2), cheb_order - 1)
    conv = ChebConv(1, 1, rescaled, cheb_order=cheb_order, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(coefficients, dtype=torch.float32).view(-1, 1, 1))
    return conv, coefficients


def apply(conv, nested_map):
    with torch.no_grad():
        signal = torch.as_tensor(nested_map, dtype=torch.float32)[None, None]
        return conv(signal)[0, 0].numpy()


eigenvalues = np.linspace(0, max_eigenvalue, 300)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(eigenvalues, response(eigenvalues), "k", lw=3, alpha=0.3, label="target")
orders = [3, 5, 10]
for cheb_order in orders:
    _, coefficients = heat_filter(cheb_order)
    approx = chebyshev.chebval(2 * eigenvalues / max_eigenvalue - 1, coefficients)
    ax.plot(eigenvalues, approx, label=f"K = {cheb_order}")
ax.set(xlabel=r"eigenvalue $\lambda$ of $L$", ylabel=r"$g(\lambda)$",
       title=r"Chebyshev approximations of $e^{-5\lambda}$")
ax.legend()

# %%
# Three coefficients already give the right shape; ten are indistinguishable
# from the target.
#
# The filter applied to a Dirac
# -----------------------------
#
# Filtering a map that is zero except at one pixel reveals the filter's
# kernel. A polynomial of degree :math:`K - 1` in :math:`\tilde L` only
# reaches pixels :math:`K - 1` hops away, so the kernel has compact support:
# :math:`(2K - 1)^2` pixels on the regular HEALPix grid. We put one Dirac on
# the equator and one near the north pole, where the pixels are arranged
# differently, and filter both with the same ``K = 5`` filter.

conv5, _ = heat_filter(5)
positions = {"equator": (0.0, 0.0), "north": (45.0, 70.0)}
dirac = np.zeros(npix)
centres = {}
for name, (lon, lat) in positions.items():
    centres[name] = hp.ang2pix(nside, lon, lat, nest=True, lonlat=True)
    dirac[centres[name]] = 1.0
kernel = apply(conv5, dirac)
print(f"non-zero pixels around both Diracs: {np.count_nonzero(np.abs(kernel) > 1e-8)} "
      f"(2 x {(2 * 5 - 1) ** 2} expected on a regular grid)")

fig = plt.figure(figsize=(11, 4.2))
hp.mollview(kernel, nest=True, fig=fig.number, sub=(1, 3, 1), cmap="RdBu_r",
            min=-kernel.max(), max=kernel.max(), title="K = 5 kernel, two Diracs",
            cbar=False)
for i, (name, (lon, lat)) in enumerate(positions.items()):
    hp.gnomview(kernel, nest=True, rot=(lon, lat), reso=15, xsize=200,
                fig=fig.number, sub=(1, 3, i + 2), cmap="RdBu_r",
                min=-kernel.max(), max=kernel.max(), cbar=False,
                title=f"zoom: {name} (lon {lon:.0f}, lat {lat:.0f})", notext=True,
                margins=(0.01, 0.0, 0.01, 0.08))

# %%
# The two kernels look alike although the pixels around the pole are laid
# out differently: the filter depends on the graph only through its
# Laplacian, and the HEALPix graph is nearly the same everywhere. Measured as
# a function of the angular distance to the Dirac, the two profiles
# overlap. ``K = 3`` cuts the kernel off two pixels (about 8 degrees) away;
# from ``K = 5`` on the profile is that of the target heat kernel.

fig, ax = plt.subplots(figsize=(6, 3.5))
pixel_vectors = np.stack(hp.pix2vec(nside, np.arange(npix), nest=True), axis=1)
for cheb_order, colour in zip(orders, ["C0", "C1", "C2"]):
    conv, _ = heat_filter(cheb_order)
    for name, marker in zip(positions, ["o", "x"]):
        single = np.zeros(npix)
        single[centres[name]] = 1.0
        filtered = apply(conv, single)
        distance = np.degrees(np.arccos(np.clip(pixel_vectors @ pixel_vectors[centres[name]], -1, 1)))
        near = distance < 40
        ax.plot(distance[near], filtered[near], marker, color=colour, ms=4, alpha=0.6,
                label=f"K = {cheb_order}, {name}")
ax.set(xlabel="angular distance to the Dirac [deg]", ylabel="filtered value",
       title="Kernel profiles: same filter, two places")
ax.legend(ncol=3, fontsize="small")

# %%
# The filter applied to a random map
# ----------------------------------
#
# Now a sky: a Gaussian random field whose power spectrum falls as
# :math:`C_\ell \propto (\ell + 10)^{-2}`, drawn with :func:`healpy.synfast`
# (which returns RING maps; the graph wants NESTED, so we reorder). The
# low-pass filter removes the small scales and keeps the large ones.

ell = np.arange(3 * nside)
cl = 1.0 / (ell + 10.0) ** 2
np.random.seed(1)
sky_ring = hp.synfast(cl, nside)
sky = hp.reorder(sky_ring, r2n=True)
smoothed = apply(heat_filter(10)[0], sky)

fig = plt.figure(figsize=(10, 3.4))
hp.mollview(sky, nest=True, fig=fig.number, sub=(1, 2, 1), title="random map",
            cmap="coolwarm", cbar=False)
hp.mollview(smoothed, nest=True, fig=fig.number, sub=(1, 2, 2),
            title="after the K = 10 heat filter", cmap="coolwarm", cbar=False)

# %%
# Because the filter is isotropic, its effect in the harmonic domain should
# depend on the degree :math:`\ell` only: the ratio of the output to the
# input power spectrum is the squared response :math:`g^2` seen through the
# graph's spectrum. Averaged over many maps it decays smoothly with
# :math:`\ell`, the signature of a rotation-equivariant low-pass filter
# (:ref:`sphx_glr_auto_examples_plot_laplacian_spectrum.py` shows how graph
# eigenvalues map onto :math:`\ell`).

conv10 = heat_filter(10)[0]
ratios = []
for seed in range(20):
    np.random.seed(100 + seed)
    ring_map = hp.synfast(cl, nside)
    out = apply(conv10, hp.reorder(ring_map, r2n=True))
    ratios.append(hp.anafast(hp.reorder(out, n2r=True)) / hp.anafast(ring_map))
ratios = np.array(ratios)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.fill_between(ell, *np.percentile(ratios, [10, 90], axis=0), alpha=0.3,
                label="10-90% over 20 maps")
ax.semilogy(ell, np.median(ratios, axis=0), label="median")
ax.set(xlabel=r"degree $\ell$", ylabel=r"$C_\ell^{out} / C_\ell^{in}$",
       title="The graph filter acts degree by degree")
ax.legend()

# %%
# Conclusion
# ----------
#
# A DeepSphere convolution is a polynomial of the graph Laplacian: ``K``
# numbers per pair of channels, a kernel exactly ``K - 1`` pixels wide, a
# cost of ``K`` sparse products, and, because it only sees the graph through
# its Laplacian, nearly the same response at the pole and at the equator. A
# network stacks many such filters and learns their coefficients; the
# estimators of the :doc:`API </api>` do exactly that.

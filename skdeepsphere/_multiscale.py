r"""Smoothed maps and their morphology: the math behind the multi-scale
transformers of :mod:`skdeepsphere.features`.

Everything here works on full-sky maps in the RING ordering (what healpy's
spherical-harmonic transforms want) and is plain numpy and healpy; the
transformers place partial-sky maps in a full sky and validate inputs.

Masked pixels
    A map with unobserved (or masked) pixels is filled with the mean of its
    observed pixels before it is smoothed. At each scale a pixel is *kept*
    (counted in the statistics) if it is observed and at most
    ``mask_tolerance`` of its beam's weight falls on unobserved pixels: the
    unobserved-pixel indicator is smoothed with the same beam and compared
    with ``mask_tolerance``. Next to a straight border a Gaussian beam puts
    1 % of its weight beyond the border at about one FWHM from it, so the
    default 0.01 drops a band of about one FWHM.

Covariant derivatives
    For a field :math:`u = \sum a_{\ell m} Y_{\ell m}` smoothed by the beam
    :math:`b_\ell`, :func:`healpy.alm2map_der1` gives :math:`u`,
    :math:`\partial_\theta u` and :math:`\partial_\phi u / \sin\theta`, the
    gradient in the orthonormal frame :math:`(e_\theta, e_\phi)`. The
    covariant Hessian :math:`H` in that frame follows from its trace, the
    Laplacian :math:`-\ell(\ell+1) a_{\ell m}`, and its traceless part, the
    spin-2 field :math:`\eth^2 u = H_{\theta\theta} - H_{\phi\phi} + 2 i
    H_{\theta\phi}` with coefficients :math:`\sqrt{(\ell-1)\ell(\ell+1)
    (\ell+2)}\, a_{\ell m}` (in healpy's convention, an E mode of
    :math:`-\sqrt{\cdots}\, a_{\ell m}` synthesised by
    :func:`healpy.alm2map_spin` gives :math:`Q = H_{\theta\theta} -
    H_{\phi\phi}`, :math:`U = 2 H_{\theta\phi}`). All are exact for
    band-limited fields, without finite differences.
"""

import functools

import healpy as hp
import numpy as np

ARCMIN = np.pi / (180 * 60)


def beam_windows(fwhm, lmax):
    """Gaussian beam window of each FWHM (arcminutes); ``None`` for 0."""
    return [
        hp.gauss_beam(f * ARCMIN, lmax=lmax) if f > 0 else None for f in fwhm
    ]


def smooth(full_sky, windows, lmax, iter):
    """The map smoothed by each beam window (``None``: the map itself).

    Equal to :func:`healpy.smoothing` (``pol=False``) with the same ``iter``
    and ``lmax``, but the map is analysed once for all beams.
    """
    alm = None
    if any(w is not None for w in windows):
        alm = hp.map2alm(full_sky, lmax=lmax, iter=iter, pol=False)
    nside = hp.npix2nside(full_sky.size)
    return [
        full_sky if w is None else hp.alm2map(hp.almxfl(alm, w), nside, lmax=lmax)
        for w in windows
    ]


def kept_pixels(observed, windows, lmax, iter, mask_tolerance):
    """Pixels counted at each scale: observed, and far enough from the mask.

    Returns a boolean array of shape (n_scales, npix); see the module
    docstring for the rule.
    """
    if observed.all():
        return np.ones((len(windows), observed.size), dtype=bool)
    unobserved = (~observed).astype(np.float64)
    masked_weight = smooth(unobserved, windows, lmax, iter)
    return np.stack(
        [
            observed if w is None else observed & (weight <= mask_tolerance)
            for w, weight in zip(windows, masked_weight)
        ]
    )


@functools.lru_cache(maxsize=4)
def ring_neighbours(nside):
    """The 8 neighbours of each RING pixel, shape (8, npix); -1 for none.

    Cached: 8 x 12 nside**2 int32 (25 MB at nside 256), computed once per
    process and resolution.
    """
    npix = hp.nside2npix(nside)
    return hp.get_all_neighbours(nside, np.arange(npix)).astype(np.int32)


def peak_heights(values, observed, kept, neighbours):
    """Heights of the local maxima of a full-sky map.

    A pixel is a peak if it is strictly higher than each of its HEALPix
    neighbours (7 or 8). A peak is counted if the pixel is ``kept`` and all
    its neighbours are ``observed``: a peak next to the mask, whose
    neighbourhood is partly unknown, is left out.
    """
    exists = neighbours >= 0
    index = np.where(exists, neighbours, np.arange(values.size))
    higher = (values > values[index]) | ~exists
    complete = (observed[index] | ~exists).all(axis=0)
    peaks = higher.all(axis=0) & complete & kept
    return values[peaks]


def field_derivatives(alm, nside, lmax, window):
    """The smoothed field, its gradient and covariant Hessian on the pixels.

    Returns ``u, u_theta, u_phi, h_tt, h_pp, h_tp``: values, gradient in
    the orthonormal frame and Hessian in that frame (module docstring).
    """
    ell = np.arange(lmax + 1, dtype=np.float64)
    if window is not None:
        alm = hp.almxfl(alm, window)
    u, u_theta, u_phi = hp.alm2map_der1(alm, nside, lmax=lmax)
    laplacian = hp.alm2map(hp.almxfl(alm, -ell * (ell + 1)), nside, lmax=lmax)
    spin2 = np.sqrt(np.clip((ell - 1) * ell * (ell + 1) * (ell + 2), 0, None))
    e_mode = hp.almxfl(alm, -spin2)
    q, u_spin = hp.alm2map_spin([e_mode, np.zeros_like(e_mode)], nside, 2, lmax)
    h_tt = (laplacian + q) / 2
    h_pp = (laplacian - q) / 2
    h_tp = u_spin / 2
    return u, u_theta, u_phi, h_tt, h_pp, h_tp


def minkowski_functionals(derivatives, kept, edges):
    r"""Minkowski functionals of the excursion sets at the bin centres.

    ``derivatives`` are those of :func:`field_derivatives`, already in the
    units of ``edges``. With :math:`\nu` the centre of a bin of width
    :math:`\Delta\nu` and :math:`\delta_{\Delta\nu}` the bin's indicator
    divided by :math:`\Delta\nu`, averages over the kept pixels (equal
    areas) estimate

    .. math::

        V_0 = \langle \Theta(u - \nu) \rangle, \quad
        V_1 = \tfrac14 \langle \delta_{\Delta\nu}(u - \nu)\,|\nabla u| \rangle,
        \quad
        V_2 = \tfrac{1}{2\pi} \Big\langle \delta_{\Delta\nu}(u - \nu)\,
        \frac{2 u_\theta u_\phi H_{\theta\phi} - u_\theta^2 H_{\phi\phi}
        - u_\phi^2 H_{\theta\theta}}{u_\theta^2 + u_\phi^2} \Big\rangle.

    Returns an array of shape (3, n_bins): V0, V1, V2.
    """
    u, u_t, u_p, h_tt, h_pp, h_tp = (d[kept] for d in derivatives)
    n_bins = len(edges) - 1
    centres = (edges[:-1] + edges[1:]) / 2
    widths = np.diff(edges)
    v0 = (u[:, None] > centres).mean(axis=0)
    gradient2 = u_t**2 + u_p**2
    curvature = np.divide(
        2 * u_t * u_p * h_tp - u_t**2 * h_pp - u_p**2 * h_tt,
        gradient2,
        out=np.zeros_like(u),
        where=gradient2 > 0,
    )
    index = np.searchsorted(edges, u, side="right") - 1
    inside = (index >= 0) & (index < n_bins)
    v1 = np.bincount(index[inside], np.sqrt(gradient2[inside]), minlength=n_bins)
    v2 = np.bincount(index[inside], curvature[inside], minlength=n_bins)
    n_kept = max(u.size, 1)
    v1 = v1 / (4 * widths * n_kept)
    v2 = v2 / (2 * np.pi * widths * n_kept)
    return np.stack([v0, v1, v2])

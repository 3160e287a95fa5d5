"""Scores of dense (per-pixel) predictions: segmentation and map regression.

scikit-learn's scores read a 2-D ``y`` as many outputs of one sample:
``accuracy_score`` would count a map as right only if every pixel is, and
``r2_score`` would average one R² per pixel across maps. For maps the
meaningful scores pool the pixels:

- :func:`mean_iou`: mean over classes of the intersection over union
  (Jaccard index) of the predicted and true pixel sets;
- :func:`masked_r2_score`: coefficient of determination over all pixel
  values;
- :func:`cross_correlation_spectrum`: how well an estimated map follows the
  truth at each multipole, :math:`r_\\ell = C_\\ell^{xy} /
  \\sqrt{C_\\ell^{xx} C_\\ell^{yy}}`;
- :func:`detection_rates`: completeness and purity of point-source
  detections per flux bin.

Masked pixels are left out: label ``-1`` (``IGNORED_LABEL``) in label
maps, NaN or ``healpy.UNSEEN`` in value maps.
"""

import healpy as hp
import numpy as np

from .healpix import _healpy_threads

__all__ = ["IGNORED_LABEL", "mean_iou", "masked_r2_score", "cross_correlation_spectrum",
           "detection_rates",
           "observed_mask"]

#: Label of masked pixels in per-pixel class labels.
IGNORED_LABEL = -1


def observed_mask(y):
    """Boolean mask of the pixels that carry a target.

    Parameters
    ----------
    y : ndarray
        Per-pixel labels or values.

    Returns
    -------
    mask : ndarray of bool, same shape as ``y``
        False where ``y`` is ``IGNORED_LABEL`` (-1), NaN or ``healpy.UNSEEN``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.metrics import observed_mask
    >>> observed_mask(np.array([0, -1, 2]))
    array([ True, False,  True])
    """
    y = np.asarray(y)
    if y.dtype.kind in "fc":
        return np.isfinite(y) & (y != IGNORED_LABEL) & ~np.isclose(y, hp.UNSEEN)
    if y.dtype.kind in "iu":
        return y != IGNORED_LABEL
    # Strings or objects: only -1 itself (a number among labels) is masked.
    return np.array([not (isinstance(v, (int, float, np.number)) and v == IGNORED_LABEL)
                     for v in y.ravel()], dtype=bool).reshape(y.shape)


def mean_iou(y_true, y_pred, *, labels=None):
    """Mean intersection over union of per-pixel labels (the Jaccard index).

    For each class :math:`c`, :math:`\\mathrm{IoU}_c = |T_c \\cap P_c| /
    |T_c \\cup P_c|` where :math:`T_c` and :math:`P_c` are the true and
    predicted pixels of class :math:`c`, counted over all maps together
    (pixels labelled ``-1`` in ``y_true`` are left out). The score is the
    mean over classes whose union is not empty. Unlike pixel accuracy it is
    not fooled by a rare class: predicting "background" everywhere scores
    about 0.5 with two classes, not 0.99.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_pixels)
        True labels; ``-1`` marks masked pixels.
    y_pred : array-like of the same shape
        Predicted labels.
    labels : array-like, default=None
        Classes to average over; ``None``: those present in ``y_true`` or
        ``y_pred`` (masked pixels left out).

    Returns
    -------
    score : float
        In [0, 1]; 1 means a perfect segmentation.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.metrics import mean_iou
    >>> truth = np.array([[0, 0, 1, 1, -1]])
    >>> float(mean_iou(truth, np.array([[0, 1, 1, 1, 0]])))  # (1/2 + 2/3) / 2
    0.5833333333333333
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}"
        )
    observed = observed_mask(y_true)
    y_true, y_pred = y_true[observed], y_pred[observed]
    if labels is None:
        labels = np.union1d(y_true, y_pred)
    scores = []
    for label in labels:
        true, pred = y_true == label, y_pred == label
        union = np.count_nonzero(true | pred)
        if union:
            scores.append(np.count_nonzero(true & pred) / union)
    return float(np.mean(scores)) if scores else 1.0


def masked_r2_score(y_true, y_pred):
    """Coefficient of determination over all observed pixel values.

    :math:`R^2 = 1 - \\sum (y - \\hat y)^2 / \\sum (y - \\bar y_c)^2`, the sums
    running over all maps and pixels where ``y_true`` is finite and not
    ``healpy.UNSEEN``, and :math:`\\bar y_c` the mean of output channel
    :math:`c` over them.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
    y_pred : array-like of the same shape

    Returns
    -------
    score : float
        1 for a perfect prediction, 0 for predicting the mean map value.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.metrics import masked_r2_score
    >>> truth = np.array([[1.0, 2.0, np.nan, 3.0]])
    >>> float(masked_r2_score(truth, np.array([[1.0, 2.0, 5.0, 2.0]])))
    0.5
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}"
        )
    if y_true.ndim == 2:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    observed = observed_mask(y_true)
    residual = total = 0.0
    for channel in range(y_true.shape[1]):
        mask = observed[:, channel]
        truth = y_true[:, channel][mask]
        residual += np.sum((truth - y_pred[:, channel][mask]) ** 2)
        total += np.sum((truth - truth.mean()) ** 2) if truth.size else 0.0
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return float(1 - residual / total)


def cross_correlation_spectrum(truth, estimate, *, lmax=None, nest=False):
    """Correlation coefficient per multipole of full-sky maps.

    :math:`r_\\ell = C_\\ell^{te} / \\sqrt{C_\\ell^{tt} C_\\ell^{ee}}` with the
    spectra summed over the maps, computed with :func:`healpy.anafast`. 1 at
    every ℓ means the estimate is the truth up to a filter.

    Parameters
    ----------
    truth, estimate : array-like of shape (n_samples, n_pixels)
        Full-sky maps.
    lmax : int, default=None
        Largest multipole; ``None``: ``3 nside - 1``.
    nest : bool, default=False
        Ordering of the maps.

    Returns
    -------
    r_ell : ndarray of shape (lmax + 1,)
        NaN where a spectrum is zero (the monopole of zero-mean maps).

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.metrics import cross_correlation_spectrum
    >>> maps = np.random.default_rng(0).normal(size=(2, 768))
    >>> np.allclose(cross_correlation_spectrum(maps, 3 * maps)[1:], 1)
    True
    """
    truth = np.atleast_2d(np.asarray(truth, dtype=np.float64))
    estimate = np.atleast_2d(np.asarray(estimate, dtype=np.float64))
    if truth.shape != estimate.shape:
        raise ValueError(
            f"truth and estimate must have the same shape, got {truth.shape} and {estimate.shape}"
        )
    nside = hp.npix2nside(truth.shape[-1])
    lmax = 3 * nside - 1 if lmax is None else int(lmax)
    sums = np.zeros((3, lmax + 1))
    with _healpy_threads(nside):
        for t, e in zip(truth, estimate):
            if nest:
                t, e = hp.reorder(t, n2r=True), hp.reorder(e, n2r=True)
            alm_t, alm_e = hp.map2alm(t, lmax=lmax), hp.map2alm(e, lmax=lmax)
            sums += (hp.alm2cl(alm_t), hp.alm2cl(alm_e), hp.alm2cl(alm_t, alm_e))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[2] / np.sqrt(sums[0] * sums[1])



def _components(mask, neighbours):
    """Connected components of the True pixels of ``mask`` on the pixel graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pixels = np.flatnonzero(mask)
    position = np.full(mask.size, -1)
    position[pixels] = np.arange(pixels.size)
    rows, cols = [], []
    for k in range(neighbours.shape[0]):
        other = neighbours[k, pixels]
        keep = (other >= 0) & (position[np.maximum(other, 0)] >= 0)
        rows.append(position[pixels[keep]])
        cols.append(position[other[keep]])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(pixels.size,) * 2)
    _, component = connected_components(graph, directed=False)
    return pixels, component


def detection_rates(y_true, y_pred, sources, *, bins, nest=False, flux_maps=None):
    """Completeness and purity of point-source detections, per flux bin.

    A source counts as found when ``y_pred`` marks its centre pixel or one
    of its 8 neighbours. A detection is a connected group of marked pixels
    (8-neighbour adjacency); it is true when it touches a pixel labelled as
    source in ``y_true``. Completeness is binned by the true amplitude of
    the sources, purity by the detections' peak value in ``flux_maps``
    (e.g. the observed maps), or over all detections without it.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_pixels)
        Full-sky label maps: 1 (or True) for source pixels.
    sources : dict of ndarray
        ``"sample"``, ``"pixel"`` and ``"amplitude"`` of every source, as
        returned by :func:`skdeepsphere.datasets.make_point_source_maps`.
    bins : array-like of float
        Edges of the amplitude (flux) bins.
    nest : bool, default=False
        Ordering of the maps and of ``sources["pixel"]``.
    flux_maps : array-like of shape (n_samples, n_pixels), default=None
        Maps whose peak over a detection is its flux for the purity bins.

    Returns
    -------
    rates : dict
        ``"completeness"`` and ``"n_sources"`` per bin; ``"purity"`` and
        ``"n_detections"`` per bin (one value each without ``flux_maps``);
        NaN for empty bins.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.metrics import detection_rates
    >>> truth = np.zeros((1, 768), int); truth[0, [100, 400]] = 1
    >>> sources = {"sample": np.array([0, 0]), "pixel": np.array([100, 400]),
    ...            "amplitude": np.array([10.0, 100.0])}
    >>> rates = detection_rates(truth, truth * np.array([[1]]) * (np.arange(768) > 200),
    ...                         sources, bins=[0, 50, 200])
    >>> rates["completeness"].tolist(), rates["purity"].tolist()
    ([0.0, 1.0], [1.0])
    """
    y_true, y_pred = np.asarray(y_true) == 1, np.asarray(y_pred) == 1
    n_samples, npix = y_true.shape
    nside = hp.npix2nside(npix)
    all_pixels = np.arange(npix)
    neighbours = np.asarray(hp.get_all_neighbours(nside, all_pixels, nest=nest))
    bins = np.asarray(bins, dtype=float)
    sample, pixel = np.asarray(sources["sample"]), np.asarray(sources["pixel"])
    amplitude = np.asarray(sources["amplitude"], dtype=float)
    around = np.vstack([pixel, neighbours[:, pixel]])  # (9, n_sources)
    found = (y_pred[sample[None, :], np.maximum(around, 0)] & (around >= 0)).any(axis=0)
    which = np.digitize(amplitude, bins) - 1
    n_bins = len(bins) - 1
    n_sources = np.bincount(which[(which >= 0) & (which < n_bins)], minlength=n_bins)
    n_found = np.bincount(which[(which >= 0) & (which < n_bins) & found], minlength=n_bins)
    true_detections, detection_flux = [], []
    for i in range(n_samples):
        pixels, component = _components(y_pred[i], neighbours)
        if pixels.size == 0:
            continue
        n_components = component.max() + 1
        true_detections.append(np.bincount(component, weights=y_true[i, pixels],
                                           minlength=n_components) > 0)
        if flux_maps is not None:
            peak = np.full(n_components, -np.inf)
            np.maximum.at(peak, component, np.asarray(flux_maps)[i, pixels])
            detection_flux.append(peak)
    true_detections = np.concatenate(true_detections) if true_detections else np.zeros(0, bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = {"completeness": n_found / n_sources, "n_sources": n_sources}
        if flux_maps is None:
            rates["n_detections"] = np.array([true_detections.size])
            rates["purity"] = np.array([true_detections.mean() if true_detections.size
                                        else np.nan])
        else:
            flux_bin = np.digitize(np.concatenate(detection_flux), bins) - 1
            inside = (flux_bin >= 0) & (flux_bin < n_bins)
            counts = np.bincount(flux_bin[inside], minlength=n_bins)
            good = np.bincount(flux_bin[inside & true_detections], minlength=n_bins)
            rates["n_detections"], rates["purity"] = counts, good / counts
    return rates

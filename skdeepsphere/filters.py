"""Classical per-pixel baselines: matched-filter detection and Wiener filtering.

Linear filters in harmonic space, :math:`a_{\\ell m} \\to w_\\ell
a_{\\ell m}` (:func:`healpy.map2alm`, :func:`healpy.almxfl`,
:func:`healpy.alm2map`), learned from training pairs like the spherical
U-Net (:class:`~skdeepsphere.SphericalCNNClassifier` and
:class:`~skdeepsphere.SphericalCNNRegressor` with ``architecture="unet"``)
and scored the same way, so that both can be compared and searched with
scikit-learn's tools.

- :class:`MatchedFilterSegmenter`: point sources as the pixels where the
  matched-filtered map exceeds a threshold chosen in ``fit``;
- :class:`WienerFilter`: the minimum-variance linear denoiser from the
  signal and noise spectra estimated in ``fit``.

Full-sky maps only (spherical harmonics need the whole sphere).
"""

from numbers import Integral, Real

import healpy as hp
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._dense_targets import dense_labels, dense_values
from .healpix import _healpy_threads
from .healpix import check_maps, npix_to_nside
from .metrics import masked_r2_score, mean_iou

__all__ = ["MatchedFilterSegmenter", "WienerFilter"]


def _full_sky_maps(estimator, X, *, fitted):
    """Validated single-channel full-sky maps as float64 (n_samples, npix)."""
    maps = check_maps(X)
    if maps.shape[1] != 1:
        raise ValueError(
            f"{type(estimator).__name__} filters single-channel maps, got "
            f"{maps.shape[1]} channels"
        )
    maps = maps[:, 0]
    nside = npix_to_nside(maps.shape[1])
    if fitted and nside != estimator.nside_:
        raise ValueError(
            f"X has {maps.shape[1]} pixels per map, but {type(estimator).__name__} "
            f"was fitted on maps of {hp.nside2npix(estimator.nside_)} pixels"
        )
    return maps, nside


def _filter_maps(maps, window, nest):
    """Apply the harmonic window ``w_ell`` to every map."""
    nside = hp.npix2nside(maps.shape[1])
    lmax = len(window) - 1
    out = np.empty_like(maps)
    with _healpy_threads(nside):
        for i, row in enumerate(maps):
            if nest:
                row = hp.reorder(row, n2r=True)
            alm = hp.almxfl(hp.map2alm(row, lmax=lmax), window)
            filtered = hp.alm2map(alm, nside, lmax=lmax)
            out[i] = hp.reorder(filtered, r2n=True) if nest else filtered
    return out


def _mean_spectrum(maps, lmax, nest):
    total = np.zeros(lmax + 1)
    with _healpy_threads(hp.npix2nside(maps.shape[1])):
        for row in maps:
            total += hp.anafast(hp.reorder(row, n2r=True) if nest else row, lmax=lmax)
    return total / len(maps)


def _best_threshold(significance, codes, n_thresholds):
    """Threshold maximising the two-class mean IoU, and that IoU.

    Counts of sources and background above each candidate come from two
    histograms, instead of one pass over the maps per candidate.
    """
    observed = codes >= 0
    values, truth = significance[observed], codes[observed] == 1
    candidates = np.linspace(0, values.max(), n_thresholds)
    edges = np.append(candidates, np.inf)
    # above[k]: pixels with a value > candidates[k] (ties have probability 0).
    sources_above = np.cumsum(np.histogram(values[truth], edges)[0][::-1])[::-1]
    background_above = np.cumsum(np.histogram(values[~truth], edges)[0][::-1])[::-1]
    n_sources, n_background = truth.sum(), (~truth).sum()
    missed = n_sources - sources_above
    iou_sources = sources_above / np.maximum(n_sources + background_above, 1)
    iou_background = (n_background - background_above) / np.maximum(
        n_background + missed, 1)
    scores = (iou_sources + iou_background) / 2
    best = int(np.argmax(scores))
    return float(candidates[best]), float(scores[best])


class MatchedFilterSegmenter(ClassifierMixin, BaseEstimator):
    """Point-source segmentation by matched filtering and a threshold.

    Each map is filtered in harmonic space and standardised (divided by its
    standard deviation), and the pixels above ``threshold_`` are labelled
    as sources. With ``filter="matched"`` the window is the matched filter
    of a beam-shaped source in a Gaussian background,
    :math:`\\psi_\\ell \\propto b_\\ell / C_\\ell`, with :math:`C_\\ell` the
    mean power spectrum of the training maps (CMB, sources and noise);
    ``filter="beam"`` smooths with the beam only, :math:`\\psi_\\ell = b_\\ell`.
    ``fit`` picks the threshold that maximises the mean intersection over
    union (:func:`skdeepsphere.metrics.mean_iou`) of the training labels.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum of the Gaussian beam, in arcminutes.
    filter : {"matched", "beam"}, default="matched"
    thresholds : int, default=64
        Number of candidate thresholds (evenly spaced in units of the
        filtered map's standard deviation, from 0 to its largest value).
    nest : bool, default=False
        Ordering of the maps: NESTED if True, else RING.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels of the training data (background first).
    nside_ : int
    window_ : ndarray of shape (3 * `nside_`,)
        The harmonic window :math:`\\psi_\\ell`.
    threshold_ : float
        Chosen threshold, in standard deviations of the filtered map.
    train_score_ : float
        Mean IoU on the training maps at ``threshold_``.

    See Also
    --------
    skdeepsphere.datasets.make_point_source_maps : Maps and labels.
    skdeepsphere.SphericalCNNClassifier : ``architecture="unet"`` learns
        the segmentation.

    Examples
    --------
    >>> from skdeepsphere.datasets import make_point_source_maps
    >>> from skdeepsphere.filters import MatchedFilterSegmenter
    >>> X, y = make_point_source_maps(4, nside=16, random_state=0)
    >>> segmenter = MatchedFilterSegmenter(fwhm=540.0).fit(X, y)
    >>> segmenter.predict(X).shape
    (4, 3072)
    """

    _parameter_constraints = {
        "fwhm": [Interval(Real, 0, None, closed="neither")],
        "filter": [StrOptions({"matched", "beam"})],
        "thresholds": [Interval(Integral, 2, None, closed="left")],
        "nest": ["boolean"],
    }

    def __init__(self, fwhm, *, filter="matched", thresholds=64, nest=False):
        self.fwhm = fwhm
        self.filter = filter
        self.thresholds = thresholds
        self.nest = nest

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Estimate the filter and choose the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
            Full-sky maps.
        y : array-like of shape (n_samples, n_pixels)
            Two labels per pixel (background, source); ``-1`` masks a pixel.

        Returns
        -------
        self : MatchedFilterSegmenter
        """
        maps, self.nside_ = _full_sky_maps(self, X, fitted=False)
        self.n_features_in_ = maps.shape[1]
        y = np.asarray(y)
        self.classes_, codes, _ = dense_labels(y, len(maps), maps.shape[1])
        if len(self.classes_) != 2:
            raise ValueError(
                f"MatchedFilterSegmenter separates 2 classes (background, source), "
                f"got {len(self.classes_)}: {self.classes_.tolist()}"
            )
        lmax = 3 * self.nside_ - 1
        beam = hp.gauss_beam(np.radians(self.fwhm / 60), lmax=lmax)
        if self.filter == "matched":
            power = _mean_spectrum(maps, lmax, self.nest)
            window = np.divide(beam, power, out=np.zeros_like(beam), where=power > 0)
            self.window_ = window / window.max()
        else:
            self.window_ = beam
        significance = self.decision_function(maps)
        self.threshold_, self.train_score_ = _best_threshold(
            significance, codes, self.thresholds)
        return self

    def decision_function(self, X):
        """Filtered maps in units of their standard deviation (significance).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)

        Returns
        -------
        significance : ndarray of shape (n_samples, n_pixels)
        """
        check_is_fitted(self, "window_")
        maps, _ = _full_sky_maps(self, X, fitted=True)
        filtered = _filter_maps(maps - maps.mean(axis=1, keepdims=True), self.window_,
                                self.nest)
        return filtered / filtered.std(axis=1, keepdims=True)

    def predict(self, X):
        """Per-pixel labels: the source class where the significance exceeds ``threshold_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)

        Returns
        -------
        y : ndarray of shape (n_samples, n_pixels)
        """
        check_is_fitted(self, "threshold_")
        return self.classes_[(self.decision_function(X) > self.threshold_).astype(int)]

    def score(self, X, y, sample_weight=None):
        """Mean intersection over union (:func:`skdeepsphere.metrics.mean_iou`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
        y : array-like of shape (n_samples, n_pixels)
            True labels, ``-1`` for masked pixels.
        sample_weight : None
            Not supported.

        Returns
        -------
        score : float
        """
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported for per-pixel labels")
        return mean_iou(np.asarray(y), self.predict(X), labels=self.classes_)


class WienerFilter(RegressorMixin, BaseEstimator):
    """Wiener filter of noisy maps, from spectra estimated on training pairs.

    ``fit`` measures the mean power spectra of the clean maps,
    :math:`S_\\ell`, and of the noise (noisy minus clean), :math:`N_\\ell`;
    ``predict`` multiplies the harmonic coefficients of a noisy map by
    :math:`w_\\ell = S_\\ell / (S_\\ell + N_\\ell)`. For a Gaussian signal in
    Gaussian noise this is the best estimate of the clean map (posterior
    mean); for a non-Gaussian one it is the best linear estimate.

    Parameters
    ----------
    nest : bool, default=False
        Ordering of the maps: NESTED if True, else RING.

    Attributes
    ----------
    nside_ : int
    signal_cl_, noise_cl_ : ndarray of shape (3 * `nside_`,)
        Estimated spectra.
    window_ : ndarray of shape (3 * `nside_`,)
        The Wiener window :math:`w_\\ell`.

    See Also
    --------
    skdeepsphere.datasets.make_denoising_maps : Noisy and clean maps.
    skdeepsphere.SphericalCNNRegressor : ``architecture="unet"`` learns a
        non-linear denoiser.

    Examples
    --------
    >>> from skdeepsphere.datasets import make_denoising_maps
    >>> from skdeepsphere.filters import WienerFilter
    >>> X, y = make_denoising_maps(4, nside=16, random_state=0)
    >>> wiener = WienerFilter().fit(X, y)
    >>> bool(wiener.score(X, y) > 0)
    True
    """

    _parameter_constraints = {"nest": ["boolean"]}

    def __init__(self, *, nest=False):
        self.nest = nest

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Estimate the signal and noise spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
            Noisy full-sky maps.
        y : array-like of shape (n_samples, n_pixels)
            The clean maps.

        Returns
        -------
        self : WienerFilter
        """
        maps, self.nside_ = _full_sky_maps(self, X, fitted=False)
        self.n_features_in_ = maps.shape[1]
        clean = dense_values(y, len(maps), maps.shape[1])
        if clean.shape[1] != 1 or np.isnan(clean).any():
            raise ValueError(
                "y must hold one clean full-sky map per noisy map, without masked pixels")
        clean = clean[:, 0]
        lmax = 3 * self.nside_ - 1
        self.signal_cl_ = _mean_spectrum(clean, lmax, self.nest)
        self.noise_cl_ = _mean_spectrum(maps - clean, lmax, self.nest)
        total = self.signal_cl_ + self.noise_cl_
        self.window_ = np.divide(self.signal_cl_, total, out=np.zeros_like(total),
                                 where=total > 0)
        return self

    def predict(self, X):
        """Wiener-filtered maps.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)

        Returns
        -------
        y : ndarray of shape (n_samples, n_pixels)
        """
        check_is_fitted(self, "window_")
        maps, _ = _full_sky_maps(self, X, fitted=True)
        return _filter_maps(maps, self.window_, self.nest)

    def score(self, X, y, sample_weight=None):
        """R² over all pixels (:func:`skdeepsphere.metrics.masked_r2_score`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
        y : array-like of shape (n_samples, n_pixels)
        sample_weight : None
            Not supported.

        Returns
        -------
        score : float
        """
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported for maps of targets")
        return masked_r2_score(y, self.predict(X))

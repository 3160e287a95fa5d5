"""Summary statistics of HEALPix maps as scikit-learn transformers.

The DeepSphere paper (Perraudin et al. 2019) compares its graph CNN with
support vector machines fed with two classic statistics of a map: the
histogram of its pixel values (:class:`HistogramFeatures`) and its angular
power spectrum (:class:`PowerSpectrumFeatures`). As transformers, they slot
into a :class:`~sklearn.pipeline.Pipeline` in front of a
:class:`~sklearn.preprocessing.StandardScaler` and a
:class:`~sklearn.svm.SVC`, and are cross-validated on the same folds as the
DeepSphere estimators.

Maps have shape ``(n_samples, n_pixels)`` or
``(n_samples, n_channels, n_pixels)``. Masked pixels are NaN or
``healpy.UNSEEN``; both transformers reject them unless
``ignore_masked=True``.
"""

import time
from numbers import Integral, Real

import healpy as hp
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _multiscale
from .healpix import check_maps, infer_nside, nested_order
from .streaming import is_lazy, iter_chunks

__all__ = [
    "HistogramFeatures",
    "PowerSpectrumFeatures",
    "MultiScaleHistogramFeatures",
    "PeakCountFeatures",
    "MinkowskiFunctionalFeatures",
]


def _validate_maps(estimator, X, *, reset, ignore_masked):
    """Validate maps in ``fit`` (``reset=True``) or ``transform``.

    Returns the maps as an array of shape (n_samples, n_channels, n_pixels)
    and the boolean array of their masked (NaN or UNSEEN) pixels.
    """
    # Only the feature names are checked here: sklearn's n_features check
    # reads X.shape[1], which is the number of channels for 3-D maps.
    validate_data(estimator, X, reset=reset, skip_check_array=True, ensure_2d=False)
    maps = check_maps(X, allow_nan=ignore_masked)
    masked = np.isnan(maps) | hp.mask_bad(maps)
    if not ignore_masked and masked.any():
        raise ValueError(
            "maps contain masked pixels (healpy.UNSEEN); set ignore_masked=True "
            "to leave them out"
        )
    if ignore_masked:
        empty = np.argwhere(masked.all(axis=-1))
        if empty.size:
            sample, channel = empty[0]
            raise ValueError(
                f"map {sample} (channel {channel}) has no observed pixel: every "
                "pixel is NaN or healpy.UNSEEN"
            )
    name = type(estimator).__name__
    n_channels, n_pixels = maps.shape[1:]
    if reset:
        estimator.n_features_in_ = n_pixels
        estimator.n_channels_ = n_channels
    elif n_pixels != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_pixels} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input: maps must have as "
            "many pixels as the maps seen in fit"
        )
    elif n_channels != estimator.n_channels_:
        raise ValueError(
            f"maps have {n_channels} channels, but {name} was fitted on maps "
            f"with {estimator.n_channels_}"
        )
    return maps, masked


def _lazy_chunks(estimator, X):
    """Blocks of maps read lazily (see :mod:`skdeepsphere.streaming`)."""
    chunks = iter_chunks(X, allow_nan=estimator.ignore_masked, dtype=np.float64)
    return (chunk for _, chunk in chunks)


def _fit_lazily(estimator, X):
    """Fit on the first block, validate the others (the fit needs only shapes)."""
    chunks = _lazy_chunks(estimator, X)
    estimator.fit(next(chunks))
    for chunk in chunks:
        _validate_maps(estimator, chunk, reset=False, ignore_masked=estimator.ignore_masked)
    return estimator


def _transform_lazily(estimator, X):
    check_is_fitted(estimator)
    return np.concatenate([estimator.transform(chunk) for chunk in _lazy_chunks(estimator, X)])


def _check_input_features(estimator, input_features):
    """Check ``input_features`` of ``get_feature_names_out``.

    The output names do not depend on the input names (pixels), which are
    only checked for consistency with ``fit``.
    """
    if input_features is None:
        return
    input_features = np.asarray(input_features, dtype=object)
    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is not None and not np.array_equal(names_in, input_features):
        raise ValueError("input_features is not equal to feature_names_in_")
    if len(input_features) != estimator.n_features_in_:
        raise ValueError(
            "input_features should have length equal to number of features "
            f"({estimator.n_features_in_}), got {len(input_features)}"
        )


def _feature_names(names, groups):
    """Repeat ``names`` for each group, prefixed by the group if several."""
    if len(groups) == 1:
        return np.asarray(names, dtype=object)
    return np.asarray(
        [f"{group}_{name}" for group in groups for name in names], dtype=object
    )


def _histograms(values, masked, edges, clip):
    """Histogram of each row of ``values`` over the bins ``edges``.

    The bins are half-open ``[edges[i], edges[i + 1])`` except the last,
    which includes its right edge, as in :func:`numpy.histogram`.
    """
    n_maps = values.shape[0]
    n_bins = len(edges) - 1
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = n_bins - 1
    if clip:
        index = np.clip(index, 0, n_bins - 1)
    keep = ~masked & (index >= 0) & (index < n_bins)
    rows = np.broadcast_to(np.arange(n_maps)[:, None], values.shape)
    counts = np.bincount(rows[keep] * n_bins + index[keep], minlength=n_maps * n_bins)
    return counts.reshape(n_maps, n_bins).astype(np.float64)


def _check_pair(pair, name):
    """Return a (lower, upper) pair of finite floats."""
    values = np.asarray(pair, dtype=np.float64)
    if values.shape != (2,) or not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be a pair of finite numbers, got {pair!r}")
    return values


class HistogramFeatures(TransformerMixin, BaseEstimator):
    """Histogram of the pixel values of each map.

    Each map (each channel of a multi-channel map) is summarised by the
    histogram of its pixel values over fixed bins; the histograms of the
    channels are concatenated. The pixel geometry plays no role, so any set
    of pixels works: full sky, partial sky, any ordering.

    With ``range=None`` the bins span the ``quantile_range`` percentiles of
    all the training pixel values of a channel, learned in ``fit`` and reused
    in ``transform``, so that the features of training and test maps are
    comparable and a few extreme pixels do not stretch the bins.

    The DeepSphere paper uses 100 bins over the training range, then
    z-scores the features; put a :class:`~sklearn.preprocessing.StandardScaler`
    after this transformer for the latter.

    Parameters
    ----------
    bins : int or array-like of float, default=100
        Number of equal-width bins, or the monotonically increasing bin
        edges (then ``range`` and ``quantile_range`` are ignored), shared by
        all channels.

    range : tuple (float, float) or None, default=None
        Lower and upper edge of the bins, for all channels. ``None`` learns
        them per channel from the training maps, see ``quantile_range``.

    quantile_range : tuple (float, float), default=(0.1, 99.9)
        Percentiles of the training pixel values (per channel) used as lower
        and upper edge when ``range=None``. ``(0, 100)`` spans the whole
        training range, as in the DeepSphere paper.

    density : bool, default=True
        If True, return the density of pixel values in each bin (the counts
        divided by the number of counted pixels and the bin width, as in
        :func:`numpy.histogram`), so that maps with different numbers of
        observed pixels are comparable. If False, return the counts. A map
        with no pixel in the bins (possible with ``clip=False``) has a zero
        density.

    clip : bool, default=True
        If True, pixels below the first edge (above the last) are counted in
        the first (last) bin, which then measure the tails. If False, they
        are left out, as in :func:`numpy.histogram`.

    ignore_masked : bool, default=False
        If True, leave out masked pixels (NaN or ``healpy.UNSEEN``). If
        False, maps with masked pixels raise a ValueError.

    Attributes
    ----------
    bin_edges_ : ndarray of shape (n_channels, n_bins + 1)
        Bin edges of each channel.

    n_channels_ : int
        Number of channels of the maps seen in ``fit``.

    n_features_in_ : int
        Number of pixels per map (the last axis of ``X``; ``X.shape[1]`` for
        2-D input).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the pixels seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.

    See Also
    --------
    PowerSpectrumFeatures : Angular power spectrum of each map.
    numpy.histogram : Histogram of one array.
    sklearn.preprocessing.KBinsDiscretizer : Bin each feature separately.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere import HistogramFeatures
    >>> maps = np.random.default_rng(0).standard_normal((3, 768))
    >>> histogram = HistogramFeatures(bins=10, density=False).fit(maps)
    >>> features = histogram.transform(maps)
    >>> features.shape
    (3, 10)
    >>> features.sum(axis=1)
    array([768., 768., 768.])
    >>> histogram.get_feature_names_out()[:3]
    array(['hist_bin_0', 'hist_bin_1', 'hist_bin_2'], dtype=object)
    """

    _parameter_constraints: dict = {
        "bins": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "range": [tuple, None],
        "quantile_range": [tuple],
        "density": ["boolean"],
        "clip": ["boolean"],
        "ignore_masked": ["boolean"],
    }

    def __init__(
        self,
        bins=100,
        *,
        range=None,
        quantile_range=(0.1, 99.9),
        density=True,
        clip=True,
        ignore_masked=False,
    ):
        self.bins = bins
        self.range = range
        self.quantile_range = quantile_range
        self.density = density
        self.clip = clip
        self.ignore_masked = ignore_masked

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the bin edges from the training maps.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
            Training maps.

        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        if is_lazy(X):
            if not isinstance(self.bins, Integral) or self.range is not None:
                return _fit_lazily(self, X)
            # Quantiles need all the values at once: fine for one block only.
            chunks = _lazy_chunks(self, X)
            X = next(chunks)
            if next(chunks, None) is not None:
                raise ValueError(
                    "HistogramFeatures learns its bin edges from quantiles of all "
                    "the maps, which needs them in memory: to fit on maps read "
                    "lazily (e.g. a numpy.memmap) larger than "
                    "skdeepsphere.streaming.CHUNK_BYTES pass range=(lower, upper) "
                    "or explicit bin edges as bins"
                )
        maps, masked = _validate_maps(
            self, X, reset=True, ignore_masked=self.ignore_masked
        )
        n_channels = maps.shape[1]
        if not isinstance(self.bins, Integral):
            edges = np.asarray(self.bins, dtype=np.float64)
            if (
                edges.ndim != 1
                or edges.size < 2
                or not np.all(np.isfinite(edges))
                or np.any(np.diff(edges) <= 0)
            ):
                raise ValueError(
                    "bins must be an int or a 1-D array of at least 2 finite, "
                    f"strictly increasing edges, got {self.bins!r}"
                )
            self.bin_edges_ = np.tile(edges, (n_channels, 1))
            return self

        if self.range is not None:
            lower, upper = _check_pair(self.range, "range")
            if not lower < upper:
                raise ValueError(
                    f"range must be (lower, upper) with lower < upper, got {self.range}"
                )
        else:
            q_lower, q_upper = _check_pair(self.quantile_range, "quantile_range")
            if not 0 <= q_lower < q_upper <= 100:
                raise ValueError(
                    "quantile_range must satisfy 0 <= lower < upper <= 100, got "
                    f"{self.quantile_range}"
                )
        self.bin_edges_ = np.empty((n_channels, self.bins + 1))
        for channel in np.arange(n_channels):
            if self.range is None:
                values = maps[:, channel][~masked[:, channel]]
                lower, upper = np.percentile(values, [q_lower, q_upper])
            if lower == upper:
                # A constant channel: one unit-wide range, as numpy.histogram.
                lower, upper = lower - 0.5, upper + 0.5
            self.bin_edges_[channel] = np.linspace(lower, upper, self.bins + 1)
        return self

    def transform(self, X):
        """Histogram of each map (of each channel, concatenated).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
            Maps with as many pixels and channels as in ``fit``.

        Returns
        -------
        features : ndarray of shape (n_samples, n_channels * n_bins)
            Densities (or counts) of the bins, channel after channel.
        """
        if is_lazy(X):
            return _transform_lazily(self, X)
        check_is_fitted(self)
        maps, masked = _validate_maps(
            self, X, reset=False, ignore_masked=self.ignore_masked
        )
        features = np.stack(
            [
                _histograms(maps[:, c], masked[:, c], self.bin_edges_[c], self.clip)
                for c in np.arange(self.n_channels_)
            ],
            axis=1,
        )
        if self.density:
            totals = features.sum(axis=-1, keepdims=True)
            widths = np.diff(self.bin_edges_, axis=-1)
            features = np.divide(
                features,
                totals * widths,
                out=np.zeros_like(features),
                where=totals > 0,
            )
        return features.reshape(len(features), -1)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: ``hist_bin_<i>``.

        With several channels the names are prefixed by the channel:
        ``ch<c>_hist_bin_<i>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked for consistency with ``fit``: the output names do
            not depend on them.

        Returns
        -------
        feature_names_out : ndarray of str objects
            Names of the output features.
        """
        check_is_fitted(self)
        _check_input_features(self, input_features)
        n_bins = self.bin_edges_.shape[1] - 1
        names = [f"hist_bin_{i}" for i in np.arange(n_bins)]
        return _feature_names(names, [f"ch{c}" for c in np.arange(self.n_channels_)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.ignore_masked
        return tags


#: Seconds of work below which running workers are not worth using.
MIN_PARALLEL_SECONDS = 5.0

#: Seconds of work below which starting worker processes is not worth it.
#: Each worker imports the package (torch and healpy: seconds on an idle
#: machine, tens of seconds on a loaded one) and then saves only a fraction
#: of the work, because healpy's OpenMP threads already use every core.
MIN_COLD_PARALLEL_SECONDS = 30.0

# joblib's process workers exit after 300 s without work (loky's
# ``idle_worker_timeout``); workers used more recently than this are
# counted as running.
_WARM_WORKER_SECONDS = 240.0
_last_parallel_call = None
#: How many calls sent maps to worker processes (read by the benchmarks).
parallel_calls = 0


def _apply_to_block(function, maps, masked, *args):
    return [function(m, mask, *args) for m, mask in zip(maps, masked)]


def _workers_running():
    return (_last_parallel_call is not None
            and time.monotonic() - _last_parallel_call < _WARM_WORKER_SECONDS)


def _map_in_parallel(function, maps, masked, n_jobs, *args):
    """``[function(m, mask, *args) for m, mask in zip(maps, masked)]`` with joblib.

    healpy's transforms hold the GIL, so threads cannot run maps side by
    side, and they already use every core through OpenMP: worker processes
    pay off only when they keep the cores busier than OpenMP alone (OpenMP
    scales poorly on a machine loaded by other jobs) and when their start
    and the transfer of the maps are small next to the work. Hence:
    ``n_jobs=None`` (the default) is the plain loop in this process;
    otherwise the first map is transformed here, and the others go to at
    most ``n_jobs`` workers, one contiguous block each, only if they would
    take more than :data:`MIN_PARALLEL_SECONDS` here when workers of an
    earlier call are still running, or more than
    :data:`MIN_COLD_PARALLEL_SECONDS` when the workers must be started, so
    that the call that starts them is not slower than the loop. joblib's
    process backend (loky) gives each of ``n`` workers ``cpu_count // n``
    OpenMP threads, so the workers do not oversubscribe the cores.
    """
    global _last_parallel_call, parallel_calls
    n_workers = min(effective_n_jobs(n_jobs), len(maps) - 1)
    if n_workers <= 1:
        return _apply_to_block(function, maps, masked, *args)
    start = time.perf_counter()
    first = function(maps[0], masked[0], *args)
    rest = len(maps) - 1
    threshold = MIN_PARALLEL_SECONDS if _workers_running() else MIN_COLD_PARALLEL_SECONDS
    if (time.perf_counter() - start) * rest < threshold:
        return [first] + _apply_to_block(function, maps[1:], masked[1:], *args)
    blocks = np.array_split(np.arange(1, len(maps)), n_workers)
    results = Parallel(n_jobs=n_workers)(
        delayed(_apply_to_block)(function, maps[b], masked[b], *args) for b in blocks
    )
    _last_parallel_call = time.monotonic()
    parallel_calls += 1
    return [first] + [result for block in results for result in block]


def _multipole_bin_edges(lmax, n_bins, log):
    """Integer edges of ``n_bins`` non-empty bins covering ``0, ..., lmax``.

    Bin ``i`` holds the multipoles ``edges[i] <= ell < edges[i + 1]``. The
    edges are evenly spaced in ``ell`` (in ``log(ell + 1)`` if ``log``, so
    that the monopole has a bin too), and each bin holds at least one multipole: a
    narrow bin at low ``ell`` pushes the remaining edges up.
    """
    n_ell = lmax + 1
    edges = [0]
    for remaining in np.arange(n_bins, 0, -1):
        start = edges[-1]
        if log:
            stop = (start + 1) * ((n_ell + 1) / (start + 1)) ** (1 / remaining) - 1
        else:
            stop = start + (n_ell - start) / remaining
        edges.append(int(min(max(np.round(stop), start + 1), n_ell - remaining + 1)))
    return np.asarray(edges, dtype=np.int64)


def _pseudo_spectra(maps, masked, ring_pixels, npix, lmax, iter, pairs):
    """Pseudo-spectra of the channels of one map, divided by the sky fraction.

    ``maps`` and ``masked`` have shape (n_channels, n_pixels); column ``k``
    is the RING pixel ``ring_pixels[k]`` (``None``: a full sky in RING
    order). Unobserved and masked pixels are set to zero, as healpy does
    with ``UNSEEN``.
    """
    observed = np.where(masked, 0.0, maps)
    if ring_pixels is None:
        full_sky = observed
    else:
        full_sky = np.zeros((len(maps), npix))
        full_sky[:, ring_pixels] = observed
    alms = [hp.map2alm(m, lmax=lmax, iter=iter, pol=False) for m in full_sky]
    spectra = np.empty((len(pairs), lmax + 1))
    for k, (i, j) in enumerate(pairs):
        n_observed = np.count_nonzero(~masked[i] & ~masked[j])
        if n_observed == 0:
            raise ValueError(f"channels {i} and {j} have no pixel observed in both")
        spectra[k] = hp.alm2cl(alms[i], alms[j], lmax=lmax) * (npix / n_observed)
    return spectra


class PowerSpectrumFeatures(TransformerMixin, BaseEstimator):
    r"""Angular power spectrum of each map, optionally binned in multipoles.

    For a full-sky map :math:`x` with spherical harmonic coefficients
    :math:`a_{\ell m}`, the angular power spectrum is

    .. math::

        C_\ell = \frac{1}{2\ell + 1} \sum_{m=-\ell}^{\ell} |a_{\ell m}|^2,
        \qquad \ell = 0, \dots, \ell_{\max},

    computed with :func:`healpy.anafast` (``map2alm`` then ``alm2cl``). With
    ``n_bins=None`` the features are the :math:`C_\ell` themselves, equal to
    ``healpy.anafast(map, lmax=lmax, iter=iter)``.

    **Partial sky.** When the maps cover only the ``pixels`` given, or have
    masked pixels (NaN or ``healpy.UNSEEN``, with ``ignore_masked=True``),
    the map is placed in a full sky filled with zeros (what healpy does with
    ``UNSEEN``) and the features are the *pseudo-spectrum* of that masked
    map divided by the observed sky fraction
    :math:`f_\mathrm{sky} = n_\mathrm{observed} / n_\mathrm{pix}`:
    :math:`\tilde C_\ell / f_\mathrm{sky}`. This corrects the overall
    amplitude only; the mask still couples neighbouring multipoles (no
    mode-coupling deconvolution as in MASTER or NaMaster), which is fine
    for features fed to a classifier but not for cosmological inference.
    The monopole is not removed.

    **Binning.** With ``n_bins=k`` the multipoles :math:`0, \dots,
    \ell_{\max}` are split into ``k`` non-empty bins (evenly spaced in
    :math:`\log(\ell + 1)` if ``log``, else in :math:`\ell`; edges in
    ``bin_edges_``), and the spectrum is averaged in each bin, which gives
    a classifier a few well-measured features.

    **Channels.** Maps of shape ``(n_samples, n_channels, n_pixels)`` give
    the auto-spectrum of each channel and, with ``cross_spectra=True``, the
    cross-spectra of each pair of channels, concatenated.

    The DeepSphere paper feeds :math:`\ell(\ell+1) C_\ell`
    (``ell_factor=True``), z-scored by a
    :class:`~sklearn.preprocessing.StandardScaler`, to a linear SVM.

    Parameters
    ----------
    nside : int or None, default=None
        Resolution of the maps. ``None`` infers it from the number of pixels
        of full-sky maps; required with ``pixels``.

    pixels : array-like of int or None, default=None
        Index of the observed pixel in each column of a partial-sky map, in
        the ordering given by ``nest``. ``None`` means full-sky maps. Not a
        boolean mask (an error): for a healpy mask pass
        ``numpy.flatnonzero(mask)``.

    nest : bool, default=False
        Whether the maps (or ``pixels``) use the NESTED ordering; RING
        otherwise, as in healpy.

    lmax : int or None, default=None
        Largest multipole. ``None`` means ``3 * nside - 1``, healpy's
        default.

    n_bins : int or None, default=None
        Number of multipole bins, at most ``lmax + 1``. ``None`` returns one
        feature per multipole.

    log : bool, default=True
        Space the multipole bins logarithmically (in :math:`\ell + 1`), else
        linearly. Ignored when ``n_bins=None``.

    ell_factor : bool, default=False
        Multiply :math:`C_\ell` by :math:`\ell(\ell+1)` before binning, as
        in the DeepSphere paper; this flattens the spectrum of most
        cosmological fields. The default returns :math:`C_\ell` as healpy.

    cross_spectra : bool, default=False
        For multi-channel maps, also return the cross-spectrum of each pair
        of channels. Its sky fraction is that of the pixels observed in both.

    iter : int, default=0
        Number of iterations of healpy's ``map2alm``. Iterations refine the
        :math:`a_{\ell m}` near :math:`\ell_{\max} = 3\,n_\mathrm{side}`
        but cost one more pair of transforms each (``iter=3``, healpy's
        default, is about six times slower); 0 is accurate enough for
        features.

    ignore_masked : bool, default=False
        If True, treat NaN and ``healpy.UNSEEN`` pixels as unobserved (see
        partial sky above). If False, maps with such pixels raise a
        ValueError.

    n_jobs : int or None, default=None
        Number of worker processes (joblib) that transform the maps, each a
        contiguous block. ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context: the maps are transformed one
        after the other in this process, where healpy's transforms already
        use every core through OpenMP; -1 means all processors. Workers
        are used only when the maps would take more than
        ``MIN_PARALLEL_SECONDS`` (5 s) here, and started only when they
        would take more than ``MIN_COLD_PARALLEL_SECONDS`` (30 s), so that
        ``n_jobs`` is not slower than the loop; each worker gets
        ``cpu_count // n_jobs`` OpenMP threads. See
        ``benchmarks/feature_timing.py``.

    Attributes
    ----------
    nside_ : int
        Resolution of the maps.

    lmax_ : int
        Largest multipole.

    bin_edges_ : ndarray of int of shape (n_bins + 1,)
        Bin ``i`` averages the multipoles ``bin_edges_[i] <= ell <
        bin_edges_[i + 1]``. Without binning, ``arange(lmax_ + 2)``.

    n_channels_ : int
        Number of channels of the maps seen in ``fit``.

    n_features_in_ : int
        Number of pixels per map (the last axis of ``X``; ``X.shape[1]`` for
        2-D input).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the pixels seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.

    See Also
    --------
    HistogramFeatures : Histogram of the pixel values of each map.
    healpy.anafast : Power spectrum of one full-sky map.

    Examples
    --------
    >>> import healpy as hp
    >>> import numpy as np
    >>> from skdeepsphere import PowerSpectrumFeatures
    >>> maps = np.random.default_rng(0).standard_normal((3, 768))
    >>> spectrum = PowerSpectrumFeatures().fit(maps)
    >>> features = spectrum.transform(maps)
    >>> features.shape
    (3, 24)
    >>> np.allclose(features[0], hp.anafast(maps[0], iter=0))
    True
    >>> binned = PowerSpectrumFeatures(n_bins=4, ell_factor=True).fit(maps)
    >>> binned.bin_edges_
    array([ 0,  1,  4, 10, 24])
    >>> binned.get_feature_names_out()
    array(['psd_bin_0', 'psd_bin_1', 'psd_bin_2', 'psd_bin_3'], dtype=object)
    """

    _parameter_constraints: dict = {
        "nside": [Interval(Integral, 1, None, closed="left"), None],
        "pixels": ["array-like", None],
        "nest": ["boolean"],
        "lmax": [Interval(Integral, 0, None, closed="left"), None],
        "n_bins": [Interval(Integral, 1, None, closed="left"), None],
        "log": ["boolean"],
        "ell_factor": ["boolean"],
        "cross_spectra": ["boolean"],
        "iter": [Interval(Integral, 0, None, closed="left")],
        "ignore_masked": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        *,
        nside=None,
        pixels=None,
        nest=False,
        lmax=None,
        n_bins=None,
        log=True,
        ell_factor=False,
        cross_spectra=False,
        iter=0,
        ignore_masked=False,
        n_jobs=None,
    ):
        self.nside = nside
        self.pixels = pixels
        self.nest = nest
        self.lmax = lmax
        self.n_bins = n_bins
        self.log = log
        self.ell_factor = ell_factor
        self.cross_spectra = cross_spectra
        self.iter = iter
        self.ignore_masked = ignore_masked
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the geometry of the maps and set the multipole bins.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
            Training maps: full sky (``12 * nside**2`` pixels) or the
            ``pixels`` of a partial sky.

        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        if is_lazy(X):
            return _fit_lazily(self, X)
        maps, _ = _validate_maps(self, X, reset=True, ignore_masked=self.ignore_masked)
        self.nside_, pixels, nest = self._geometry(maps.shape[-1])
        order, nested_pixels = nested_order(self.nside_, pixels, nest)
        # RING index of each column: healpy's transforms want RING maps.
        ring_pixels = np.empty_like(order)
        ring_pixels[order] = hp.nest2ring(self.nside_, nested_pixels)
        if np.array_equal(ring_pixels, np.arange(hp.nside2npix(self.nside_))):
            ring_pixels = None  # a full sky in RING order needs no reordering
        self._ring_pixels = ring_pixels
        self.lmax_ = 3 * self.nside_ - 1 if self.lmax is None else int(self.lmax)
        if self.lmax_ > 3 * self.nside_ - 1:
            raise ValueError(
                f"lmax={self.lmax_} is beyond 3 * nside - 1 = {3 * self.nside_ - 1}, the "
                f"largest multipole a HEALPix map of nside={self.nside_} can resolve"
            )
        n_ell = self.lmax_ + 1
        if self.n_bins is None:
            self.bin_edges_ = np.arange(n_ell + 1)
        elif self.n_bins > n_ell:
            raise ValueError(
                f"n_bins={self.n_bins} exceeds the {n_ell} multipoles "
                f"0, ..., lmax={self.lmax_}"
            )
        else:
            self.bin_edges_ = _multipole_bin_edges(self.lmax_, self.n_bins, self.log)
        return self

    def transform(self, X):
        """Power spectrum of each map (of each channel, concatenated).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
            Maps with the geometry and channels seen in ``fit``.

        Returns
        -------
        features : ndarray of shape (n_samples, n_spectra * n_bins)
            Binned spectra, spectrum after spectrum: the auto-spectra of the
            channels, then (``cross_spectra=True``) the cross-spectra of the
            pairs ``(0, 1), (0, 2), ..., (1, 2), ...``. Without binning,
            ``n_bins = lmax_ + 1``.
        """
        if is_lazy(X):
            return _transform_lazily(self, X)
        check_is_fitted(self)
        maps, masked = _validate_maps(
            self, X, reset=False, ignore_masked=self.ignore_masked
        )
        npix = hp.nside2npix(self.nside_)
        pairs = [pair for pair, _ in self._spectra()]
        spectra = _map_in_parallel(
            _pseudo_spectra,
            maps,
            masked,
            self.n_jobs,
            self._ring_pixels,
            npix,
            self.lmax_,
            self.iter,
            pairs,
        )
        spectra = np.stack(spectra)
        if self.ell_factor:
            ell = np.arange(self.lmax_ + 1)
            spectra *= ell * (ell + 1)
        edges = self.bin_edges_
        features = np.add.reduceat(spectra, edges[:-1], axis=-1) / np.diff(edges)
        return features.reshape(len(features), -1)

    def _geometry(self, n_pixels):
        """``(nside, pixels, nest)`` of maps with ``n_pixels`` columns.

        The one place that reads the geometry parameters: the tests override
        it to run scikit-learn's checks on tabular data.
        """
        return infer_nside(n_pixels, self.nside, self.pixels), self.pixels, self.nest

    def _spectra(self):
        """Channel pair and name of each spectrum, in output order."""
        channels = np.arange(self.n_channels_)
        spectra = [((c, c), f"ch{c}") for c in channels]
        if self.cross_spectra:
            spectra += [
                ((i, j), f"ch{i}xch{j}") for i in channels for j in channels if i < j
            ]
        return spectra

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        ``psd_ell_<ell>`` when each bin is one multipole (``n_bins=None``),
        ``psd_bin_<i>`` otherwise. With
        several channels the names are prefixed by the spectrum:
        ``ch<c>_psd_ell_<ell>`` for auto-spectra, ``ch<i>xch<j>_...`` for
        cross-spectra.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked for consistency with ``fit``: the output names do
            not depend on them.

        Returns
        -------
        feature_names_out : ndarray of str objects
            Names of the output features.
        """
        check_is_fitted(self)
        _check_input_features(self, input_features)
        n_bins = len(self.bin_edges_) - 1
        if n_bins == self.lmax_ + 1:
            names = [f"psd_ell_{ell}" for ell in np.arange(n_bins)]
        else:
            names = [f"psd_bin_{i}" for i in np.arange(n_bins)]
        return _feature_names(names, [name for _, name in self._spectra()])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.ignore_masked
        return tags


# Multi-scale statistics: smoothed maps, their peaks and Minkowski functionals


def _full_sky(values, masked, setup):
    """A channel of one map placed in a full RING sky, and its observed pixels.

    Unobserved and masked pixels are filled with the mean of the observed
    ones, the rule of :mod:`skdeepsphere._multiscale`.
    """
    observed_values = values[~masked]
    fill = observed_values.mean()
    if setup["ring_pixels"] is None:
        full_sky = np.where(masked, fill, values)
        observed = ~masked
    else:
        full_sky = np.full(setup["npix"], fill)
        full_sky[setup["ring_pixels"]] = np.where(masked, fill, values)
        observed = np.zeros(setup["npix"], dtype=bool)
        observed[setup["ring_pixels"]] = ~masked
    return full_sky, observed


def _fields(full_sky, kind, setup):
    """Per scale, the smoothed field (Minkowski: with its derivatives).

    For the Minkowski functionals a zero FWHM has a window of ones (not
    ``None``): the field is then the band-limited harmonic reconstruction
    of the map, the field whose derivatives are computed.
    """
    lmax, windows = setup["lmax"], setup["windows"]
    if kind != "minkowski":
        return [(field,) for field in _multiscale.smooth(full_sky, windows, lmax, setup["iter"])]
    alm = hp.map2alm(full_sky, lmax=lmax, iter=setup["iter"], pol=False)
    return [
        _multiscale.field_derivatives(alm, setup["nside"], lmax, window)
        for window in windows
    ]


def _binned(values, edges, clip):
    """Histogram of a 1-D array over ``edges`` (see :func:`_histograms`)."""
    return _histograms(values[None], np.zeros((1, values.size), dtype=bool), edges, clip)[0]


def _smoothed_statistics(values, masked, kind, setup):
    """Statistics of one map (all channels), shape (n_channels, n_scales, ...).

    ``kind`` is ``"moments"`` (number of kept pixels, sum and sum of squares
    of the field, for ``fit``), ``"histogram"``, ``"peaks"`` or
    ``"minkowski"``.
    """
    statistics = []
    for c in np.arange(len(values)):
        full_sky, observed = _full_sky(values[c], masked[c], setup)
        if masked[c].any():
            kept = _multiscale.kept_pixels(
                observed,
                setup["mask_windows"],
                setup["lmax"],
                setup["iter"],
                setup["mask_tolerance"],
            )
        else:
            kept = setup["kept"]
        fields = _fields(full_sky, kind, setup)
        per_scale = []
        for s, field in enumerate(fields):
            u = field[0][kept[s]]
            if kind == "moments":
                per_scale.append([u.size, u.sum(), np.sum(u**2)])
                continue
            if setup["standardize"] == "map":
                loc, scale = (u.mean(), u.std()) if u.size else (0.0, 1.0)
                scale = scale if scale > 0 else 1.0
            else:
                loc, scale = setup["loc"][c, s], setup["scale"][c, s]
            edges = setup["bin_edges"][c, s]
            if kind == "histogram":
                counts = _binned((u - loc) / scale, edges, setup["clip"])
                if setup["density"]:
                    total = counts.sum()
                    counts = counts / (total * np.diff(edges)) if total > 0 else counts
                per_scale.append(counts)
            elif kind == "peaks":
                neighbours = _multiscale.ring_neighbours(setup["nside"])
                heights = _multiscale.peak_heights(field[0], observed, kept[s], neighbours)
                per_scale.append(_binned((heights - loc) / scale, edges, setup["clip"]))
            else:
                standardized = [(field[0] - loc) / scale] + [d / scale for d in field[1:]]
                per_scale.append(
                    _multiscale.minkowski_functionals(standardized, kept[s], edges)
                )
        statistics.append(per_scale)
    return np.asarray(statistics, dtype=np.float64)


class _SmoothedMapFeatures(TransformerMixin, BaseEstimator):
    """Shared geometry, smoothing, standardisation and binning (see subclasses)."""

    # What transform computes (see _smoothed_statistics), the prefixes of the
    # feature names, and whether a zero FWHM means the band-limited field.
    _kind = None
    _statistic_names = ()
    _band_limited = False

    _parameter_constraints: dict = {
        "fwhm": ["array-like", None],
        "nside": [Interval(Integral, 1, None, closed="left"), None],
        "pixels": ["array-like", None],
        "nest": ["boolean"],
        "bins": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "range": [tuple, None],
        "standardize": [StrOptions({"train", "map"}), None],
        "mask_tolerance": [Interval(Real, 0, 1, closed="both")],
        "iter": [Interval(Integral, 0, None, closed="left")],
        "ignore_masked": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def _check_fwhm(self):
        if self.fwhm is None:
            resolution = hp.nside2resol(self.nside_, arcmin=True)
            return np.array([0.0, 2 * resolution, 4 * resolution])
        fwhm = np.atleast_1d(np.asarray(self.fwhm, dtype=np.float64))
        if (
            fwhm.ndim != 1
            or fwhm.size == 0
            or not np.all(np.isfinite(fwhm))
            or np.any(fwhm < 0)
            or np.unique(fwhm).size != fwhm.size
        ):
            raise ValueError(
                "fwhm must be a non-empty sequence of distinct, non-negative "
                f"FWHMs in arcminutes, got {self.fwhm!r}"
            )
        return fwhm

    def _check_bins(self):
        """Edges given by ``bins`` (or None) and validated ``range``."""
        if not isinstance(self.bins, Integral):
            edges = np.asarray(self.bins, dtype=np.float64)
            if (
                edges.ndim != 1
                or edges.size < 2
                or not np.all(np.isfinite(edges))
                or np.any(np.diff(edges) <= 0)
            ):
                raise ValueError(
                    "bins must be an int or a 1-D array of at least 2 finite, "
                    f"strictly increasing edges, got {self.bins!r}"
                )
            return edges
        if self.range is not None:
            lower, upper = _check_pair(self.range, "range")
            if not lower < upper:
                raise ValueError(
                    f"range must be (lower, upper) with lower < upper, got {self.range}"
                )
        return None

    def _setup(self):
        """Everything a worker needs to transform a map (small, picklable)."""
        lmax = 3 * self.nside_ - 1
        windows = _multiscale.beam_windows(self.fwhm_, lmax)
        mask_windows = windows
        if self._band_limited:
            windows = [np.ones(lmax + 1) if w is None else w for w in windows]
        standardize = self.standardize
        n_channels, n_scales = self.n_channels_, len(self.fwhm_)
        return {
            "nside": self.nside_,
            "npix": hp.nside2npix(self.nside_),
            "lmax": lmax,
            "iter": self.iter,
            "windows": windows,
            "mask_windows": mask_windows,
            "mask_tolerance": self.mask_tolerance,
            "ring_pixels": self._ring_pixels,
            "kept": self._kept,
            "standardize": standardize,
            "loc": getattr(self, "loc_", np.zeros((n_channels, n_scales))),
            "scale": getattr(self, "scale_", np.ones((n_channels, n_scales))),
            "bin_edges": getattr(self, "bin_edges_", None),
            "clip": getattr(self, "clip", False),
            "density": getattr(self, "density", False),
        }

    def _geometry(self, n_pixels):
        """``(nside, pixels, nest)`` of maps with ``n_pixels`` columns (see
        :meth:`PowerSpectrumFeatures._geometry`)."""
        return infer_nside(n_pixels, self.nside, self.pixels), self.pixels, self.nest

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the geometry, set the scales and learn the bins.

        With ``standardize="train"`` (or with ``standardize=None`` and
        neither ``range`` nor bin edges given) this smooths every training
        map to learn the mean and standard deviation of each channel at
        each scale, which costs about as much as ``transform``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
            Training maps: full sky (``12 * nside**2`` pixels) or the
            ``pixels`` of a partial sky. A :class:`numpy.memmap` is read in
            blocks.

        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        blocks = _lazy_chunks(self, X) if is_lazy(X) else iter([X])
        maps, masked = _validate_maps(
            self, next(blocks), reset=True, ignore_masked=self.ignore_masked
        )
        self.nside_, pixels, nest = self._geometry(maps.shape[-1])
        npix = hp.nside2npix(self.nside_)
        order, nested_pixels = nested_order(self.nside_, pixels, nest)
        # RING index of each column: healpy's transforms want RING maps.
        ring_pixels = np.empty_like(order)
        ring_pixels[order] = hp.nest2ring(self.nside_, nested_pixels)
        if np.array_equal(ring_pixels, np.arange(npix)):
            ring_pixels = None  # a full sky in RING order needs no reordering
        self._ring_pixels = ring_pixels
        self.fwhm_ = self._check_fwhm()
        edges = self._check_bins()
        observed = np.zeros(npix, dtype=bool)
        observed[slice(None) if ring_pixels is None else ring_pixels] = True
        lmax = 3 * self.nside_ - 1
        self._kept = _multiscale.kept_pixels(
            observed,
            _multiscale.beam_windows(self.fwhm_, lmax),
            lmax,
            self.iter,
            self.mask_tolerance,
        )
        empty = ~self._kept.any(axis=1)
        if empty.any():
            raise ValueError(
                f"no observed pixel lies far enough from the unobserved ones at "
                f"fwhm={self.fwhm_[empty][0]:g} arcmin: use smaller beams or a "
                "larger mask_tolerance"
            )
        for name in ("loc_", "scale_", "bin_edges_"):
            self.__dict__.pop(name, None)  # a previous fit's state

        learn_moments = self.standardize == "train" or (
            self.standardize is None and edges is None and self.range is None
        )
        if learn_moments:
            setup = self._setup()
            moments = 0.0
            while maps is not None:
                moments = moments + np.sum(
                    _map_in_parallel(
                        _smoothed_statistics, maps, masked, self.n_jobs, "moments", setup
                    ),
                    axis=0,
                )
                block = next(blocks, None)
                maps, masked = (None, None) if block is None else _validate_maps(
                    self, block, reset=False, ignore_masked=self.ignore_masked
                )
            count, total, squares = np.moveaxis(moments, -1, 0)
            loc = total / count
            scale = np.sqrt(np.maximum(squares / count - loc**2, 0))
            scale[scale == 0] = 1.0
        else:
            for block in blocks:
                _validate_maps(self, block, reset=False, ignore_masked=self.ignore_masked)
        if self.standardize == "train":
            self.loc_, self.scale_ = loc, scale

        shape = (self.n_channels_, len(self.fwhm_))
        if edges is None:
            n_bins = self.bins
            if self.range is not None:
                lower, upper = np.broadcast_to(_check_pair(self.range, "range")[:, None, None], (2, *shape))
            elif self.standardize is None:
                lower, upper = loc - 4 * scale, loc + 4 * scale
            else:
                lower, upper = np.full((2, *shape), [[[-4.0]], [[4.0]]])
            edges = np.linspace(lower, upper, n_bins + 1, axis=-1)
        self.bin_edges_ = np.broadcast_to(edges, (*shape, edges.shape[-1])).copy()
        return self

    def transform(self, X):
        """Statistics of each smoothed map.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
            Maps with the geometry and channels seen in ``fit``. A
            :class:`numpy.memmap` is read in blocks.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
            Channel after channel, scale after scale (``fwhm_``), the
            statistics of the bins.
        """
        if is_lazy(X):
            return _transform_lazily(self, X)
        check_is_fitted(self)
        maps, masked = _validate_maps(
            self, X, reset=False, ignore_masked=self.ignore_masked
        )
        features = _map_in_parallel(
            _smoothed_statistics, maps, masked, self.n_jobs, self._kind, self._setup()
        )
        return np.stack(features).reshape(len(maps), -1)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: ``<statistic>_fwhm<fwhm>_bin_<i>``.

        The FWHM is in arcminutes (``fwhm_``, printed with ``%g``). With
        several channels the names are prefixed by the channel:
        ``ch<c>_...``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked for consistency with ``fit``: the output names do
            not depend on them.

        Returns
        -------
        feature_names_out : ndarray of str objects
            Names of the output features.
        """
        check_is_fitted(self)
        _check_input_features(self, input_features)
        n_bins = self.bin_edges_.shape[-1] - 1
        names = [
            f"{statistic}_fwhm{fwhm:g}_bin_{i}"
            for fwhm in self.fwhm_
            for statistic in self._statistic_names
            for i in np.arange(n_bins)
        ]
        return _feature_names(names, [f"ch{c}" for c in np.arange(self.n_channels_)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.ignore_masked
        return tags


_SMOOTHING_PARAMETERS = """fwhm : array-like of float or None, default=None
        Full widths at half maximum of the Gaussian beams, in arcminutes,
        one scale each; 0 means the map as it is (Minkowski functionals:
        its band-limited harmonic reconstruction, ``lmax = 3 nside - 1``).
        ``None`` means ``(0, 2, 4)`` times the pixel size
        (:func:`healpy.nside2resol`). The map is analysed once
        (:func:`healpy.map2alm`, ``lmax = 3 nside - 1``) and synthesised
        once per beam, which equals :func:`healpy.smoothing` per beam.

    nside : int or None, default=None
        Resolution of the maps. ``None`` infers it from the number of pixels
        of full-sky maps; required with ``pixels``.

    pixels : array-like of int or None, default=None
        Index of the observed pixel in each column of a partial-sky map, in
        the ordering given by ``nest``. ``None`` means full-sky maps.

    nest : bool, default=False
        Whether the maps (or ``pixels``) use the NESTED ordering; RING
        otherwise, as in healpy.

    bins : int or array-like of float, default=20
        Number of equal-width bins over ``range``, or the increasing bin
        edges, in the units set by ``standardize``, shared by all channels
        and scales.

    range : tuple (float, float) or None, default=None
        Lower and upper edge of the bins. ``None`` means ``(-4, 4)``
        standard deviations: ``(-4, 4)`` in standardised units, and with
        ``standardize=None`` the training mean plus or minus 4 training
        standard deviations, per channel and scale.

    standardize : {"train", "map"} or None, default="train"
        Units of the heights that are binned. ``"train"``: the smoothed
        values minus their mean over the training maps, divided by their
        standard deviation over the training maps, per channel and scale
        (``loc_``, ``scale_``): a signal-to-noise ratio when the maps are
        noise dominated, and amplitudes still differ between maps.
        ``"map"``: each smoothed map standardised by its own mean and
        standard deviation (only the shape of the distribution is left).
        ``None``: the values themselves.

    mask_tolerance : float in [0, 1], default=0.01
        At each scale a pixel counts only if it is observed and at most this
        fraction of its beam's weight falls on unobserved or masked pixels
        (filled with the map's observed mean before smoothing): next to a
        straight border, 0.01 leaves out a band of about one FWHM. 1 keeps
        every observed pixel.

    iter : int, default=0
        Iterations of :func:`healpy.map2alm`, as in
        :class:`PowerSpectrumFeatures`.

    ignore_masked : bool, default=False
        If True, NaN and ``healpy.UNSEEN`` pixels are unobserved pixels of
        that map (see ``mask_tolerance``). If False, they raise a ValueError.

    n_jobs : int or None, default=None
        Number of worker processes (joblib) that transform the maps, as in
        :class:`PowerSpectrumFeatures`: ``None`` transforms them one after
        the other in this process, where healpy already uses every core
        through OpenMP; workers are used only when the maps would take
        more than ``MIN_PARALLEL_SECONDS`` (5 s) here, and started only
        when they would take more than ``MIN_COLD_PARALLEL_SECONDS``
        (30 s), each with ``cpu_count // n_jobs`` OpenMP threads."""

_SMOOTHING_ATTRIBUTES = """fwhm_ : ndarray of shape (n_scales,)
        The FWHMs in arcminutes.

    nside_ : int
        Resolution of the maps.

    bin_edges_ : ndarray of shape (n_channels, n_scales, n_bins + 1)
        Bin edges of each channel and scale, in the units of
        ``standardize``.

    loc_, scale_ : ndarray of shape (n_channels, n_scales)
        Mean and standard deviation of the smoothed training maps (only
        with ``standardize="train"``).

    n_channels_ : int
        Number of channels of the maps seen in ``fit``.

    n_features_in_ : int
        Number of pixels per map (the last axis of ``X``).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the pixels seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings."""


class MultiScaleHistogramFeatures(_SmoothedMapFeatures):
    """Histograms of a map smoothed at several scales.

    Each map is smoothed with Gaussian beams of several widths (``fwhm``)
    and the values of the kept pixels of each smoothed map are histogrammed
    over fixed bins. Smoothing averages out noise and turns the spatial
    correlations at that scale into the one-point distribution: on noisy
    convergence maps the histogram of the smoothed map separates
    cosmologies that the raw histogram (:class:`HistogramFeatures`) cannot.

    Parameters
    ----------
    {parameters}

    density : bool, default=True
        Return the density of values in each bin (counts divided by the
        number of counted pixels and the bin width, as in
        :func:`numpy.histogram`), else the counts.

    clip : bool, default=True
        Count values beyond the outer edges in the outer bins, which then
        measure the tails; if False leave them out, as :func:`numpy.histogram`.

    Attributes
    ----------
    {attributes}

    See Also
    --------
    HistogramFeatures : Histogram of the unsmoothed pixel values.
    PeakCountFeatures : Local maxima of the smoothed maps.
    MinkowskiFunctionalFeatures : Morphology of the smoothed maps.
    healpy.smoothing : Gaussian smoothing of one map.

    Examples
    --------
    >>> import healpy as hp
    >>> import numpy as np
    >>> from skdeepsphere import MultiScaleHistogramFeatures
    >>> maps = np.random.default_rng(0).standard_normal((3, 768))
    >>> histograms = MultiScaleHistogramFeatures(
    ...     fwhm=(0, 600), bins=[-9, 0, 9], standardize=None, density=False
    ... ).fit(maps)
    >>> features = histograms.transform(maps)
    >>> features.shape
    (3, 4)
    >>> smoothed = hp.smoothing(maps[0], fwhm=np.radians(10), iter=0)
    >>> np.array_equal(features[0, 2:], np.histogram(smoothed, [-9, 0, 9])[0])
    True
    >>> histograms.get_feature_names_out()
    array(['hist_fwhm0_bin_0', 'hist_fwhm0_bin_1', 'hist_fwhm600_bin_0',
           'hist_fwhm600_bin_1'], dtype=object)
    """

    _kind = "histogram"
    _statistic_names = ("hist",)

    _parameter_constraints: dict = {
        **_SmoothedMapFeatures._parameter_constraints,
        "density": ["boolean"],
        "clip": ["boolean"],
    }

    def __init__(
        self,
        fwhm=None,
        *,
        nside=None,
        pixels=None,
        nest=False,
        bins=20,
        range=None,
        standardize="train",
        mask_tolerance=0.01,
        iter=0,
        ignore_masked=False,
        n_jobs=None,
        density=True,
        clip=True,
    ):
        self.fwhm = fwhm
        self.nside = nside
        self.pixels = pixels
        self.nest = nest
        self.bins = bins
        self.range = range
        self.standardize = standardize
        self.mask_tolerance = mask_tolerance
        self.iter = iter
        self.ignore_masked = ignore_masked
        self.n_jobs = n_jobs
        self.density = density
        self.clip = clip


class PeakCountFeatures(_SmoothedMapFeatures):
    """Counts of the peaks of a map smoothed at several scales, by height.

    A peak is a local maximum of the smoothed map: a pixel strictly higher
    than each of its HEALPix neighbours (:func:`healpy.get_all_neighbours`:
    8, or 7 for the 24 pixels at the corners where only three base pixels
    meet). The peaks of each smoothed map are
    counted in bins of height; with ``standardize="train"`` the heights are
    in units of the standard deviation of the smoothed training maps, a
    signal-to-noise ratio for noise-dominated maps. Peak counts are the
    classic summary of weak-lensing convergence maps: they see the massive
    halos that the power spectrum averages out.

    **Mask border.** A peak counts only if its pixel is kept at that scale
    (see ``mask_tolerance``) and all its neighbours are observed: a peak
    whose neighbourhood is partly masked may not be one.

    Parameters
    ----------
    {parameters}

    clip : bool, default=True
        Count peaks beyond the outer edges in the outer bins (the highest
        peaks are the most informative), else leave them out.

    Attributes
    ----------
    {attributes}

    See Also
    --------
    MultiScaleHistogramFeatures : Histograms of the smoothed maps.
    MinkowskiFunctionalFeatures : Morphology of the smoothed maps.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere import PeakCountFeatures
    >>> maps = np.random.default_rng(0).standard_normal((3, 3072))
    >>> peaks = PeakCountFeatures(fwhm=(0, 120), bins=4, range=(0, 4)).fit(maps)
    >>> peaks.transform(maps).shape
    (3, 8)
    >>> peaks.get_feature_names_out()[[0, 4]]
    array(['peaks_fwhm0_bin_0', 'peaks_fwhm120_bin_0'], dtype=object)
    """

    _kind = "peaks"
    _statistic_names = ("peaks",)

    _parameter_constraints: dict = {
        **_SmoothedMapFeatures._parameter_constraints,
        "clip": ["boolean"],
    }

    def __init__(
        self,
        fwhm=None,
        *,
        nside=None,
        pixels=None,
        nest=False,
        bins=20,
        range=None,
        standardize="train",
        mask_tolerance=0.01,
        iter=0,
        ignore_masked=False,
        n_jobs=None,
        clip=True,
    ):
        self.fwhm = fwhm
        self.nside = nside
        self.pixels = pixels
        self.nest = nest
        self.bins = bins
        self.range = range
        self.standardize = standardize
        self.mask_tolerance = mask_tolerance
        self.iter = iter
        self.ignore_masked = ignore_masked
        self.n_jobs = n_jobs
        self.clip = clip


class MinkowskiFunctionalFeatures(_SmoothedMapFeatures):
    r"""Minkowski functionals of the excursion sets of smoothed maps.

    For each scale and each threshold :math:`\nu` (the centres of the bins)
    the excursion set :math:`\{{u > \nu\}}` of the smoothed map :math:`u`
    is described by its area :math:`V_0`, the length of its boundary
    :math:`V_1` and the integrated geodesic curvature of its boundary
    :math:`V_2` (the Euler characteristic up to the area term of
    Gauss-Bonnet), per unit area, as in Schmalzing & Gorski (1998):

    .. math::

        V_0 = \langle \Theta(u - \nu) \rangle, \quad
        V_1 = \tfrac14 \langle \delta(u - \nu)\,|\nabla u| \rangle,
        \quad
        V_2 = \tfrac{{1}}{{2\pi}} \Big\langle \delta(u - \nu)\,
        \frac{{2 u_\theta u_\phi u_{{;\theta\phi}} - u_\theta^2 u_{{;\phi\phi}}
        - u_\phi^2 u_{{;\theta\theta}}}}{{u_\theta^2 + u_\phi^2}} \Big\rangle,

    averages over the kept pixels, with :math:`\delta(u - \nu)` the
    indicator of the bin around :math:`\nu` divided by its width. The
    gradient and the covariant Hessian come from the spherical-harmonic
    coefficients, without finite differences: :func:`healpy.alm2map_der1`
    for the gradient, the Laplacian and a spin-2 synthesis
    (:func:`healpy.alm2map_spin`) for the Hessian. For a Gaussian random
    field their expectations are Tomita's formulas (tested against them).

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    MultiScaleHistogramFeatures : Histograms of the smoothed maps.
    PeakCountFeatures : Local maxima of the smoothed maps.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere import MinkowskiFunctionalFeatures
    >>> maps = np.random.default_rng(0).standard_normal((3, 3072))
    >>> minkowski = MinkowskiFunctionalFeatures(fwhm=(120,), bins=5).fit(maps)
    >>> minkowski.transform(maps).shape
    (3, 15)
    >>> minkowski.get_feature_names_out()[[0, 5, 10]]
    array(['v0_fwhm120_bin_0', 'v1_fwhm120_bin_0', 'v2_fwhm120_bin_0'],
          dtype=object)
    """

    _kind = "minkowski"
    _statistic_names = ("v0", "v1", "v2")
    _band_limited = True

    def __init__(
        self,
        fwhm=None,
        *,
        nside=None,
        pixels=None,
        nest=False,
        bins=20,
        range=None,
        standardize="train",
        mask_tolerance=0.01,
        iter=0,
        ignore_masked=False,
        n_jobs=None,
    ):
        self.fwhm = fwhm
        self.nside = nside
        self.pixels = pixels
        self.nest = nest
        self.bins = bins
        self.range = range
        self.standardize = standardize
        self.mask_tolerance = mask_tolerance
        self.iter = iter
        self.ignore_masked = ignore_masked
        self.n_jobs = n_jobs


for _cls in (MultiScaleHistogramFeatures, PeakCountFeatures, MinkowskiFunctionalFeatures):
    # One text for the parameters the three share (numpydoc needs it in each).
    _cls.__doc__ = _cls.__doc__.format(
        parameters=_SMOOTHING_PARAMETERS, attributes=_SMOOTHING_ATTRIBUTES
    )
del _cls

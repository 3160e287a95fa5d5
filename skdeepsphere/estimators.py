"""DeepSphere graph CNNs as scikit-learn estimators, trained with skorch."""

import functools
import hashlib
import math
import os
import sys
from numbers import Integral, Real

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, LRScheduler
from skorch.dataset import ValidSplit
from skorch.utils import to_tensor

from .graph import laplacian_hierarchy
from .healpix import check_maps, infer_nside, nested_order
from .nn import DeepSphere, PatchCNN2d, RandomBatchRotation
from .nn.sparse import release_blocks
from .streaming import channel_statistics, is_lazy, iter_chunks, lazy_shape
from .training import EpochCheckpoint, MapDataset, load_checkpoint, resume_fit

__all__ = ["SphericalCNNClassifier", "SphericalCNNRegressor", "resolve_device"]


def resolve_device(device):
    """Turn ``"auto"`` into ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, or anything torch accepts (``"cpu"``, ``"cuda:1"``).

    Returns
    -------
    device : str

    Examples
    --------
    >>> from skdeepsphere.estimators import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    if str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


@functools.lru_cache(maxsize=16)
def _cached_hierarchy(nside, pixels_bytes, n_levels, graph, n_neighbors, kernel_width):
    # Grid searches and CV refit on the same geometry many times (and
    # laplacian_hierarchy caches large graphs on disk across processes).
    nested_pixels = None if pixels_bytes is None else np.frombuffer(pixels_bytes, np.int64)
    return laplacian_hierarchy(nside, nested_pixels, n_levels, graph=graph,
                               n_neighbors=n_neighbors, kernel_width=kernel_width)


def _require_y(estimator, y):
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None"
        )
    return y


def _numeric_targets(y):
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"y must hold numbers (regression targets), got {np.asarray(y).dtype} "
            f"values ({error}); for labels use SphericalCNNClassifier"
        ) from None


class _DeepSphereNet(NeuralNet):
    """skorch net that adds fresh Gaussian noise to every training batch.

    DeepSphere's only augmentation: ``noise_std`` holds one standard
    deviation per input channel (in the units the module sees).
    ``rotation``, if given, rotates each training map first (a
    :class:`~skdeepsphere.nn.RandomBatchRotation`).
    """

    def __init__(self, *args, noise_std=None, rotation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.noise_std = noise_std
        self.rotation = rotation

    def train_step_single(self, batch, **fit_params):
        if self.rotation is not None:
            Xi, yi = batch
            # Rotate on the training device: the gather is cheap on a GPU.
            batch = (self.rotation(to_tensor(Xi, device=self.device)), yi)
        if self.noise_std is not None:
            Xi, yi = batch
            std = torch.as_tensor(self.noise_std, dtype=Xi.dtype, device=Xi.device)[:, None]
            batch = (Xi + std * torch.randn_like(Xi), yi)
        return super().train_step_single(batch, **fit_params)


class _SphericalCNNBase(BaseEstimator):
    """Shared geometry, network construction and training loop."""

    _parameter_constraints = {
        "nside": [Interval(Integral, 1, None, closed="left"), None],
        "pixels": ["array-like", None],
        "nest": ["boolean"],
        "graph": [StrOptions({"neighbours", "knn"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left"), None],
        "kernel_width": [Interval(Real, 0, None, closed="neither"), None],
        "architecture": [StrOptions({"fcn", "cnn", "2dcnn"})],
        "channels": [tuple, list],
        "cheb_order": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"max", "avg"})],
        "n_poolings": [Interval(Integral, 0, None, closed="left"), None],
        "statistics": [StrOptions({"mean", "mean_var"})],
        "batch_norm": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_decay": [Interval(Real, 0, 1, closed="right"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "augment_noise": [Interval(Real, 0, None, closed="left")],
        "augment_rotation": ["boolean"],
        "checkpoint": [str, os.PathLike, None],
        "resume": ["boolean"],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        nside=None,
        pixels=None,
        nest=False,
        graph="neighbours",
        n_neighbors=None,
        kernel_width=None,
        architecture="fcn",
        channels=(16, 32, 64, 64),
        cheb_order=5,
        pooling="max",
        n_poolings=None,
        statistics="mean",
        batch_norm=True,
        dropout=0.0,
        max_epochs=20,
        batch_size=32,
        lr=1e-3,
        lr_decay=None,
        weight_decay=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        callbacks=None,
        augment_noise=0.0,
        augment_rotation=False,
        checkpoint=None,
        resume=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.nside = nside
        self.pixels = pixels
        self.nest = nest
        self.graph = graph
        self.n_neighbors = n_neighbors
        self.kernel_width = kernel_width
        self.architecture = architecture
        self.channels = channels
        self.cheb_order = cheb_order
        self.pooling = pooling
        self.n_poolings = n_poolings
        self.statistics = statistics
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.augment_noise = augment_noise
        self.augment_rotation = augment_rotation
        self.checkpoint = checkpoint
        self.resume = resume
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags

    # -- data ------------------------------------------------------------
    def _fit_maps(self, X):
        """Validate training maps, learn the geometry, return nested float32.

        Lazy arrays (:func:`~skdeepsphere.streaming.is_lazy`) are never read
        whole: they come back as a :class:`~skdeepsphere.training.MapDataset`.
        """
        lazy = is_lazy(X)
        maps = X if lazy else check_maps(X, dtype=np.float32)
        _, n_channels, n_pixels = lazy_shape(maps)
        self.nside_, pixels, nest = self._geometry(n_pixels)
        self.pixel_order_, self.nested_pixels_ = nested_order(self.nside_, pixels, nest)
        self.n_channels_ = n_channels
        self.n_features_in_ = n_pixels
        # One mean and scale per channel keeps the maps' spatial statistics
        # (unlike a per-pixel StandardScaler) and makes `lr` scale-free. In
        # blocks, checking each, so that lazy and in-memory maps agree.
        mean, scale = channel_statistics(chunk for _, chunk in iter_chunks(maps))
        self.input_mean_ = mean.astype(np.float32)
        self.input_scale_ = np.where(scale > 0, scale, 1.0).astype(np.float32)
        if lazy:
            return MapDataset(X, self.pixel_order_, self.input_mean_, self.input_scale_)
        return self._standardize(maps[..., self.pixel_order_])

    def _geometry(self, n_pixels):
        """``(nside, pixels, nest)`` of maps with ``n_pixels`` columns.

        The one place that reads the geometry parameters: the tests override
        it to run scikit-learn's checks on tabular data.
        """
        return infer_nside(n_pixels, self.nside, self.pixels), self.pixels, self.nest

    def _full_sky(self):
        return len(self.nested_pixels_) == 12 * self.nside_**2

    def _transform_maps(self, X):
        check_is_fitted(self, "net_")
        lazy = is_lazy(X)
        maps = X if lazy else check_maps(X, dtype=np.float32)
        _, n_channels, n_pixels = lazy_shape(maps)
        if n_pixels != self.n_features_in_:
            # scikit-learn's message: a feature is a pixel here.
            raise ValueError(
                f"X has {n_pixels} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (pixels per map)"
            )
        if n_channels != self.n_channels_:
            raise ValueError(
                f"X has {n_channels} channels, but {type(self).__name__} was "
                f"fitted on {self.n_channels_}"
            )
        if lazy:
            return MapDataset(X, self.pixel_order_, self.input_mean_, self.input_scale_,
                              check_finite=True)
        return self._standardize(maps[..., self.pixel_order_])

    def _standardize(self, maps):
        mean = self.input_mean_[:, None].astype(np.float32)
        return (maps - mean) / self.input_scale_[:, None]

    # -- network ---------------------------------------------------------
    def _build_module(self, n_outputs):
        channels = tuple(int(c) for c in self.channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be positive integers, got {self.channels!r}")
        if self.architecture == "2dcnn":
            return PatchCNN2d(self.nested_pixels_, self.n_channels_, n_outputs,
                              channels=channels, batch_norm=self.batch_norm,
                              dropout=self.dropout)
        max_levels = int(math.log2(self.nside_))
        n_levels = min(len(channels), max_levels) if self.n_poolings is None else self.n_poolings
        if n_levels > max_levels:
            raise ValueError(
                f"n_poolings={n_levels} is too many for nside={self.nside_} "
                f"(at most {max_levels})"
            )
        partial = None if self._full_sky() else self.nested_pixels_.tobytes()
        laplacians, _, parents = _cached_hierarchy(
            self.nside_, partial, n_levels, self.graph, self.n_neighbors,
            None if self.kernel_width is None else float(self.kernel_width))
        return DeepSphere(laplacians, parents, self.n_channels_, n_outputs,
                          channels=channels, cheb_order=self.cheb_order,
                          head=self.architecture, pooling=self.pooling,
                          statistics=self.statistics, batch_norm=self.batch_norm,
                          dropout=self.dropout)

    def _train(self, maps, targets, n_outputs, criterion, stratified):
        device = resolve_device(self.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        callbacks = list(self.callbacks or [])
        if self.lr_decay is not None and self.lr_decay != 1:
            callbacks.append(("lr_decay", LRScheduler(
                policy="ExponentialLR", gamma=self.lr_decay, step_every="batch")))
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(self.validation_fraction, stratified=stratified,
                                     random_state=seed)
            callbacks.append(("early_stopping", EarlyStopping(
                patience=self.n_iter_no_change, load_best=True)))
        fingerprint = None
        if self.checkpoint is not None:
            fingerprint = self._checkpoint_fingerprint(targets)
            callbacks.append(("checkpoint", EpochCheckpoint(self.checkpoint, fingerprint)))
        noise_std = None
        if self.augment_noise > 0:
            noise_std = (self.augment_noise / self.input_scale_).astype(np.float32)
        rotation = None
        if self.augment_rotation:
            if not self._full_sky():
                raise ValueError(
                    "augment_rotation=True needs full-sky maps: a rotation moves "
                    "pixels out of a partial sky; use pixels=None"
                )
            rotation = RandomBatchRotation(self.nside_, random_state=seed)
        fork = [torch.cuda.current_device()] if device.startswith("cuda") else []
        with torch.random.fork_rng(devices=fork):
            torch.manual_seed(seed)
            self.net_ = _DeepSphereNet(
                module=self._build_module(n_outputs),
                criterion=criterion,
                optimizer=torch.optim.Adam,
                optimizer__weight_decay=self.weight_decay,
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                iterator_train__shuffle=True,
                train_split=train_split,
                callbacks=callbacks or None,
                device=device,
                verbose=self.verbose,
                noise_std=noise_std,
                rotation=rotation,
            )
            if isinstance(maps, MapDataset):
                maps.targets = targets
            checkpoint = None
            if self.resume and self.checkpoint is not None:
                checkpoint = load_checkpoint(self.checkpoint, fingerprint)
            try:
                if checkpoint is None:
                    self.net_.fit(maps, targets)
                else:
                    resume_fit(self.net_, checkpoint, maps, targets, self.max_epochs)
            finally:
                release_blocks()
        self.n_epochs_ = len(self.net_.history)
        return self

    def _checkpoint_fingerprint(self, targets):
        """What a checkpoint must match to be resumed: data and hyperparameters."""
        ignored = {"checkpoint", "resume", "max_epochs", "callbacks", "verbose", "device"}
        params = sorted((name, value) for name, value in self.get_params(deep=False).items()
                        if name not in ignored)
        with np.printoptions(threshold=sys.maxsize):
            digest = hashlib.sha256((repr(params) + repr(np.asarray(targets))).encode())
        return {"estimator": type(self).__name__, "n_samples": len(targets),
                "n_channels": int(self.n_channels_), "n_pixels": int(self.n_features_in_),
                "input_mean": self.input_mean_.tolist(),
                "input_scale": self.input_scale_.tolist(),
                "params_and_targets": digest.hexdigest()}

    def _forward(self, X):
        """Raw network outputs as a float64 numpy array."""
        maps = self._transform_maps(X)
        try:
            return self.net_.forward(maps).detach().cpu().numpy().astype(np.float64)
        finally:
            release_blocks()


_PARAMETERS_DOC = """
    Parameters
    ----------
    nside : int, default=None
        HEALPix resolution. Inferred from the number of pixels on a full
        sky; required with ``pixels``.
    pixels : array-like of int, default=None
        Indices (in the ordering given by ``nest``) of the observed pixels,
        one per column of the maps, for a partial sky. ``None``: full sky.
    nest : bool, default=False
        Ordering of the maps (and of ``pixels``): NESTED if True, else RING
        as in healpy. Maps are reordered to nested once, internally.
    graph : {"neighbours", "knn"}, default="neighbours"
        The pixel graph at every pooling level (see
        :func:`skdeepsphere.graph.healpix_weights`): ``"neighbours"``, the
        8 HEALPix neighbours of DeepSphere v1; ``"knn"``, the
        ``n_neighbors``-nearest-neighbour graph of DeepSphere v2.
    n_neighbors : int, default=None
        k of ``graph="knn"`` (``None``: 20). DeepSphere v2 uses 8, 20 or 40:
        more neighbours, more rotation equivariant and slower.
        ``graph="neighbours"`` accepts only ``None`` or 8.
    kernel_width : float, default=None
        Width :math:`t` of the weights :math:`\\exp(-d^2 / 4t)` (squared
        chord distance on the unit sphere), used at every level. ``None``:
        the tuned :func:`skdeepsphere.graph.knn_kernel_width` of each
        level's nside for ``"knn"``, half the mean squared edge length for
        ``"neighbours"``.
    architecture : {"fcn", "cnn", "2dcnn"}, default="fcn"
        ``"fcn"``: DeepSphere's fully convolutional network ending in a
        global statistic (rotation invariant); ``"cnn"``: graph convolutions
        and a dense head on the coarsest feature maps; ``"2dcnn"``: the
        paper's baseline, an ordinary ``Conv2d`` network on a nested square
        patch (``pixels`` must be one, e.g. from
        :func:`skdeepsphere.healpix.patch_pixels`).
    channels : tuple of int, default=(16, 32, 64, 64)
        Widths of the convolution blocks. The paper's cosmology FCN uses
        ``(16, 32, 64, 64, 64)``.
    cheb_order : int, default=5
        Chebyshev polynomial order K (filters reach K - 1 neighbours).
    pooling : {"max", "avg"}, default="max"
        Pooling of nested groups of 4 pixels after each block.
    n_poolings : int, default=None
        Number of poolings (``nside`` halves at each); ``None`` pools after
        every block while ``nside > 1``.
    statistics : {"mean", "mean_var"}, default="mean"
        Global statistics of the FCN head: a last graph convolution
        averaged over pixels (``"mean"``, the paper's), or mean and
        variance of each feature map followed by a linear layer.
    batch_norm : bool, default=True
        Batch normalisation after each convolution.
    dropout : float, default=0.0
        Dropout before the dense layer.
    max_epochs : int, default=20
        Passes over the training data.
    batch_size : int, default=32
    lr : float, default=1e-3
        Learning rate of Adam.
    lr_decay : float, default=None
        Multiply the learning rate by this after every batch (the paper:
        0.999 with ``lr=2e-4``).
    weight_decay : float, default=0.0
        L2 penalty of Adam.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training maps and stop when
        the validation loss has not improved for ``n_iter_no_change``
        epochs, restoring the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks (checkpoints, progress bars, schedulers).
    augment_noise : float, default=0.0
        Standard deviation, in the units of the maps, of fresh Gaussian
        noise added to every training batch (DeepSphere's augmentation).
    augment_rotation : bool, default=False
        Rotate every training map by a fresh uniformly random rotation at
        every epoch (bilinear resampling, see
        :mod:`skdeepsphere.rotation`), to learn rotation invariance from
        maps seen in one orientation. Full sky only (``pixels=None``);
        the rotations are seeded by ``random_state``.
    checkpoint : str or path-like, default=None
        Folder where, after every epoch, the parameters, optimizer state,
        history and random state are saved (see
        :class:`skdeepsphere.training.EpochCheckpoint`). ``None``: no
        checkpoints.
    resume : bool, default=False
        With ``checkpoint``: if the folder holds a checkpoint, ``fit``
        continues from its last completed epoch (same optimizer state and
        random state) up to ``max_epochs`` instead of starting over; pass the
        same ``X`` and ``y`` as the interrupted fit. Without a checkpoint,
        ``fit`` starts from scratch, so a job can always be restarted with
        ``resume=True``.
    device : str, default="auto"
        ``"auto"`` picks ``"cuda"`` when a GPU is visible, else ``"cpu"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, batch order and augmentation noise: fits on CPU with
        the same seed are identical.
    verbose : int, default=0
        Print one line of skorch's log per epoch if > 0.
"""

_ATTRIBUTES_DOC = """
    net_ : skorch.NeuralNet
        The trained skorch net: ``net_.history`` holds the loss per epoch,
        ``net_.module_`` the torch model.
    nside_ : int
        Resolution of the maps.
    nested_pixels_ : ndarray of int
        Sorted nested indices of the pixels the model sees.
    pixel_order_ : ndarray of int
        Permutation that reorders input columns to ``nested_pixels_``.
    n_features_in_ : int
        Pixels per map.
    n_channels_ : int
        Channels per map.
    input_mean_, input_scale_ : ndarray of shape (`n_channels_`,)
        Per-channel standardisation of the maps learned in ``fit``.
    n_epochs_ : int
        Epochs actually run."""


class SphericalCNNClassifier(ClassifierMixin, _SphericalCNNBase):
    __doc__ = """DeepSphere graph CNN classifier of HEALPix maps.

    Chebyshev graph convolutions on the HEALPix pixel graph with hierarchical
    pooling (Perraudin et al. 2019), trained with cross-entropy through
    skorch. Maps have shape ``(n_samples, n_pixels)`` or
    ``(n_samples, n_channels, n_pixels)``, full sky or a partial sky given
    by ``pixels``.
""" + _PARAMETERS_DOC + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (any labels ``numpy.unique`` can sort, strings too).
""" + _ATTRIBUTES_DOC + """

    See Also
    --------
    SphericalCNNRegressor : The same networks for regression.
    skdeepsphere.HistogramFeatures : Baseline features for an SVM.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere import SphericalCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 20)
    >>> maps = rng.normal(size=(40, 768)) * (1 + y[:, None])
    >>> clf = SphericalCNNClassifier(channels=(8, 8), max_epochs=5, random_state=0)
    >>> clf.fit(maps, y).predict_proba(maps[:2]).shape
    (2, 2)
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on maps ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : SphericalCNNClassifier
        """
        y = column_or_1d(_require_y(self, y), warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) == 1:
            raise ValueError(
                f"the classifier needs samples of at least 2 classes, got 1 class: "
                f"{encoder.classes_.tolist()[0]!r}"
            )
        maps = self._fit_maps(X)
        if len(y) != len(maps):
            raise ValueError(f"X has {len(maps)} maps but y has {len(y)} labels")
        self.classes_ = encoder.classes_
        targets = encoder.transform(y).astype(np.int64)
        return self._train(maps, targets, len(self.classes_),
                           torch.nn.CrossEntropyLoss, stratified=True)

    def predict_proba(self, X):
        """Class probabilities of maps ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return softmax(self._forward(X), axis=1)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        return log_softmax(self._forward(X), axis=1)

    def decision_function(self, X):
        """Raw scores (logits) of maps ``X``; shape (n_samples,) for 2 classes."""
        scores = self._forward(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X):
        """Most probable class of each map.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        scores = self._forward(X)
        return self.classes_[np.argmax(scores, axis=1)]


class SphericalCNNRegressor(RegressorMixin, _SphericalCNNBase):
    __doc__ = """DeepSphere graph CNN regressor of HEALPix maps.

    The networks of :class:`SphericalCNNClassifier` with one output per
    target, trained on the mean squared error of internally standardised
    targets (e.g. two cosmological parameters from multi-channel maps).
""" + _PARAMETERS_DOC + """
    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    target_mean_, target_scale_ : ndarray of shape (`n_outputs_`,)
        Standardisation of the targets learned in ``fit``.
    y_ndim_ : int
        Dimensions of the ``y`` given to ``fit``: ``predict`` returns the
        same (1 or 2).
""" + _ATTRIBUTES_DOC + """

    See Also
    --------
    SphericalCNNClassifier : The same networks for classification.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere import SphericalCNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> y = rng.uniform(1, 2, size=40)
    >>> maps = rng.normal(size=(40, 768)) * y[:, None]
    >>> reg = SphericalCNNRegressor(channels=(8, 8), max_epochs=5, random_state=0)
    >>> reg.fit(maps, y).predict(maps[:3]).shape
    (3,)
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on maps ``X`` with targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : SphericalCNNRegressor
        """
        y = _numeric_targets(_require_y(self, y))
        maps = self._fit_maps(X)
        if y.ndim not in (1, 2) or len(y) != len(maps):
            raise ValueError(
                f"y must have shape ({len(maps)},) or ({len(maps)}, n_targets), "
                f"got {y.shape}"
            )
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinite values")
        self.y_ndim_ = y.ndim
        targets = y.reshape(len(y), -1)
        self.n_outputs_ = targets.shape[1]
        self.target_mean_ = targets.mean(axis=0)
        scale = targets.std(axis=0)
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        targets = ((targets - self.target_mean_) / self.target_scale_).astype(np.float32)
        return self._train(maps, targets, self.n_outputs_, torch.nn.MSELoss,
                           stratified=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n_samples, n_targets)
        return tags

    def predict(self, X):
        """Predicted targets of maps ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        prediction = self._forward(X) * self.target_scale_ + self.target_mean_
        return prediction[:, 0] if self.y_ndim_ == 1 else prediction

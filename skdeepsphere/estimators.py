"""DeepSphere graph CNNs as scikit-learn estimators, trained with skorch."""

import hashlib
import inspect
import math
import os
import sys
from numbers import Integral, Real

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_feature_names, check_is_fitted, column_or_1d
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, LRScheduler, PrintLog, ProgressBar
from skorch.dataset import ValidSplit
from skorch.utils import Ansi, to_tensor

from . import _cache
from . import graph as graph_module
from .distributed import (accelerated_net_class, convert_batch_norm, make_accelerator,
                          raise_together, sharded_channel_statistics)
from ._dense_targets import dense_labels, dense_values
from .checkpoints import EpochCheckpoint, load_checkpoint, resume_fit
from .healpix import check_maps, infer_nside, nested_order
from .metrics import masked_r2_score, mean_iou
from .nn import DeepSphere, MaskedMSELoss, PatchCNN2d, RandomBatchRotation, SphericalUNet
from .streaming import (MapDataset, channel_statistics, is_lazy, iter_chunks, lazy_shape,
                        merge_moments)

__all__ = ["SphericalCNNClassifier", "SphericalCNNRegressor", "resolve_device"]


def resolve_device(device):
    """Turn ``"auto"`` into ``"cuda"`` when a GPU is visible, else ``"cpu"``,
    and check that any other device exists.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, or anything torch accepts (``"cpu"``, ``"cuda:1"``).

    Returns
    -------
    device : str

    Raises
    ------
    ValueError
        If ``device`` is not a torch device name (e.g. ``"gpu"``), or names
        a CUDA (or MPS) device that this machine does not have.

    Examples
    --------
    >>> from skdeepsphere.estimators import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device='gpu' is not a torch device: use 'auto', 'cpu', 'cuda' or 'cuda:<index>'
    """
    if str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a torch device: use 'auto', 'cpu', 'cuda' or "
            "'cuda:<index>'"
        ) from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device={device!r} but torch sees no CUDA GPU "
                "(torch.cuda.is_available() is False): use device='cpu', or "
                "device='auto' to take a GPU only when there is one"
            )
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"device={device!r} but torch sees {count} CUDA GPU(s)")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} but the MPS backend is not available")
    return str(device)


class _TorchDevice(Options):
    """``"auto"`` or a name torch parses as a device (checked to exist in fit).

    An :class:`Options` only because sklearn's validation accepts no other
    constraint classes; the options are open-ended.
    """

    def __init__(self):
        super().__init__(str, {"auto"})

    def is_satisfied_by(self, val):
        if not isinstance(val, (str, torch.device)):
            return False
        if str(val) == "auto":
            return True
        try:
            torch.device(val)
        except (RuntimeError, TypeError, ValueError):
            return False
        return True

    def __str__(self):
        return "'auto' or a torch device such as 'cpu', 'cuda' or 'cuda:1'"


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


def _print_nothing(*args, **kwargs):
    """The log sink of all processes but the first in a distributed fit."""


class _DeepSphereNet(NeuralNet):
    """skorch net with DeepSphere's augmentation and a trustworthy eval mode.

    - Training batches are augmented by :meth:`augment`: ``rotation``, if
      given, rotates each map (a
      :class:`~skdeepsphere.nn.RandomBatchRotation`), then fresh
      Gaussian noise of ``noise_std`` (one standard deviation per input
      channel, in the units the module sees) is added.
    - After the training phase of every epoch, the BatchNorm statistics are
      recomputed over (up to ``n_calibration_maps``) training maps with the
      final weights of that epoch (:func:`_precise_batch_norm`), so that
      validation, checkpoints, early stopping and ``predict`` see the
      network that training reported.
    - A non-finite loss or weight stops training with a ValueError.
    - A last training batch of one map is dropped (BatchNorm cannot train
      on one value per channel, which a one-pixel level gives).
    """

    def __init__(self, *args, noise_std=None, rotation=None, n_calibration_maps=512,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.noise_std = noise_std
        self.rotation = rotation
        self.n_calibration_maps = n_calibration_maps

    def get_default_callbacks(self):
        return [(name, _PlainPrintLog() if name == "print_log" else callback)
                for name, callback in super().get_default_callbacks()]

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if training and len(dataset) % iterator.batch_size == 1 and len(dataset) > 1:
            kwargs = self.get_params_for("iterator_train")
            kwargs.setdefault("batch_size", self.batch_size)
            iterator = self.iterator_train(dataset, **{**kwargs, "drop_last": True})
        return iterator

    def augment(self, Xi):
        """The training-time transformation of a batch of maps."""
        if self.rotation is not None:
            # Rotate on the training device: the gather is cheap on a GPU.
            Xi = self.rotation(to_tensor(Xi, device=self.device))
        if self.noise_std is not None:
            std = torch.as_tensor(self.noise_std, dtype=Xi.dtype, device=Xi.device)[:, None]
            Xi = Xi + std * torch.randn_like(Xi)
        return Xi

    def add_fixed_noise(self, Xi, generator):
        """``Xi`` plus noise of ``noise_std`` drawn from ``generator``.

        Validation maps and the maps of the predict-mode score get the
        augmentation noise too (the same draw at every epoch), so that they
        are scored as the noisy maps the network is trained for.
        """
        Xi = to_tensor(Xi, device=self.device)
        if self.noise_std is None:
            return Xi
        std = torch.as_tensor(self.noise_std, dtype=Xi.dtype, device=Xi.device)[:, None]
        noise = torch.randn(Xi.shape, generator=generator, dtype=Xi.dtype)
        return Xi + std * noise.to(Xi.device)

    def validation_step(self, batch, **fit_params):
        Xi, yi = batch
        return super().validation_step((self.add_fixed_noise(Xi, self._validation_noise),
                                        yi), **fit_params)

    def train_step_single(self, batch, **fit_params):
        Xi, yi = batch
        step = super().train_step_single((self.augment(Xi), yi), **fit_params)
        if not torch.isfinite(step["loss"]):
            raise ValueError(
                f"training diverged: the loss became {step['loss'].item()} in epoch "
                f"{len(self.history)}. Lower the learning rate lr={self.lr!r} or check "
                "the scale of the maps and targets."
            )
        return step

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        # The same noise for the validation maps at every epoch (not kept:
        # a torch Generator on the net would not pickle).
        self._validation_noise = torch.Generator().manual_seed(0)
        try:
            super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        finally:
            del self._validation_noise
        if not training or iterator is None:
            return
        if not all(torch.isfinite(p).all() for p in self.module_.parameters()):
            raise ValueError(
                f"training diverged: non-finite weights after epoch {len(self.history)}. "
                f"Lower the learning rate lr={self.lr!r}."
            )
        dataset = iterator.dataset
        indices = _fixed_subsample(len(dataset), self.n_calibration_maps,
                                   avoid_remainder=self.batch_size)
        batches = self.get_iterator(torch.utils.data.Subset(dataset, indices),
                                    training=False)
        # The noise augmentation is part of the input distribution the
        # weights were trained for (and of noisy test maps: DeepSphere's
        # protocol); rotations only resample maps whose statistics do not
        # depend on orientation, so they are left out.
        rotation, self.rotation = self.rotation, None
        try:
            _precise_batch_norm(self.module_, (self.augment(to_tensor(Xi, device=self.device))
                                               for Xi, _ in batches))
        finally:
            self.rotation = rotation


def _fixed_subsample(n, max_size, avoid_remainder=None):
    """Evenly spaced indices of at most ``max_size`` of ``n`` items.

    With ``avoid_remainder``, one index fewer when batches of that size
    would end with a batch of one map.
    """
    size = min(n, max_size)
    if avoid_remainder and size > 1 and size % avoid_remainder == 1:
        size -= 1
    return np.unique(np.linspace(0, n - 1, size).round().astype(np.int64))


def _precise_batch_norm(module, batches):
    """Set BatchNorm running statistics to their exact population values.

    Running averages with momentum describe the weights of many steps ago,
    and start from mean 0, variance 1: after few optimizer steps they can
    be far from the statistics of the final weights, and ``predict`` (eval
    mode) then computes something that was never trained, typically one
    class for every map. Here every BatchNorm layer sees ``batches`` in
    train mode (as in training, the layers before it normalise with batch
    statistics) and its running mean and variance become the mean and
    unbiased variance of all its inputs, pooled over maps and pixels.

    Parameters
    ----------
    module : torch.nn.Module
    batches : iterable of torch.Tensor
        Input batches, already augmented as in training.
    """
    layers = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return
    # With momentum 1, a layer's running statistics after a forward pass are
    # the mean and unbiased variance of that one batch: read them after each
    # batch and merge (Chan et al.). No hooks stay on the layers, so the
    # fused BatchNorm kernels run as in training; one hook on the first
    # batch counts the values per channel that a map contributes.
    values_per_map = {}

    def count(layer, inputs):
        values_per_map[layer] = inputs[0].numel() // (inputs[0].shape[0] * inputs[0].shape[1])

    saved = [(layer.momentum, layer.running_mean.clone(), layer.running_var.clone(),
              None if layer.num_batches_tracked is None else layer.num_batches_tracked.clone())
             for layer in layers]
    moments = {layer: [] for layer in layers}
    was_training = module.training
    try:
        # eval mode except for BatchNorm: no dropout in the statistics.
        module.eval()
        for layer in layers:
            layer.train()
            layer.momentum = 1.0
        with torch.no_grad():
            for Xi in batches:
                hooks = ([] if values_per_map else
                         [layer.register_forward_pre_hook(count) for layer in layers])
                try:
                    module(Xi)
                finally:
                    for hook in hooks:
                        hook.remove()
                for layer in layers:
                    if layer in values_per_map:
                        n = len(Xi) * values_per_map[layer]
                        moments[layer].append(
                            (n, layer.running_mean.double().cpu().numpy(),
                             layer.running_var.double().cpu().numpy() * (n - 1)))
    finally:
        module.train(was_training)
        for layer, (momentum, mean, var, tracked) in zip(layers, saved):
            layer.momentum = momentum
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
            if tracked is not None:
                layer.num_batches_tracked.copy_(tracked)
    for layer in layers:
        total, mean, m2 = merge_moments(moments[layer])
        if total == 0:
            continue
        layer.running_mean.copy_(torch.as_tensor(mean, dtype=layer.running_mean.dtype))
        layer.running_var.copy_(torch.as_tensor(np.maximum(m2 / max(total - 1, 1), 0),
                                                dtype=layer.running_var.dtype))
        if layer.num_batches_tracked is not None:
            layer.num_batches_tracked.add_(1)


class _PlainPrintLog(PrintLog):
    """skorch's epoch table, with colours only when printed to a terminal."""

    def format_row(self, row, key, color):
        if self.sink is print and not sys.stdout.isatty():
            color = ""
            return str(super().format_row(row, key, color)).replace(Ansi.ENDC.value, "")
        return super().format_row(row, key, color)


class _PredictModeScore(Callback):
    """Record a predict-mode (eval) metric after every epoch.

    On the validation split when there is one (``valid_<name>``), else on
    a fixed subsample of at most ``max_maps`` training maps
    (``train_<name>``), with the network exactly as ``predict`` uses it:
    a collapse to one class shows at the epoch it happens. With noise
    augmentation the maps get a fixed draw of that noise.
    """

    def __init__(self, name, score, max_maps=256):
        self.name = name
        self.score = score
        self.max_maps = max_maps

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if dataset_valid is not None:
            key, dataset = f"valid_{self.name}", dataset_valid
        else:
            key = f"train_{self.name}"
            dataset = torch.utils.data.Subset(
                dataset_train, _fixed_subsample(len(dataset_train), self.max_maps))
        outputs, targets = [], []
        generator = torch.Generator().manual_seed(1)
        for Xi, yi in net.get_iterator(dataset, training=False):
            Xi = net.add_fixed_noise(Xi, generator)
            outputs.append(net.evaluation_step((Xi, yi)).detach().cpu().numpy())
            targets.append(np.asarray(yi))
        outputs = np.concatenate(outputs)
        if not np.all(np.isfinite(outputs)):
            # Finite but huge weights can still overflow in the forward pass:
            # predict would return NaN.
            raise ValueError(
                f"training diverged: the network's outputs in predict mode became "
                f"non-finite after epoch {len(net.history)}. Lower the learning rate "
                f"lr={net.lr!r} or check the scale of the maps and targets."
            )
        value = float(self.score(np.concatenate(targets), outputs))
        previous = [row[key] for row in net.history[:-1] if key in row]
        net.history.record(key, value)
        net.history.record(key + "_best", not previous or value > max(previous))


#: The cosine schedules of ``lr_decay``: the fraction of the batches at
#: the full rate before the half cosine starts.
_COSINE_STARTS = {"cosine": 0.0, "late_cosine": 0.75}


class _CosineLR(Callback):
    """Cosine annealing of the learning rate to 0 over ``max_epochs``, per batch.

    With ``start`` > 0 the learning rate stays at ``lr`` for that fraction
    of the batches and the half cosine spans the rest. The position is read
    from the history (batches of past epochs), so a resumed fit goes on
    where the interrupted one stopped.
    """

    def __init__(self, lr, max_epochs, start=0.0):
        self.lr = lr
        self.max_epochs = max_epochs
        self.start = start

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        iterator = net.get_iterator(dataset_train, training=True)
        self.total_ = max(self.max_epochs * len(iterator), 1)
        self.step_ = sum(row.get("train_batch_count", 0) for row in net.history[:-1])

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        constant = self.start * self.total_
        position = max(self.step_ - constant, 0) / max(self.total_ - constant, 1)
        lr = 0.5 * self.lr * (1 + math.cos(math.pi * min(position, 1)))
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
        self.step_ += 1

def _accuracy(targets, scores):
    # Per-pixel labels of the U-Net: masked pixels carry a negative ignore index.
    observed = targets >= 0
    return np.mean(np.argmax(scores, axis=1)[observed] == targets[observed])


def _r2(targets, predictions):
    if targets.ndim > 2:  # maps of the U-Net, NaN where masked
        return masked_r2_score(targets, predictions)
    return r2_score(targets.reshape(len(targets), -1), predictions)


class _SphericalCNNBase(BaseEstimator):
    """Shared geometry, network construction and training loop."""

    _parameter_constraints = {
        "nside": [Interval(Integral, 1, None, closed="left"), None],
        "pixels": ["array-like", None],
        "nest": ["boolean"],
        "graph": [StrOptions({"neighbours", "knn"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left"), None],
        "kernel_width": [Interval(Real, 0, None, closed="neither"), None],
        "architecture": [StrOptions({"fcn", "cnn", "2dcnn", "unet"})],
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
        "lr_decay": [Interval(Real, 0, 1, closed="right"),
                     StrOptions(set(_COSINE_STARTS)), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "augment_noise": [Interval(Real, 0, None, closed="left")],
        "augment_rotation": ["boolean", StrOptions({"grid"})],
        "checkpoint": [str, os.PathLike, None],
        "resume": ["boolean"],
        "device": [_TorchDevice()],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "distributed": ["boolean"],
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
        statistics="mean_var",
        batch_norm=True,
        dropout=0.0,
        max_epochs=40,
        batch_size=32,
        lr=3e-3,
        lr_decay="late_cosine",
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
        distributed=False,
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
        self.distributed = distributed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags

    # -- data ------------------------------------------------------------
    def _fit_maps(self, X):
        """Validate training maps, learn the geometry, return nested float32.

        Lazy arrays (:func:`~skdeepsphere.streaming.is_lazy`) are never read
        whole: they come back as a :class:`~skdeepsphere.streaming.MapDataset`.
        """
        resolve_device(self.device)  # a missing GPU fails now, not after the data pass
        _check_feature_names(self, X, reset=True)
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
        if lazy and self.distributed:
            mean, scale = sharded_channel_statistics(maps, resolve_device(self.device))
        else:
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
        _check_feature_names(self, X, reset=False)
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
                              validate=True)
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
        unet = self.architecture == "unet"
        # A U-Net's last block is its bottom: one pooling fewer than blocks.
        n_levels = (min(len(channels) - unet, max_levels) if self.n_poolings is None
                    else self.n_poolings)
        if n_levels > max_levels:
            raise ValueError(
                f"n_poolings={n_levels} is too many for nside={self.nside_} "
                f"(at most {max_levels})"
            )
        partial = None if self._full_sky() else self.nested_pixels_.tobytes()
        laplacians, _, parents = _cache.laplacian_hierarchy(
            graph_module.laplacian_hierarchy, self.nside_, partial, n_levels, self.graph, self.n_neighbors,
            None if self.kernel_width is None else float(self.kernel_width))
        if unet:
            return SphericalUNet(laplacians, parents, self.n_channels_, n_outputs,
                                 channels=channels, cheb_order=self.cheb_order,
                                 pooling=self.pooling, batch_norm=self.batch_norm,
                                 dropout=self.dropout)
        return DeepSphere(laplacians, parents, self.n_channels_, n_outputs,
                          channels=channels, cheb_order=self.cheb_order,
                          head=self.architecture, pooling=self.pooling,
                          statistics=self.statistics, batch_norm=self.batch_norm,
                          dropout=self.dropout)

    def _make_net(self, n_outputs, device, criterion=None, net_class=None, **training):
        """The skorch net of this estimator, not initialised.

        The one place the network is built: ``fit`` adds the ``training``
        settings (epochs, callbacks, augmentation), and
        :func:`~skdeepsphere.persistence.load_estimator` builds the net of a
        saved estimator with none before loading its weights.
        """
        return (net_class or _DeepSphereNet)(
            module=self._build_module(n_outputs),
            criterion=self._criterion if criterion is None else criterion,
            optimizer=torch.optim.Adam,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            batch_size=self.batch_size,
            device=device,
            torch_load_kwargs={"weights_only": True},
            **training,
        )

    def _train(self, maps, targets, n_outputs, stratified, metric, criterion=None):
        # A failed fit leaves no network behind that could predict NaN.
        self.__dict__.pop("net_", None)
        device = resolve_device(self.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        net_class, net_options, rank = None, {}, 0
        if self.distributed:
            net_class, net_options, rank = self._distributed_net(device, seed)
            device = net_options.pop("device")
        # First, so that checkpoints and early stopping see the epoch's score.
        callbacks = [("predict_mode_score", _PredictModeScore(*metric))]
        callbacks += list(self.callbacks or [])
        if self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        if self.lr_decay in _COSINE_STARTS:
            callbacks.append(("lr_decay", _CosineLR(self.lr, self.max_epochs,
                                                    start=_COSINE_STARTS[self.lr_decay])))
        elif self.lr_decay is not None and self.lr_decay != 1:
            callbacks.append(("lr_decay", LRScheduler(
                policy="ExponentialLR", gamma=self.lr_decay, step_every="batch")))
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(self.validation_fraction, stratified=stratified,
                                     random_state=seed)
            callbacks.append(("early_stopping", EarlyStopping(
                patience=self.n_iter_no_change, load_best=True)))
        saver = None
        if self.checkpoint is not None:
            saver = EpochCheckpoint(self.checkpoint, self._checkpoint_fingerprint(targets))
            if rank == 0:  # one writer: the other processes hold the same weights
                callbacks.append(("checkpoint", saver))
        noise_std = None
        if self.augment_noise > 0:
            noise_std = (self.augment_noise / self.input_scale_).astype(np.float32)
        rotation = None
        if self.augment_rotation:
            if not self._full_sky():
                raise ValueError(
                    f"augment_rotation={self.augment_rotation!r} needs full-sky maps: a "
                    "rotation moves pixels out of a partial sky; use pixels=None"
                )
            rotation = RandomBatchRotation(
                self.nside_, random_state=seed + rank,
                rotations="grid" if self.augment_rotation == "grid" else "uniform")
        fork = [torch.cuda.current_device()] if device.startswith("cuda") else []
        with torch.random.fork_rng(devices=fork):
            torch.manual_seed(seed)
            net = self._make_net(
                n_outputs,
                device,
                criterion=criterion,
                net_class=net_class,
                max_epochs=self.max_epochs,
                iterator_train__shuffle=True,
                train_split=train_split,
                callbacks=callbacks or None,
                verbose=self.verbose,
                noise_std=noise_std,
                rotation=rotation,
                **net_options,
            )
            if self.distributed:
                convert_batch_norm(net.module)
                # Same weights everywhere (DDP also broadcasts them), but each
                # process draws its own augmentation noise.
                torch.manual_seed(seed + rank)
            if isinstance(maps, MapDataset):
                maps.targets = targets
            try:
                checkpoint = None if saver is None else self._open_checkpoint(saver, rank)
                if checkpoint is None:
                    net.fit(maps, targets)
                else:
                    resume_fit(net, checkpoint, maps, targets, self.max_epochs)
                if self.distributed:
                    # After the callbacks (early stopping restores weights
                    # saved from the wrapped module).
                    net._unwrap_accelerator()
            finally:
                if saver is not None:
                    saver.close()
        self.net_ = net
        self.n_epochs_ = len(self.net_.history)
        return self

    def _open_checkpoint(self, saver, rank):
        """Claim the checkpoint folder before any epoch; the checkpoint to resume."""
        error = None
        if rank == 0:
            try:
                saver.open()  # claimed, locked and test-written
            except (OSError, ValueError) as caught:
                error = caught
        if self.distributed:
            raise_together(error)
        elif error is not None:
            raise error
        if not self.resume:
            return None
        return saver.latest() if rank == 0 else load_checkpoint(saver.dirname, saver.fingerprint)

    def _distributed_net(self, device, seed):
        """Net class, its options and this process's rank (``distributed=True``)."""
        accelerator = make_accelerator(device)
        n_processes = accelerator.num_processes
        if self.batch_size % n_processes:
            raise ValueError(
                f"batch_size={self.batch_size} is the global batch and must be a "
                f"multiple of the {n_processes} processes of this launch"
            )
        options = {
            "accelerator": accelerator,
            "device": str(accelerator.device),
            "unwrap_after_train": False,
            # skorch's own print honours `verbose`; one process prints.
            "callbacks__print_log__sink": print if accelerator.is_main_process
            else _print_nothing,
            # The batch order of a seeded generator, which accelerate keeps in
            # step across processes: the same batches as one process draws.
            "iterator_train__generator": torch.Generator().manual_seed(seed),
        }
        return (accelerated_net_class(_DeepSphereNet), options,
                accelerator.process_index)

    def _checkpoint_fingerprint(self, targets):
        """What a checkpoint must match to be resumed: data and hyperparameters."""
        ignored = {"checkpoint", "resume", "max_epochs", "callbacks", "verbose", "device"}
        params = sorted((name, value) for name, value in self.get_params(deep=False).items()
                        if name not in ignored)
        targets = np.asarray(targets)
        if targets.ndim > 2 or self.architecture == "unet":
            # Maps of targets: hash the bytes, their repr would be huge.
            digest = hashlib.sha256(repr(params).encode() + repr(targets.shape).encode())
            digest.update(np.ascontiguousarray(targets).tobytes())
        else:
            with np.printoptions(threshold=sys.maxsize):
                digest = hashlib.sha256((repr(params) + repr(targets)).encode())
        return {"estimator": type(self).__name__, "n_samples": len(targets),
                "n_channels": int(self.n_channels_), "n_pixels": int(self.n_features_in_),
                "input_mean": self.input_mean_.tolist(),
                "input_scale": self.input_scale_.tolist(),
                "params_and_targets": digest.hexdigest()}

    def _forward(self, X):
        """Raw network outputs as a float64 numpy array.

        Per-pixel outputs (U-Net) come back in the user's pixel order.
        """
        maps = self._transform_maps(X)
        out = self.net_.forward(maps).detach().cpu().numpy().astype(np.float64)
        if out.ndim == 3:
            inverse = np.empty_like(self.pixel_order_)
            inverse[self.pixel_order_] = np.arange(len(inverse))
            out = out[..., inverse]
        return out

    def _dense_output(self):
        """Whether the fitted network predicts maps (a U-Net)."""
        return isinstance(self.net_.module_, SphericalUNet)

    def _nested_targets(self, targets):
        """Per-pixel targets reordered like the maps (sorted nested)."""
        return np.ascontiguousarray(targets[..., self.pixel_order_])

    def _check_dense_options(self):
        if self.augment_rotation:
            raise ValueError(
                f"augment_rotation={self.augment_rotation!r} is not supported with "
                "architecture='unet': "
                "the per-pixel targets would have to be rotated with the maps"
            )


_PARAMETERS_DOC = """
    Parameters
    ----------
    nside : int, default=None
        HEALPix resolution. Inferred from the number of pixels on a full
        sky; required with ``pixels``.
    pixels : array-like of int, default=None
        Indices (in the ordering given by ``nest``) of the observed pixels,
        one per column of the maps, for a partial sky. ``None``: full sky.
        Not a boolean mask (an error): for a healpy mask pass
        ``numpy.flatnonzero(mask)`` and the maps' columns ``maps[:, mask]``.
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
    architecture : {"fcn", "cnn", "2dcnn", "unet"}, default="fcn"
        ``"fcn"``: DeepSphere's fully convolutional network ending in a
        global statistic (rotation invariant); ``"cnn"``: graph convolutions
        and a dense head on the coarsest feature maps; ``"2dcnn"``: the
        paper's baseline, an ordinary ``Conv2d`` network on a nested square
        patch (``pixels`` must be one, e.g. from
        :func:`skdeepsphere.healpix.patch_pixels`); ``"unet"``: a spherical
        U-Net (:class:`skdeepsphere.nn.SphericalUNet`) that predicts maps,
        one value or class per pixel: ``y`` holds maps like ``X`` (see
        ``fit``) and so do the predictions, in the same pixel ordering.
    channels : tuple of int, default=(16, 32, 64, 64)
        Widths of the convolution blocks. The paper's cosmology FCN uses
        ``(16, 32, 64, 64, 64)``.
    cheb_order : int, default=5
        Chebyshev polynomial order K (filters reach K - 1 neighbours).
    pooling : {"max", "avg"}, default="max"
        Pooling of nested groups of 4 pixels after each block.
    n_poolings : int, default=None
        Number of poolings (``nside`` halves at each); ``None`` pools after
        every block while ``nside > 1`` (the U-Net: after every block but
        the last, its bottom).
    statistics : {"mean", "mean_var"}, default="mean_var"
        Global statistics of the FCN head: the mean and variance of each
        feature map followed by a linear layer (``"mean_var"``), or a last
        graph convolution averaged over pixels (``"mean"``, the paper's).
        Over five seeds, ``"mean_var"`` lifted the rotated spherical digits
        from 0.92 to 0.950 on average and scored at least as well as
        ``"mean"`` on average on four of the five gallery fits that use
        the default head. It costs a little on the weak-signal benchmark
        (0.937, 0.893 and 0.837 against 0.953, 0.900 and 0.840 at noise
        4, 5 and 6) and learns spectral differences more slowly: on two
        Gaussian classes that differ only in their spectrum it scored
        0.813, 0.943 and 0.990 after 6, 20 and 40 epochs, against 0.937,
        1.000 and 1.000 with ``"mean"``. For short fits on such data,
        prefer ``"mean"`` (see ``benchmarks/README.md``).
    batch_norm : bool, default=True
        Batch normalisation after each convolution. After the training
        phase of every epoch, its statistics are recomputed exactly over
        (up to 512 of) the training maps, augmented as in training but not
        rotated, with the weights of that epoch ("precise BatchNorm"):
        ``predict``, validation scores, checkpoints and early stopping
        all use the network that training optimised, not running averages
        that lag behind the weights. This costs one forward pass over
        those maps per epoch. A last training batch of a single map is
        left out of its epoch (BatchNorm cannot train on it at a one-pixel
        level).
    dropout : float, default=0.0
        Dropout before the dense layer.
    max_epochs : int, default=40
        Passes over the training data (20 left the default FCN
        undertrained on weak signals, see ``benchmarks/README.md``).
    batch_size : int, default=32
    lr : float, default=3e-3
        Learning rate of Adam.
    lr_decay : float, "cosine", "late_cosine" or None, default="late_cosine"
        ``"late_cosine"``: keep ``lr`` for the first three quarters of the
        batches of ``max_epochs`` epochs, then anneal it to 0 along a half
        cosine over the last quarter, so that the final weights are not one
        draw of a constant-rate random walk (on the weak non-Gaussianity
        benchmark it lifted the FCN above the best classical statistic at
        noise 4, where a constant rate was below it). ``"cosine"``: the
        half cosine over all batches (it lowers the rate early, which left
        the short fits of the gallery slightly less trained). A float:
        multiply the learning rate by this after every batch (the paper:
        0.999 with ``lr=2e-4``). ``None``: a constant learning rate. See
        ``benchmarks/README.md``.
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
        noise added to every training batch (DeepSphere's augmentation:
        train on clean maps, predict noisy ones). The validation maps of
        ``early_stopping``, the maps of the per-epoch predict-mode score
        and the BatchNorm statistics get this noise too (a fixed draw for
        the first two), so that they describe the noisy maps the network
        is trained for.
    augment_rotation : bool or "grid", default=False
        Rotate every training map by a fresh uniformly random rotation at
        every epoch (bilinear resampling, see
        :mod:`skdeepsphere.rotation`), to learn rotation invariance from
        maps seen in one orientation. ``"grid"``: by one of the 8 rotations
        that move HEALPix pixels onto pixels
        (:func:`~skdeepsphere.rotation.grid_rotations`), exact, where
        resampling would smooth away part of a small-scale signal. Full sky
        only (``pixels=None``); the rotations are seeded by ``random_state``.
    checkpoint : str or path-like, default=None
        Folder where, after every epoch, the parameters, optimizer state,
        history and random state are saved (see
        :mod:`skdeepsphere.checkpoints`). It must be new, empty or a
        checkpoint folder of the package (other files are never touched);
        each fit (training data and hyperparameters) takes its own
        subfolder, so the fits of a grid search can share it. ``None``: no
        checkpoints.
    resume : bool, default=False
        With ``checkpoint``: if the folder holds a checkpoint of this fit
        (the same ``X``, ``y`` and hyperparameters but ``max_epochs``),
        ``fit`` continues from its last completed epoch (same optimizer state
        and random state) up to ``max_epochs`` instead of starting over.
        Without one, ``fit`` starts from scratch, so a job (or a whole grid
        search) can always be restarted with ``resume=True``. An
        interrupted fit resumed with the same ``max_epochs`` is the fit that
        would have run uninterrupted; a fit continued to a larger
        ``max_epochs`` follows the ``lr_decay`` schedule of the new length
        from where it stands, so with a schedule it is not the same run as
        one fit of that length.
    device : str, default="auto"
        ``"auto"`` picks ``"cuda"`` when a GPU is visible, else ``"cpu"``;
        ``"cuda"`` (or ``"cuda:1"``) without such a GPU is an error at the
        start of ``fit``. Maps given as torch tensors are copied to the
        CPU first (the network gets its batches from numpy).
    random_state : int, RandomState instance or None, default=None
        Seeds weights, batch order and augmentation noise: fits on CPU with
        the same seed are identical.
    verbose : int, default=0
        If > 0, print one line of skorch's log per epoch (plain text, with
        colours only on a terminal): the training loss, the validation
        loss with ``early_stopping``, and a score of the network in
        predict mode (accuracy for the classifier, R² for the regressor)
        on the validation maps (``valid_acc``, ``valid_r2``) or, without
        them, on a fixed subsample of up to 256 training maps
        (``train_acc``, ``train_r2``). The scores are also in
        ``net_.history``. If > 1, also show a progress bar over the
        batches of each epoch (skorch's
        :class:`~skorch.callbacks.ProgressBar`).
    distributed : bool, default=False
        Fit data-parallel over the processes of a ``torchrun`` or
        ``accelerate launch`` launch (one per GPU, or several CPU processes
        with ``gloo``), through Hugging Face ``accelerate`` (the
        ``skdeepsphere[distributed]`` extra); see
        :mod:`skdeepsphere.distributed`. ``batch_size`` is the global batch
        (a multiple of the number of processes), batch normalisation uses
        the global batch, each process reads only its share of the maps and
        draws its own augmentation; the fitted model is the same in every
        process. Without a launcher, an ordinary single-process fit.
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
    by ``pixels``. With ``architecture="unet"`` it segments maps: one label
    per pixel (pixels labelled ``-1`` are masked and left out of the loss
    and of :meth:`score`).

    Parameters
    ----------
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the cross-entropy, as in scikit-learn:
        ``{label: weight}``, or ``"balanced"`` for
        ``n_samples / (n_classes * np.bincount(y))`` (counted over pixels
        for per-pixel labels), which keeps a rare class (e.g. point
        sources on 1 % of the sky) from being ignored. ``None``: all 1.
""" + _PARAMETERS_DOC.replace("""
    Parameters
    ----------""", "", 1) + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (any labels ``numpy.unique`` can sort, strings too).
    class_weight_ : ndarray of shape (n_classes,)
        Weight of each class in the cross-entropy.
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

    Segmentation: a label per pixel.

    >>> seg = SphericalCNNClassifier(architecture="unet", channels=(4, 4), max_epochs=2,
    ...                              random_state=0)
    >>> labels = (maps > 1).astype(int)
    >>> seg.fit(maps, labels).predict_proba(maps[:2]).shape
    (2, 2, 768)
    """

    _criterion = torch.nn.CrossEntropyLoss

    _parameter_constraints = {
        **_SphericalCNNBase._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, *, class_weight=None, **params):
        super().__init__(**params)
        self.class_weight = class_weight

    # scikit-learn reads the parameters from the signature: the base class's
    # keyword arguments plus class_weight, without repeating them here.
    __init__.__signature__ = inspect.Signature(
        [*inspect.signature(_SphericalCNNBase.__init__).parameters.values(),
         inspect.Parameter("class_weight", inspect.Parameter.KEYWORD_ONLY, default=None)])

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on maps ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
        y : array-like of shape (n_samples,), or (n_samples, n_pixels) for the U-Net
            One label per map, or with ``architecture="unet"`` one label per
            pixel (in the pixel order of ``X``); ``-1`` or NaN marks masked
            pixels, left out of the loss.

        Returns
        -------
        self : SphericalCNNClassifier
        """
        if self.architecture == "unet":
            return self._fit_dense(X, _require_y(self, y))
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
        return self._train(maps, targets, len(self.classes_), stratified=True,
                           metric=("acc", _accuracy), criterion=self._cross_entropy(y))

    def _cross_entropy(self, labels):
        """The loss, weighted by ``class_weight`` (``labels``: the observed ones)."""
        self.class_weight_ = compute_class_weight(self.class_weight, classes=self.classes_,
                                                  y=labels)
        if self.class_weight is None:
            return torch.nn.CrossEntropyLoss
        return torch.nn.CrossEntropyLoss(
            weight=torch.as_tensor(self.class_weight_, dtype=torch.float32))

    def _fit_dense(self, X, y):
        self._check_dense_options()
        maps = self._fit_maps(X)
        self.classes_, targets, observed = dense_labels(y, len(maps), self.n_features_in_)
        # Masked pixels carry CrossEntropyLoss's ignore_index.
        return self._train(maps, self._nested_targets(targets), len(self.classes_),
                           stratified=False, metric=("acc", _accuracy),
                           criterion=self._cross_entropy(observed))

    def predict_proba(self, X):
        """Class probabilities of maps ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), or (n_samples, n_classes, n_pixels) for the U-Net
        """
        return softmax(self._forward(X), axis=1)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        return log_softmax(self._forward(X), axis=1)

    def decision_function(self, X):
        """Raw scores (logits) of maps ``X``; shape (n_samples,) for 2 classes.

        The U-Net's have a last axis of pixels: (n_samples, n_classes,
        n_pixels), or (n_samples, n_pixels) for 2 classes.
        """
        scores = self._forward(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X):
        """Most probable class of each map.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)

        Returns
        -------
        y : ndarray of shape (n_samples,), or (n_samples, n_pixels) for the U-Net
        """
        scores = self._forward(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy of per-map labels; mean intersection over union of per-pixel ones.

        For the U-Net, whose ``y`` has a label per pixel, the score is
        :func:`skdeepsphere.metrics.mean_iou`: the intersection over union
        of the predicted and true pixels of each class, counted over all
        maps, averaged over classes. Pixels labelled ``-1`` (or NaN) are
        left out. (scikit-learn's accuracy would count a map as right only
        when every pixel is, and pixel accuracy rewards ignoring a rare
        class.)

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
        y : array-like of shape (n_samples,) or (n_samples, n_pixels)
        sample_weight : array-like of shape (n_samples,), default=None
            Per-map labels only.

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "net_")
        if not self._dense_output():
            return super().score(X, y, sample_weight=sample_weight)
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported for per-pixel labels")
        return mean_iou(np.asarray(y), self.predict(X), labels=self.classes_)


class SphericalCNNRegressor(RegressorMixin, _SphericalCNNBase):
    __doc__ = """DeepSphere graph CNN regressor of HEALPix maps.

    The networks of :class:`SphericalCNNClassifier` with one output per
    target, trained on the mean squared error of internally standardised
    targets (e.g. two cosmological parameters from multi-channel maps).
    With ``architecture="unet"`` it maps maps to maps (e.g. denoising):
    ``y`` holds one or several maps per sample, NaN or ``healpy.UNSEEN``
    pixels are masked (left out of the loss and of :meth:`score`).
""" + _PARAMETERS_DOC + """
    Attributes
    ----------
    n_outputs_ : int
        Number of targets (the U-Net: of output maps per sample).
    target_mean_, target_scale_ : ndarray of shape (`n_outputs_`,)
        Standardisation of the targets learned in ``fit`` (per output map
        for the U-Net).
    y_ndim_ : int
        Dimensions of the ``y`` given to ``fit``: ``predict`` returns the
        same (1 or 2; 2 or 3 for the U-Net).
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

    Map-to-map regression (here: denoising) with the U-Net.

    >>> clean = rng.normal(size=(40, 768))
    >>> unet = SphericalCNNRegressor(architecture="unet", channels=(4, 4), max_epochs=2,
    ...                              random_state=0)
    >>> unet.fit(clean + rng.normal(size=clean.shape), clean).predict(clean[:3]).shape
    (3, 768)
    """

    _criterion = torch.nn.MSELoss

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on maps ``X`` with targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            With ``architecture="unet"``: maps, of shape (n_samples,
            n_pixels) or (n_samples, n_out_channels, n_pixels), in the pixel
            order of ``X``; NaN or ``healpy.UNSEEN`` pixels are masked.

        Returns
        -------
        self : SphericalCNNRegressor
        """
        if self.architecture == "unet":
            return self._fit_dense(X, _require_y(self, y))
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
        return self._train(maps, targets, self.n_outputs_, stratified=False,
                           metric=("r2", _r2))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n_samples, n_targets)
        return tags

    def _fit_dense(self, X, y):
        self._check_dense_options()
        maps = self._fit_maps(X)
        self.y_ndim_ = np.ndim(y)
        targets = dense_values(y, len(maps), self.n_features_in_)
        self.n_outputs_ = targets.shape[1]
        if np.isnan(targets).all(axis=(0, 2)).any():
            raise ValueError("y has an output channel without any observed pixel")
        self.target_mean_ = np.nanmean(targets, axis=(0, 2))
        scale = np.nanstd(targets, axis=(0, 2))
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        targets = (targets - self.target_mean_[:, None]) / self.target_scale_[:, None]
        return self._train(maps, self._nested_targets(targets.astype(np.float32)),
                           self.n_outputs_, stratified=False, metric=("r2", _r2),
                           criterion=MaskedMSELoss)

    def predict(self, X):
        """Predicted targets of maps ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            The U-Net's: maps of the shape of the ``y`` given to ``fit``,
            (n_samples, n_pixels) or (n_samples, n_out_channels, n_pixels).
        """
        scores = self._forward(X)
        if scores.ndim == 3:
            prediction = scores * self.target_scale_[:, None] + self.target_mean_[:, None]
            return prediction[:, 0] if self.y_ndim_ == 2 else prediction
        prediction = scores * self.target_scale_ + self.target_mean_
        return prediction[:, 0] if self.y_ndim_ == 1 else prediction

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R² of the predictions.

        For per-map targets, scikit-learn's :func:`~sklearn.metrics.r2_score`
        (averaged over targets). For the U-Net's maps,
        :func:`skdeepsphere.metrics.masked_r2_score`: one R² over all
        pixel values of all maps (per output map mean), NaN and
        ``healpy.UNSEEN`` pixels of ``y`` left out.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, n_channels, n_pixels)
        y : array-like of the shape of the ``y`` given to ``fit``
        sample_weight : array-like of shape (n_samples,), default=None
            Per-map targets only.

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "net_")
        if not self._dense_output():
            return super().score(X, y, sample_weight=sample_weight)
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported for maps of targets")
        y = dense_values(y, len(y), self.n_features_in_)
        prediction = self.predict(X)
        return masked_r2_score(y, prediction.reshape(y.shape))

"""Data-parallel training of one estimator over several processes.

The estimators fit data-parallel when given ``distributed=True`` and started
once per device by a launcher: ``torchrun`` or ``accelerate launch`` (one
machine or several). The engine is Hugging Face ``accelerate`` through
skorch's :class:`skorch.hf.AccelerateMixin` (install the
``skdeepsphere[distributed]`` extra):

- every process builds the same network; ``accelerate`` wraps it in
  PyTorch's ``DistributedDataParallel``, which averages the gradients;
- ``batch_size`` stays the *global* batch: each of the ``n`` processes
  gets ``batch_size / n`` maps of it (``split_batches``), so a fit on ``n``
  processes follows the same optimisation as a fit on one;
- batch normalisation uses the statistics of the whole global batch
  (:class:`DistributedBatchNorm1d`, which also works on CPU with ``gloo``),
  so the processes train exactly one model;
- training maps, including memory maps, are read by index: each process
  reads only the maps of its share of every batch;
- augmentation noise and rotations are drawn from a different seed in
  every process; validation, early stopping and the predict-mode metric
  are computed identically in every process; checkpoints are written by
  the first process only.

Without a launcher (one process) ``distributed=True`` is an ordinary fit
through the same code path.
"""

import atexit
import os
import time

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .streaming import channel_moments, iter_chunks, lazy_shape, merge_moments

__all__ = ["DistributedBatchNorm1d", "convert_batch_norm", "process_index", "world_size",
           "sharded_channel_statistics", "raise_together"]


def world_size():
    """Number of processes of the current launch (1 without a launcher).

    Examples
    --------
    >>> from skdeepsphere.distributed import world_size
    >>> world_size() >= 1
    True
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def process_index():
    """Rank of this process in the current launch (0 without a launcher).

    Examples
    --------
    >>> from skdeepsphere.distributed import process_index
    >>> process_index() >= 0
    True
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose gradient is the sum of the processes' gradients.

    The statistics of the global batch feed every process's loss, so the
    gradient that reaches them is the sum of all the losses' gradients.
    """

    @staticmethod
    def forward(ctx, tensor):
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class DistributedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation over the global batch of all processes.

    In training mode the per-channel mean and variance are those of the
    batch of *every* process together (sums exchanged with an
    autograd-aware ``all_reduce``), so ``n`` processes with ``batch_size / n``
    maps each compute what one process computes with the whole batch.
    PyTorch's :class:`torch.nn.SyncBatchNorm` does the same on GPUs only;
    this one works with any backend (``gloo`` on CPU, ``nccl``).

    Outside a distributed run it is exactly :class:`torch.nn.BatchNorm1d`.

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.distributed import DistributedBatchNorm1d
    >>> bn = DistributedBatchNorm1d(3)
    >>> bn(torch.randn(4, 3, 10)).shape
    torch.Size([4, 3, 10])
    """

    def forward(self, x):
        """Normalise ``x`` of shape (batch, channels) or (batch, channels, n)."""
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor(float(x.numel() // x.shape[1]), dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count[None]])
        stats = _AllReduceSum.apply(stats)
        n_channels = x.shape[1]
        total = stats[-1]
        mean = stats[:n_channels] / total
        var = stats[n_channels:2 * n_channels] / total - mean * mean
        shape = [1, n_channels] + [1] * (x.dim() - 2)
        out = (x - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + self.eps)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                            else self.momentum)
                unbiased = var * total / max(float(total) - 1.0, 1.0)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased.detach())
        return out


def convert_batch_norm(module):
    """Replace every :class:`torch.nn.BatchNorm1d` of ``module`` in place.

    Parameters and running statistics are kept; the modules become
    :class:`DistributedBatchNorm1d`, so a module's ``state_dict`` is
    unchanged.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    module : torch.nn.Module

    Examples
    --------
    >>> from torch import nn
    >>> from skdeepsphere.distributed import convert_batch_norm
    >>> net = convert_batch_norm(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)))
    >>> type(net[1]).__name__
    'DistributedBatchNorm1d'
    """
    for child in module.modules():
        if type(child) is nn.BatchNorm1d:
            child.__class__ = DistributedBatchNorm1d
    return module


def make_accelerator(device):
    """An ``accelerate.Accelerator`` for the estimators (global batches split).

    Parameters
    ----------
    device : str
        The resolved device of the estimator: ``"cpu"`` forces CPU
        processes (``gloo``); a CUDA device lets ``accelerate`` give each
        process its own GPU (``LOCAL_RANK``).
    """
    _start_processes(device)
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    config = DataLoaderConfiguration(split_batches=True, even_batches=True)
    # skorch places the module and every batch (training, validation and
    # prediction alike) on ``net.device``; accelerate only shards and wraps.
    return Accelerator(cpu=not str(device).startswith("cuda"), device_placement=False,
                       dataloader_config=config)


def accelerated_net_class(base):
    """The skorch net class ``base`` trained through ``accelerate``.

    Training batches are sharded over the processes; validation and
    prediction run on every process over all their data (no gather), so
    every process takes the same early-stopping decision and returns the
    same predictions.
    """
    from skorch.hf import AccelerateMixin

    class _Accelerated(AccelerateMixin, base):
        def _initialize_accelerator(self):
            # Like skorch's, but a loss without parameters is left alone:
            # DistributedDataParallel refuses a module with nothing to train.
            if self._wrapped_with_accelerator:
                return self
            for kind, names in (("module", self._modules), ("criterion", self._criteria)):
                with self._current_init_context(kind):
                    for name in names:
                        module = getattr(self, name + "_")
                        if isinstance(module, torch.nn.Module) and any(
                                p.requires_grad for p in module.parameters()):
                            setattr(self, name + "_", self.accelerator.prepare(module))
            with self._current_init_context("optimizer"):
                for name in self._optimizers:
                    optimizer = getattr(self, name + "_")
                    setattr(self, name + "_", self.accelerator.prepare(optimizer))
            self._wrapped_with_accelerator = True
            return self

        def train_step_single(self, batch, **fit_params):
            # The estimators' step (augmentation, divergence check) with a
            # plain backward pass, which DistributedDataParallel hooks into;
            # accelerate's own step would only add mixed precision.
            return base.train_step_single(self, batch, **fit_params)

        def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
            base.run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params)
            if training and iterator is not None and world_size() > 1:
                # The recalibrated BatchNorm statistics of the first process
                # (the others drew other augmentation noise): one model.
                for buffer in self.module_.buffers():
                    dist.broadcast(buffer, src=0)

        def get_iterator(self, dataset, training=False):
            iterator = base.get_iterator(self, dataset, training=training)
            return self.accelerator.prepare(iterator) if training else iterator

        def evaluation_step(self, batch, training=False):
            return base.evaluation_step(self, batch, training=training)

        def save_params(self, *args, **kwargs):
            # Only the first process writes (the others hold the same
            # weights), and without a collective call: the unwrapped modules
            # are swapped in for the save and the wrapped ones put back.
            if not self.accelerator.is_main_process:
                return None
            wrapped = {name: getattr(self, name + "_") for name in self._modules + self._criteria}
            try:
                for name, module in wrapped.items():
                    if isinstance(module, torch.nn.Module):
                        setattr(self, name + "_", self.accelerator.unwrap_model(module))
                return base.save_params(self, *args, **kwargs)
            finally:
                for name, module in wrapped.items():
                    setattr(self, name + "_", module)

    _Accelerated.__name__ = f"Accelerated{base.__name__}"
    return _Accelerated


class _Rows:
    """Rows ``start:stop`` of lazy maps, still read block by block."""

    def __init__(self, maps, start, stop):
        self.maps, self.start, self.stop = maps, start, stop
        self.shape = (stop - start,) + tuple(maps.shape[1:])
        self.dtype = maps.dtype

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        first, last, _ = rows.indices(self.shape[0])
        return self.maps[self.start + first:self.start + last]


def sharded_channel_statistics(maps, device):
    """Per-channel mean and standard deviation of lazy maps, read once in all.

    Each process of a launch reads its contiguous share of the rows; the
    partial moments are exchanged and combined with
    :func:`~skdeepsphere.streaming.merge_moments`, so the result is
    :func:`~skdeepsphere.streaming.channel_statistics` of all maps while no
    process reads more than its share.

    Parameters
    ----------
    maps : lazy array of shape (n_samples, n_channels, n_pixels) or (n_samples, n_pixels)
    device : str
        The estimator's resolved device (selects the process group backend).

    Returns
    -------
    mean, std : ndarray of shape (n_channels,), float64
    """
    _start_processes(device)
    n_samples = lazy_shape(maps)[0]
    size, rank = world_size(), process_index()
    start, stop = rank * n_samples // size, (rank + 1) * n_samples // size
    part = channel_moments(chunk for _, chunk in iter_chunks(_Rows(maps, start, stop)))
    parts = [part]
    if dist.is_available() and dist.is_initialized() and size > 1:
        parts = [None] * size
        dist.all_gather_object(parts, part)
    count, mean, m2 = merge_moments(parts)
    return np.asarray(mean), np.sqrt(np.asarray(m2) / count)


def _start_processes(device):
    """Join the launch's process group (what ``accelerate`` does first)."""
    try:
        from accelerate import PartialState
    except ImportError:
        raise ImportError(
            "distributed=True needs Hugging Face accelerate: "
            "pip install 'skdeepsphere[distributed]'"
        ) from None
    PartialState(cpu=not str(device).startswith("cuda"))
    if dist.is_available() and dist.is_initialized() and not _CLEANUP:
        # Left to static destructors at exit, gloo's threads can abort the
        # process ("terminate called without an active exception").
        atexit.register(_destroy_process_group)
        _CLEANUP.append(True)


_CLEANUP = []


#: Seconds the exit handler leaves the GIL to gloo's worker threads.
_EXIT_GRACE_SECONDS = 0.05


def _destroy_process_group():
    if dist.is_available() and dist.is_initialized():
        # A collective issued during a backward pass (DistributedDataParallel's
        # gradients, DistributedBatchNorm1d's sums) records autograd's Python
        # context, and the gloo worker thread that finishes it drops that
        # object, which takes the GIL. Should the interpreter finalise first,
        # the worker thread is made to exit inside a C++ destructor and the
        # process aborts ("terminate called without an active exception",
        # seen in a core dump). Sleeping releases the GIL to such a thread;
        # destroying the process group does not join the threads once
        # DistributedDataParallel has held it.
        time.sleep(_EXIT_GRACE_SECONDS)
        dist.destroy_process_group()


def raise_together(error):
    """Raise ``error`` of any process in every process of the launch.

    A process that fails alone (an unusable checkpoint folder, say) would
    leave the others waiting for it in their next collective call.

    Parameters
    ----------
    error : Exception or None
        What this process caught.
    """
    errors = [error]
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        errors = [None] * dist.get_world_size()
        dist.all_gather_object(errors, None if error is None else f"{type(error).__name__}: {error}")
    failed = [(rank, message) for rank, message in enumerate(errors) if message is not None]
    if error is not None:
        raise error
    if failed:
        rank, message = failed[0]
        raise ValueError(f"process {rank} of the launch failed: {message}")

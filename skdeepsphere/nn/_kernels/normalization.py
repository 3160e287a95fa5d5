r"""BatchNorm followed by ReLU in one autograd node, for the CPU fast path.

Profiled on the default FCN (nside 64, batch 16), the activations' passes
cost more than the convolutions: torch's CPU batch norm computes its
statistics with a Welford reduction about 7x slower than two plain sums,
and every BatchNorm and ReLU output and gradient is a fresh block of tens of
MB, whose first touch costs page faults. :func:`batch_norm_relu` computes

.. math::

    y = \max\left(0, \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta\right)

with the statistics from float64 sums of :math:`x` and :math:`x^2` (per
channel, over batch and pixels), writes :math:`y` and the input gradient
into recycled blocks (:mod:`.memory`), and updates the module's running
statistics exactly as :class:`torch.nn.BatchNorm1d` does (unbiased running
variance, ``momentum=None`` as a cumulative average), so that the module,
its ``state_dict`` and train/eval semantics are the standard ones.

On the pixel-major training path with max-pooling, the C kernels of
:mod:`.native` make the forward one pass that writes the pooled maxima, the
winning child and its input (never the full-size output), and the backward
take BatchNorm's sums from those quarter-size blocks alone and write the
input gradient in one more pass. With ``compile=False`` (or without a C
compiler) the same arithmetic runs as torch operations.
A bias added by the filter before BatchNorm shifts the statistics instead
of making a pass over the output of its own.
"""

import torch
from torch import nn
from torch.nn import functional

from ..pool import HealpixPool
from . import native
from .chebyshev import filter_chunks, one_channel_terms
from .memory import empty_block

__all__ = ["batch_norm_relu", "fusable", "pixel_major_batch_norm_relu",
           "pixel_major_filter_batch_norm_relu_pool",
           "pixel_major_training_batch_norm_relu"]

#: Children per parent of a complete nested pooling.
_GROUP = 4


def _channel_sums(x, y=None):
    """Per-channel sum of ``x`` (or of ``x * y``) over dims 0 and 2, in float64.

    Rows of ``n_pixels`` are reduced in ``x``'s dtype (torch's cascaded
    sums; asking for float64 there converts every element and is 20x
    slower), the per-row results in float64.
    """
    batch, channels, n_pixels = x.shape
    if y is None:
        rows = x.sum(2)
    elif y is x:
        rows = torch.linalg.vector_norm(x, dim=2).double().square_()
    else:
        # One batched dot product per (sample, channel) row: no product block.
        rows = torch.bmm(x.reshape(batch * channels, 1, n_pixels),
                         y.reshape(batch * channels, n_pixels, 1)).view(batch, channels)
    return rows.sum(0, dtype=torch.float64)


def _winners(children, pooled):
    """Which of the 4 ``children`` holds each maximum, as uint8 of ``pooled``'s shape.

    The first child on a tie, as ``max_pool1d``'s indices: the count of
    leading children that differ from the maximum. Three comparisons of
    strided quarter-size views cost a fifth of ``return_indices=True``.
    """
    before = torch.ne(children[0], pooled)
    index = before.to(torch.uint8)
    for child in children[1:3]:
        before &= torch.ne(child, pooled)
        index += before
    return index


def _affine(weight, bias, mean, invstd, dtype):
    """BatchNorm as ``scale * x + shift``, computed in float64, cast to ``dtype``."""
    scale = weight.double() * invstd
    return scale.to(dtype), (bias.double() - mean * scale).to(dtype)


def _batch_statistics(norm, total, total_squares, n):
    """Batch ``(mean, invstd)`` from float64 sums over ``n`` values per channel;
    the batch mean and variance are folded into ``norm``'s running statistics
    as :class:`torch.nn.BatchNorm1d` does."""
    mean = total / n
    var = (total_squares / n - mean**2).clamp_(min=0)
    norm.num_batches_tracked.add_(1)
    momentum = (1.0 / float(norm.num_batches_tracked) if norm.momentum is None
                else norm.momentum)
    unbiased = var * (n / max(n - 1, 1))
    norm.running_mean.mul_(1 - momentum).add_(mean.to(norm.running_mean.dtype),
                                              alpha=momentum)
    norm.running_var.mul_(1 - momentum).add_(unbiased.to(norm.running_var.dtype),
                                             alpha=momentum)
    return mean, (var + norm.eps).rsqrt()


def _statistics(norm, sums):
    """``(mean, invstd)`` in float64: of the batch in training mode (``sums()``
    gives the per-channel sums of x and x**2 and their count, see
    :func:`_batch_statistics`), of the running statistics otherwise."""
    if not norm.training:
        return _frozen_statistics(norm)
    with torch.no_grad():
        return _batch_statistics(norm, *sums())


def _frozen_statistics(norm):
    """``(mean, invstd)`` of ``norm``'s running statistics, in float64."""
    return norm.running_mean.double(), (norm.running_var.double() + norm.eps).rsqrt()


def _coefficients(ctx, weight, mean, invstd, sum_g, sum_gx, n):
    """BatchNorm's parameter gradients and its input gradient as ``a g + b x + c``.

    ``sum_g`` and ``sum_gx`` are the float64 per-channel sums of ``g``, the
    gradient of its output, and of ``g * x`` over the ``n`` values of a
    channel. Returns ``grad_weight, grad_bias, (a, b, c)``, the last as
    float64 (channels,) vectors, or ``None`` when no input gradient is needed.
    """
    sum_gx = sum_gx - mean * sum_g  # sum of g (x - mean)
    grad_weight = (sum_gx * invstd).to(weight.dtype)
    grad_bias = sum_g.to(weight.dtype)
    if not ctx.needs_input_grad[0]:
        return grad_weight, grad_bias, None
    a = weight.double() * invstd
    if not ctx.training:
        return grad_weight, grad_bias, (a, None, None)
    # The batch statistics depend on x: grad_x = a g + b x + c.
    b = -a * invstd**2 * sum_gx / n
    c = -a * sum_g / n - b * mean
    return grad_weight, grad_bias, (a, b, c)


def _gradients(masked, x, gradients, per_channel):
    """The gradients of BatchNorm given ``masked``, the gradient of its output.

    ``gradients`` is what :func:`_coefficients` returned for ``masked``;
    ``per_channel`` shapes a (channels,) vector to broadcast against ``x``.
    Returns ``(grad_x, grad_weight, grad_bias)``; ``grad_x`` overwrites
    ``masked``.
    """
    grad_weight, grad_bias, coefficients = gradients
    grad_x = None
    if coefficients is not None:
        a, b, c = coefficients
        grad_x = masked.mul_(per_channel(a.to(x.dtype)))
        if b is not None:
            grad_x.addcmul_(x, per_channel(b.to(x.dtype))).add_(per_channel(c.to(x.dtype)))
    return grad_x, grad_weight, grad_bias


class _BatchNormReLU(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, weight, bias, mean, invstd, training, pool):
        scale, shift = _affine(weight, bias, mean, invstd, x.dtype)
        y = empty_block(x.shape, x.dtype, x.device)
        torch.addcmul(shift[:, None], x, scale[:, None], out=y).relu_()
        ctx.training = training
        ctx.pool = pool
        if not pool:
            ctx.save_for_backward(x, y, weight, mean, invstd)
            return y
        # Max over nested groups of 4 (HealpixPool on complete groups): the
        # full-size y is not kept, only which child won, as one byte per
        # parent. max_pool1d with return_indices was 10x slower than without.
        pooled = functional.max_pool1d(y, _GROUP)
        winners = _winners(y.view(*pooled.shape, _GROUP).unbind(-1), pooled)
        ctx.save_for_backward(x, pooled, weight, mean, invstd, winners)
        return pooled

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, y, weight, mean, invstd, *indices = ctx.saved_tensors
        batch, channels, n_pixels = x.shape
        n = batch * n_pixels
        # Gradient through the ReLU (and the pooling), into a recycled block.
        masked = empty_block(x.shape, x.dtype, x.device)
        if ctx.pool:
            # y holds the pooled maxima: a winner at 0 passes no gradient.
            passed = torch.ops.aten.threshold_backward(grad, y, 0)
            rows = batch * channels
            positions = indices[0].view(rows, -1).long()
            positions += torch.arange(0, n_pixels, _GROUP)
            masked.zero_().view(rows, n_pixels).scatter_(1, positions, passed.view(rows, -1))
        else:
            torch.ops.aten.threshold_backward.grad_input(grad, y, 0, grad_input=masked)
        sum_g = _channel_sums(masked)
        gradients = _coefficients(ctx, weight, mean, invstd, sum_g, _channel_sums(masked, x),
                                  batch * n_pixels)
        return *_gradients(masked, x, gradients, lambda v: v[:, None]), None, None, None, None


#: Elements per chunk of :func:`_column_dots` (4 MB of float32, in L3 cache).
_DOT_CHUNK = 1 << 20


def _column_sums(x, batch):
    """Per-channel float64 sums of a pixel-major (n_pixels * batch, channels) block."""
    channels = x.shape[1]
    return x.view(-1, batch * channels).sum(0).view(batch, channels).sum(0, dtype=torch.float64)


def _column_dots(x, y, batch):
    """Per-channel float64 sums of ``x * y`` for pixel-major (n_pixels * batch, channels) blocks.

    The product is formed a cache-sized chunk of pixels at a time, so that
    no full-size block is written (the channel-major layout uses one batched
    dot product per row instead).
    """
    channels = x.shape[1]
    width = batch * channels
    x, y = x.view(-1, width), y.view(-1, width)
    step = max(1, _DOT_CHUNK // width)
    buffer = torch.empty((min(step, x.shape[0]), width), dtype=x.dtype)
    total = torch.zeros(width, dtype=torch.float64)
    for start in range(0, x.shape[0], step):
        part = torch.mul(x[start:start + step], y[start:start + step],
                         out=buffer[:min(step, x.shape[0] - start)])
        total += part.sum(0)
    return total.view(batch, channels).sum(0)


class _PixelMajorBatchNormReLU(torch.autograd.Function):
    """BatchNorm, ReLU and (optionally) the max over nested groups of 4 on a
    pixel-major (n_pixels * batch, channels) block; returns the next
    layer's pixel-major (n_pixels', batch * channels) input."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean, invstd, training, batch, pool, conv_bias, total):
        # ``mean`` is that of x (the filter's output without its bias),
        # ``total`` the float64 per-channel sum of x (for the bias's gradient).
        scale, shift = _affine(weight, bias, mean, invstd, x.dtype)
        width = batch * x.shape[1]
        ctx.training, ctx.batch, ctx.pool = training, batch, pool
        ctx.total = total
        # Both kernels or neither (one library holds both).
        kernels = (None, None)
        if pool and x.device.type == "cpu":
            kernels = tuple(native.kernel(x.dtype, name)
                            for name in ("pool_forward", "pool_backward"))
        ctx.fused = None not in kernels
        ctx.pool_backward = kernels[1]
        if ctx.fused:
            parents = (x.shape[0] // (_GROUP * batch), width)
            pooled = empty_block(parents, x.dtype, x.device)
            winners = torch.empty(parents, dtype=torch.int32, device=x.device)
            chosen = empty_block(parents, x.dtype, x.device)
            native.pool_forward(kernels[0],
                                x.detach().contiguous().view(parents[0], _GROUP, width),
                                scale.repeat(batch), shift.repeat(batch), pooled, winners,
                                chosen)
            ctx.save_for_backward(x, pooled, weight, mean, invstd, winners, chosen)
            return pooled
        y = empty_block(x.shape, x.dtype, x.device)
        torch.addcmul(shift, x, scale, out=y).relu_()
        if not pool:
            ctx.save_for_backward(x, y, weight, mean, invstd)
            return y.view(-1, width)
        children = y.view(-1, _GROUP, width)
        pooled = empty_block((children.shape[0], width), x.dtype, x.device)
        torch.amax(children, 1, out=pooled)
        ctx.save_for_backward(x, pooled, weight, mean, invstd,
                              _winners(children.unbind(1), pooled))
        return pooled

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, y, weight, mean, invstd, *winners = ctx.saved_tensors
        grad = grad.contiguous()
        if ctx.fused:
            return _fused_pool_backward(ctx, grad, x, y, weight, mean, invstd, *winners)
        masked = empty_block(x.shape, x.dtype, x.device)
        if ctx.pool:
            # y holds the pooled maxima: a winner at 0 passes no gradient.
            passed = torch.ops.aten.threshold_backward(grad, y, 0)
            children, zero = masked.view(-1, _GROUP, passed.shape[1]), passed.new_zeros(())
            for child in range(_GROUP):
                torch.where(winners[0] == child, passed, zero, out=children[:, child])
        else:
            torch.ops.aten.threshold_backward.grad_input(grad.view(x.shape), y, 0,
                                                         grad_input=masked)
        sum_g = _column_sums(masked, ctx.batch)
        gradients = _coefficients(ctx, weight, mean, invstd, sum_g,
                                  _column_dots(masked, x, ctx.batch), x.shape[0])
        return (*_gradients(masked, x, gradients, lambda v: v), *[None] * 5,
                _bias_gradient(ctx, gradients, sum_g, x), None)


def _bias_gradient(ctx, gradients, sum_g, x):
    """The gradient of a bias added to ``x`` before BatchNorm: the column
    sums of the input gradient ``a g + b x + c`` (``gradients`` from
    :func:`_coefficients`), from sums already taken."""
    if not ctx.needs_input_grad[8] or gradients[2] is None:
        return None
    a, b, c = gradients[2]
    grad = a * sum_g
    if b is not None:
        grad = grad + b * ctx.total + c * x.shape[0]
    return grad.to(x.dtype)


def _fused_pool_backward(ctx, grad, x, pooled, weight, mean, invstd, winners, chosen):
    """The backward of the fused pooling path: BatchNorm's sums from the
    parents alone (the output gradient is 0 at every child that lost), the
    input gradient in one pass of the C kernel."""
    batch, channels = ctx.batch, x.shape[1]
    # A winner at 0 passes no gradient through the ReLU.
    passed = torch.ops.aten.threshold_backward(grad, pooled, 0)
    sum_g = _column_sums(passed.view(-1, channels), batch)
    sum_gx = _column_dots(passed.view(-1, channels), chosen.view(-1, channels), batch)
    gradients = _coefficients(ctx, weight, mean, invstd, sum_g, sum_gx, x.shape[0])
    grad_weight, grad_bias, coefficients = gradients
    grad_x = None
    if coefficients is not None:
        a, b, c = (torch.zeros_like(sum_g) if v is None else v for v in coefficients)
        a, b, c = (v.to(x.dtype).repeat(batch) for v in (a, b, c))
        grad_x = empty_block(x.shape, x.dtype, x.device)
        shape = (passed.shape[0], _GROUP, passed.shape[1])
        native.pool_backward(ctx.pool_backward, x.detach().contiguous().view(shape),
                             passed.contiguous(), winners, a, b, c, grad_x.view(shape))
    return (grad_x, grad_weight, grad_bias, *[None] * 5,
            _bias_gradient(ctx, gradients, sum_g, x), None)


def pixel_major_training_batch_norm_relu(norm, x, batch, pool, conv_bias=None):
    """BatchNorm, ReLU (and max-pool) of a pixel-major block, with autograd.

    Parameters
    ----------
    norm : torch.nn.BatchNorm1d
        Its running statistics are updated in training mode, used in
        evaluation mode, as :func:`batch_norm_relu` does.
    x : torch.Tensor of shape (n_pixels * batch, channels)
        Pixel-major, as :func:`.chebyshev.pixel_major_training_filter` returns it.
    batch : int
    pool : bool
        Take the maximum over nested groups of 4 pixels.
    conv_bias : torch.Tensor of shape (channels,), optional
        A bias to add to ``x`` first (the filter's), with its gradient: it
        shifts the statistics (and the running mean) rather than ``x``.

    Returns
    -------
    torch.Tensor of shape (n_pixels', batch * channels)
        The next layer's pixel-major input.
    """
    total = _column_sums(x, batch) if norm.training else None
    if conv_bias is None:
        mean, invstd = _statistics(norm, lambda: (total, _column_dots(x, x, batch), x.shape[0]))
    else:
        # The statistics of x + bias from those of x; the output is that of
        # x minus the shifted mean, so the bias never makes a pass of its own.
        n, bias = x.shape[0], conv_bias.detach().double()
        mean, invstd = _statistics(norm, lambda: (
            total + n * bias, _column_dots(x, x, batch) + 2 * bias * total + n * bias**2, n))
        mean = mean - bias
    return _PixelMajorBatchNormReLU.apply(x, norm.weight, norm.bias, mean, invstd,
                                          norm.training, batch, pool, conv_bias, total)


def fusable_pool(pool, x):
    """Whether ``pool`` is a max over complete nested groups, without hooks."""
    return (type(pool) is HealpixPool and pool.complete and pool.mode == "max"
            and x.shape[-1] == pool.n_pixels
            and not (pool._forward_hooks or pool._forward_pre_hooks))


def fusable(norm, activation, x):
    """Whether ``activation(norm(x))`` may run as :func:`batch_norm_relu`."""
    return (type(norm) is nn.BatchNorm1d and type(activation) is nn.ReLU
            and norm.affine and norm.track_running_stats and x.dim() == 3
            and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and not activation.inplace
            # Hooks must see the modules called: leave those to them.
            and not (norm._forward_hooks or norm._forward_pre_hooks
                     or activation._forward_hooks or activation._forward_pre_hooks
                     or nn.modules.module._global_forward_hooks
                     or nn.modules.module._global_forward_pre_hooks))


def batch_norm_relu(norm, x, pool=False):
    """``relu(norm(x))`` for a :class:`torch.nn.BatchNorm1d` ``norm``, fused.

    Parameters
    ----------
    norm : torch.nn.BatchNorm1d
        With ``affine`` and ``track_running_stats``; its running statistics
        are updated in training mode, used in evaluation mode.
    x : torch.Tensor of shape (batch, channels, n_pixels), on CPU
    pool : bool, default=False
        Follow with the maximum over consecutive groups of 4 pixels
        (:class:`~skdeepsphere.nn.HealpixPool` on complete nested groups).
    """
    x = x.contiguous()
    mean, invstd = _statistics(norm, lambda: (_channel_sums(x), _channel_sums(x, x),
                                              x.shape[0] * x.shape[2]))
    if pool and not norm.training and not (torch.is_grad_enabled() and (
            x.requires_grad or norm.weight.requires_grad or norm.bias.requires_grad)):
        with torch.no_grad():
            return _pooled_inference(x, norm.weight, norm.bias, mean, invstd)
    return _BatchNormReLU.apply(x, norm.weight, norm.bias, mean, invstd, norm.training, pool)


def _pooled_inference(x, weight, bias, mean, invstd):
    """``maxpool(relu(a x + b))`` with frozen statistics, pooling first.

    Rounding is monotone, so for ``a >= 0`` the maximum of
    ``fl(a x_i + b)`` is ``fl(a max_i x_i + b)`` exactly (for ``a < 0``,
    the minimum): the affine map and the ReLU then touch a quarter of the
    values, and neither the full-size output nor the indices are written.
    """
    scale, shift = _affine(weight, bias, mean, invstd, x.dtype)
    negative = scale < 0
    if bool(negative.any()):
        extreme = functional.max_pool1d(x, _GROUP)
        extreme[:, negative] = -functional.max_pool1d(-x[:, negative], _GROUP)
    else:
        extreme = functional.max_pool1d(x, _GROUP)
    return torch.addcmul(shift[:, None], extreme, scale[:, None]).relu_()


def pixel_major_batch_norm_relu(norm, y, batch, pool, conv_bias=None):
    """Frozen BatchNorm, ReLU (and max-pool) of a pixel-major block, no autograd.

    Parameters
    ----------
    norm : torch.nn.BatchNorm1d
        In evaluation mode: its running statistics are used.
    y : torch.Tensor of shape (n_pixels * batch, channels)
        Pixel-major, as :func:`.chebyshev.pixel_major_filter` returns it.
    batch : int
    pool : bool
        Take the maximum over nested groups of 4 pixels (consecutive rows
        of ``batch`` samples) first, exactly as :func:`_pooled_inference`.
    conv_bias : torch.Tensor of shape (channels,), optional
        Added to ``y`` first (the filter's), folded into BatchNorm's shift
        (so that the filter need not add it in a pass of its own).

    Returns
    -------
    torch.Tensor of shape (n_pixels', batch * channels)
        The next layer's pixel-major input.
    """
    channels = y.shape[1]
    scale, shift = _frozen_affine(norm, conv_bias, y.dtype)
    if pool:
        groups = y.view(-1, _GROUP, batch, channels)
        # Into a recycled block: a fresh one costs page faults.
        y = _frozen_max(groups, scale < 0, empty_block((groups.shape[0], batch, channels),
                                                       y.dtype, y.device))
    out = empty_block(y.shape, y.dtype, y.device)
    torch.addcmul(shift, y, scale, out=out).relu_()
    return out.view(-1, batch * channels)


def _frozen_affine(norm, conv_bias, dtype):
    """Frozen BatchNorm as ``scale * y + shift``, the filter's bias folded in."""
    mean, invstd = _frozen_statistics(norm)
    if conv_bias is not None:
        # scale (y + bias - mean) = scale (y - (mean - bias))
        mean = mean - conv_bias.double()
    return _affine(norm.weight, norm.bias, mean, invstd, dtype)


def _frozen_max(groups, negative, out):
    """Per group of children (axis 1), the value that ``scale * y + shift``
    maps to the maximum: the maximum, or the minimum where ``negative``."""
    torch.amax(groups, 1, out=out)
    if bool(negative.any()):
        out[..., negative] = groups[..., negative].amin(1)
    return out


def pixel_major_filter_batch_norm_relu_pool(conv, norm, x, batch):
    """``maxpool(relu(norm(conv(x))))`` on pixel-major blocks, frozen, no autograd.

    The filter's output is pooled a cache-sized chunk at a time as the
    GEMMs produce it (:func:`.chebyshev.filter_chunks`), and the affine map
    and ReLU touch the pooled quarter only (see :func:`_pooled_inference`
    for why pooling first is exact): the full-size output, 4 times the next
    layer's input, never reaches memory.

    Parameters
    ----------
    conv : skdeepsphere.nn.ChebConv
    norm : torch.nn.BatchNorm1d
        In evaluation mode.
    x : torch.Tensor of shape (n_pixels, batch * C_in)
        Pixel-major input.
    batch : int

    Returns
    -------
    torch.Tensor of shape (n_pixels // 4, batch * C_out) or None
        The next layer's pixel-major input; None when the filter's terms
        are too large to keep (then filter and normalise separately).
    """
    channels = conv.out_channels
    scale, shift = _frozen_affine(norm, conv.bias, x.dtype)
    rows = x.shape[0] * batch
    pooled = empty_block((rows // _GROUP, channels), x.dtype, x.device)
    cpu = x.device.type == "cpu"
    stacked = native.kernel(x.dtype, "stacked_pool") if cpu and conv.in_channels == 1 else None
    if stacked is not None:
        # One input channel: the K terms side by side, then filter, affine
        # map, ReLU and maximum in one C pass (no GEMM output at all).
        stack = one_channel_terms(conv.laplacian, x, conv.cheb_order, batch)
        native.stacked_pool(stacked, stack, conv.weight.detach().view(conv.cheb_order, channels),
                            scale, shift, batch, pooled.view(-1, batch, channels))
        return pooled.view(-1, batch * channels)
    frozen = native.kernel(x.dtype, "pool_frozen") if cpu else None
    if frozen is not None:
        scale_row, shift_row = scale.repeat(batch), shift.repeat(batch)

        def pool_chunk(part, start):
            # Affine map, ReLU and maximum in one C pass over the chunk.
            native.pool_frozen(frozen, part.view(-1, _GROUP, batch * channels), scale_row,
                               shift_row, pooled[start // _GROUP:(start + len(part)) // _GROUP])
    else:
        negative = scale < 0

        def pool_chunk(part, start):
            target = pooled[start // _GROUP:(start + len(part)) // _GROUP]
            _frozen_max(part.view(-1, _GROUP, batch, channels), negative,
                        target.view(-1, batch, channels))
            torch.addcmul(shift, target, scale, out=target).relu_()

    if not filter_chunks(conv.laplacian, x, conv.weight, batch, pool_chunk, _GROUP * batch):
        return None
    return pooled.view(-1, batch * channels)

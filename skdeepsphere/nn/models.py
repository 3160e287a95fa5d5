"""DeepSphere architectures (FCN, CNN and U-Net) and the 2D CNN baseline.

All models take signals of shape (batch, in_channels, n_pixels) whose pixels
are in sorted nested order, and return (batch, n_outputs) raw scores; the
U-Net returns per-pixel scores (batch, n_outputs, n_pixels).
"""

import numpy as np
import torch
from torch import nn

from .._config import get_config
from ._kernels.chebyshev import pixel_major_filter, pixel_major_training_filter
from ._kernels.memory import empty_block
from ._kernels.normalization import (batch_norm_relu, fusable, fusable_pool,
                                     pixel_major_batch_norm_relu,
                                     pixel_major_filter_batch_norm_relu_pool,
                                     pixel_major_training_batch_norm_relu)
from .conv import ChebConv
from .pool import HealpixPool, HealpixUnpool

__all__ = ["DeepSphere", "PatchCNN2d", "SphericalUNet", "nested_patch_grid"]


class _GlobalStatistics(nn.Module):
    """Mean (and variance) over pixels: invariant to any pixel permutation."""

    def __init__(self, variance=False):
        super().__init__()
        self.variance = variance

    def forward(self, x):
        mean = x.mean(-1)
        if not self.variance:
            return mean
        return torch.cat([mean, x.var(-1, unbiased=False)], dim=1)


class DeepSphere(nn.Module):
    r"""DeepSphere graph CNN: Chebyshev convolution blocks and HEALPix pooling.

    Each block is ``ChebConv -> BatchNorm -> ReLU`` followed, for the first
    ``len(parents)`` blocks, by a pooling of nested groups of 4 pixels. The
    head is either

    * ``"fcn"``, fully convolutional (Perraudin et al. 2019): with
      ``statistics="mean"`` a last graph convolution to ``n_outputs`` maps
      averaged over pixels; with ``statistics="mean_var"`` the mean and
      variance of each feature map followed by a linear layer. Both are
      invariant to rotations of the input (up to the graph's equivariance);
    * ``"cnn"``, the feature maps of the coarsest level flattened into a
      dense layer, which can use where features are.

    With the fast kernels (:func:`skdeepsphere.set_config`) on CPU, each
    block's BatchNorm, ReLU and max-pooling run as one autograd node (an
    average pooling follows that node), and the blocks hand each other
    pixel-major (pixels x batch, channels) activations, in training as in
    prediction, so that nothing is transposed between layers; the modules,
    their ``state_dict`` and running statistics are the standard ones, and
    a module with hooks is called as usual.

    Parameters
    ----------
    laplacians : list of scipy.sparse matrix
        Rescaled Laplacians, finest first: ``len(parents) + 1`` of them.
    parents : list of array of int
        Pooling assignments, see :func:`skdeepsphere.healpix.parent_hierarchy`.
    in_channels : int
        Channels of the input maps.
    n_outputs : int
        Classes or regression targets.
    channels : sequence of int, default=(16, 32, 64, 64)
        Output channels of the convolution blocks.
    cheb_order : int, default=5
        Chebyshev polynomial order K of every graph convolution.
    head : {"fcn", "cnn"}, default="fcn"
    pooling : {"max", "avg"}, default="max"
    statistics : {"mean", "mean_var"}, default="mean"
        Global statistics of the FCN head.
    batch_norm : bool, default=True
    dropout : float, default=0.0
        Dropout before the dense layer(s).

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.graph import laplacian_hierarchy
    >>> from skdeepsphere.nn import DeepSphere
    >>> laplacians, _, parents = laplacian_hierarchy(8, None, 2)
    >>> model = DeepSphere(laplacians, parents, 1, 3, channels=(8, 8), cheb_order=3)
    >>> model(torch.randn(4, 1, 768)).shape
    torch.Size([4, 3])
    """

    def __init__(self, laplacians, parents, in_channels, n_outputs,
                 channels=(16, 32, 64, 64), cheb_order=5, head="fcn",
                 pooling="max", statistics="mean", batch_norm=True, dropout=0.0):
        super().__init__()
        if head not in ("fcn", "cnn"):
            raise ValueError(f"head must be 'fcn' or 'cnn', got {head!r}")
        if statistics not in ("mean", "mean_var"):
            raise ValueError(f"statistics must be 'mean' or 'mean_var', got {statistics!r}")
        if len(laplacians) != len(parents) + 1:
            raise ValueError("need one Laplacian per level: len(parents) + 1")
        blocks = []
        width = in_channels
        for index, out in enumerate(channels):
            level = min(index, len(parents))
            layers = [ChebConv(width, out, laplacians[level], cheb_order)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(out))
            layers.append(nn.ReLU())
            if index < len(parents):
                layers.append(HealpixPool(parents[index], mode=pooling))
            blocks.append(nn.Sequential(*layers))
            width = out
        self.blocks = nn.Sequential(*blocks)
        coarsest = laplacians[min(len(channels), len(parents))]
        if head == "cnn":
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                      nn.Linear(width * coarsest.shape[0], n_outputs))
        elif statistics == "mean":
            self.head = nn.Sequential(ChebConv(width, n_outputs, coarsest, cheb_order),
                                      _GlobalStatistics())
        else:
            self.head = nn.Sequential(_GlobalStatistics(variance=True), nn.Dropout(dropout),
                                      nn.Linear(2 * width, n_outputs))

    def forward(self, x):
        """Scores of shape (batch, n_outputs) for maps (batch, in_channels, n_pixels)."""
        if get_config()["kernels"] != "fast":
            return self.head(self.blocks(x))
        if _pixel_major(self.blocks, x):
            signals = _pixel_major_signals(self.blocks, x)
            if _pixel_major_head(self.head, signals):
                return _pixel_major_mean_head(self.head[0], signals, x.shape[0])
            return self.head(_channel_major(signals, x.shape[0]))
        for block in self.blocks:
            x = _fast_block(block, x)
        return self.head(x)


def _pixel_major(blocks, x):
    """Whether ``blocks`` may run on pixel-major blocks: standard
    ChebConv -> BatchNorm -> ReLU (-> complete pooling) blocks on CPU, no
    hook that expects to see a module called, and either autograd (training,
    or evaluation with gradients) or inference with frozen statistics."""
    if x.dim() != 3 or blocks._forward_hooks or blocks._forward_pre_hooks:
        return False
    for block in blocks:
        layers = list(block)
        if (not 3 <= len(layers) <= 4 or block._forward_hooks or block._forward_pre_hooks
                or type(layers[0]) is not ChebConv or layers[0]._forward_hooks
                or layers[0]._forward_pre_hooks or not fusable(layers[1], layers[2], x)
                # (Precise BatchNorm calibrates single layers in training
                # mode without autograd: those take the modules' path.)
                or (layers[1].training and not torch.is_grad_enabled())):
            return False
        if len(layers) == 4 and not (
                type(layers[3]) is HealpixPool and layers[3].complete
                and layers[3].n_pixels == layers[0].laplacian.n_pixels
                and not (layers[3]._forward_hooks or layers[3]._forward_pre_hooks)):
            return False
    return len(blocks) > 0 and x.shape[-1] == blocks[0][0].laplacian.n_pixels


def _pixel_major_blocks(blocks, x):
    """The blocks' output (batch, channels, n_pixels), computed on pixel-major
    blocks (:func:`_pixel_major_signals`)."""
    return _channel_major(_pixel_major_signals(blocks, x), x.shape[0])


def _channel_major(signals, batch):
    """A pixel-major (n_pixels, batch * channels) block as (batch, channels, n_pixels)."""
    return signals.view(-1, batch, signals.shape[1] // batch).permute(1, 2, 0).contiguous()


def _pixel_major_head(head, signals):
    """Whether ``head`` is the FCN's standard ChebConv and pixel mean, without
    hooks, for pixel-major ``signals``."""
    return (type(head) is nn.Sequential and len(head) == 2 and type(head[0]) is ChebConv
            and type(head[1]) is _GlobalStatistics and not head[1].variance
            and head[0].laplacian.n_pixels == signals.shape[0]
            and not any(m._forward_hooks or m._forward_pre_hooks for m in (head, *head)))


def _pixel_major_mean_head(conv, signals, batch):
    """``mean_pixels(conv(x))`` of a pixel-major ``signals``: (batch, C_out).

    The pixel-major output (n_pixels * batch, C_out) is averaged over its
    pixels where it lies, instead of transposing the blocks' output for a
    channel-major head, and the head's input and output between layouts
    (four copies)."""
    if torch.is_grad_enabled():
        out = pixel_major_training_filter(conv.laplacian, signals, conv.weight, conv.bias, batch)
    else:
        out = pixel_major_filter(conv.laplacian, signals, conv.weight, conv.bias, batch)
    return out.view(-1, batch, conv.out_channels).mean(0)


def _pixel_major_signals(blocks, x):
    """The blocks' output as a pixel-major (n_pixels, batch * channels) block.

    Each layer's Chebyshev output, (n_pixels * batch, channels), is the
    next input as it is (see
    :func:`~skdeepsphere.nn._kernels.chebyshev.pixel_major_filter`): one
    transpose in, none between layers, forward or backward."""
    batch, channels, n_pixels = x.shape
    autograd = torch.is_grad_enabled()
    if autograd and x.requires_grad:
        signals = x.reshape(batch * channels, n_pixels).T.contiguous()
    else:  # into a recycled block: a fresh one costs page faults
        signals = empty_block((n_pixels, batch * channels), x.dtype, x.device)
        signals.copy_(x.detach().reshape(batch * channels, n_pixels).T)
    for block in blocks:
        conv, norm, _, *pool = list(block)
        # The max fuses into the BatchNorm + ReLU node; the mean follows it.
        fused = bool(pool) and pool[0].mode == "max"
        if autograd:
            # The bias goes into BatchNorm's statistics: one pass fewer.
            out = pixel_major_training_filter(conv.laplacian, signals, conv.weight, None, batch)
            signals = pixel_major_training_batch_norm_relu(norm, out, batch, fused,
                                                           conv_bias=conv.bias)
            del out
        else:
            signals = _inference_layer(conv, norm, signals, batch, fused)
        if pool and not fused:
            signals = _average_children(signals, autograd)
    return signals


def _inference_layer(conv, norm, signals, batch, pool):
    """One frozen block on a pixel-major block, without autograd."""
    if pool:
        # Pooled chunk by chunk as the filter's GEMMs produce its output.
        pooled = pixel_major_filter_batch_norm_relu_pool(conv, norm, signals, batch)
        if pooled is not None:
            return pooled
    # The bias goes into BatchNorm's shift: one pass over the output fewer.
    out = pixel_major_filter(conv.laplacian, signals, conv.weight, None, batch)
    return pixel_major_batch_norm_relu(norm, out, batch, pool=pool, conv_bias=conv.bias)


def _average_children(signals, autograd):
    """The mean over nested groups of 4 pixels (consecutive row groups) of
    a pixel-major (n_pixels, width) block."""
    children = signals.view(-1, 4, signals.shape[1])
    if autograd:
        return children.mean(1)
    # Into a recycled block: a fresh one costs page faults.
    return torch.mean(children, 1, out=empty_block((children.shape[0], children.shape[2]),
                                                  signals.dtype, signals.device))


def _fast_block(block, x):
    """``block(x)``, with BatchNorm, ReLU (and max-pooling) fused where that is exact."""
    layers = list(block)
    if (len(layers) < 3 or block._forward_hooks or block._forward_pre_hooks
            or not isinstance(layers[0], ChebConv)):
        return block(x)
    x = layers[0](x)
    if fusable(layers[1], layers[2], x):
        pool = len(layers) > 3 and fusable_pool(layers[3], x)
        x = batch_norm_relu(layers[1], x, pool=pool)
        layers = layers[3 + pool:]
    else:
        layers = layers[1:]
    for layer in layers:
        x = layer(x)
    return x


def nested_patch_grid(nested_pixels):
    """Image positions of the pixels of one nested square patch.

    Within a HEALPix base pixel, the nested index interleaves the bits of the
    two grid coordinates; a block of ``4**j`` consecutive nested pixels
    starting at a multiple of ``4**j`` is a square of side ``2**j``.

    Parameters
    ----------
    nested_pixels : ndarray of int, shape (4**j,)
        Sorted nested pixel indices.

    Returns
    -------
    flat_index : ndarray of int, shape (4**j,)
        ``flat_index[i]`` is the row-major position of pixel ``i`` in the
        ``2**j x 2**j`` image.

    Raises
    ------
    ValueError
        If the pixels are not one complete, aligned nested square.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.nn import nested_patch_grid
    >>> nested_patch_grid(np.arange(16, 32))
    array([ 0,  1,  4,  5,  2,  3,  6,  7,  8,  9, 12, 13, 10, 11, 14, 15])
    """
    pixels = np.asarray(nested_pixels, dtype=np.int64)
    n = pixels.size
    side = int(round(np.sqrt(n)))
    if (n == 0 or side * side != n or side & (side - 1)
            or pixels[0] % n or not np.array_equal(pixels, pixels[0] + np.arange(n))):
        raise ValueError(
            "the 2D CNN needs the pixels of one nested square patch: 4**j "
            "consecutive nested pixels starting at a multiple of 4**j "
            "(see skdeepsphere.healpix.patch_pixels)"
        )
    local = pixels - pixels[0]
    x = np.zeros(n, dtype=np.int64)
    y = np.zeros(n, dtype=np.int64)
    for bit in range(side.bit_length() - 1):
        x |= ((local >> (2 * bit)) & 1) << bit
        y |= ((local >> (2 * bit + 1)) & 1) << bit
    return y * side + x


class PatchCNN2d(nn.Module):
    """The 2D CNN baseline of DeepSphere: a square patch seen as an image.

    Blocks ``Conv2d(3x3) -> BatchNorm -> ReLU -> MaxPool(2)`` (pooling while
    the image is larger than 1 pixel), then global averaging (``"fcn"``) or a
    dense layer on the flattened features (``"cnn"``).

    Parameters
    ----------
    nested_pixels : ndarray of int
        Sorted nested pixels of one square patch, see
        :func:`nested_patch_grid`.
    in_channels, n_outputs : int
    channels : sequence of int, default=(16, 32, 64, 64)
    kernel_size : int, default=3
    head : {"fcn", "cnn"}, default="fcn"
    batch_norm : bool, default=True
    dropout : float, default=0.0

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skdeepsphere.nn import PatchCNN2d
    >>> model = PatchCNN2d(np.arange(64), 1, 2, channels=(4, 8))
    >>> model(torch.randn(3, 1, 64)).shape
    torch.Size([3, 2])
    """

    def __init__(self, nested_pixels, in_channels, n_outputs,
                 channels=(16, 32, 64, 64), kernel_size=3, head="fcn",
                 batch_norm=True, dropout=0.0):
        super().__init__()
        if head not in ("fcn", "cnn"):
            raise ValueError(f"head must be 'fcn' or 'cnn', got {head!r}")
        flat_index = nested_patch_grid(nested_pixels)
        self.side = int(round(np.sqrt(flat_index.size)))
        # image[flat_index[i]] = signal[i]  <=>  image = signal[inverse]
        self.register_buffer("inverse", torch.from_numpy(np.argsort(flat_index)))
        blocks = []
        width, side = in_channels, self.side
        for out in channels:
            layers = [nn.Conv2d(width, out, kernel_size, padding=kernel_size // 2)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            if side > 1:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            blocks.append(nn.Sequential(*layers))
            width = out
        self.blocks = nn.Sequential(*blocks)
        if head == "cnn":
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                      nn.Linear(width * side * side, n_outputs))
        else:
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Dropout(dropout), nn.Linear(width, n_outputs))

    def forward(self, x):
        """Scores (batch, n_outputs) for patches (batch, in_channels, n_pixels)."""
        image = x[..., self.inverse].unflatten(-1, (self.side, self.side))
        return self.head(self.blocks(image))


def _conv_block(in_channels, out_channels, laplacian, cheb_order, batch_norm):
    layers = [ChebConv(in_channels, out_channels, laplacian, cheb_order)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(out_channels))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SphericalUNet(nn.Module):
    r"""Spherical U-Net: dense (per-pixel) outputs from HEALPix maps.

    The encoder is DeepSphere's blocks ``ChebConv -> BatchNorm -> ReLU``,
    pooling nested groups of 4 pixels after each of the first
    ``len(parents)`` levels. The decoder climbs back: at each level it
    unpools (:class:`~skdeepsphere.nn.HealpixUnpool`, every pixel copied to
    its children, only the observed ones on a partial sky), concatenates the
    encoder's feature maps of that level (skip connection) and applies a
    block at that level's graph. A last per-pixel linear layer maps the
    finest features to ``n_outputs`` channels: the network returns
    ``(batch, n_outputs, n_pixels)``, class scores or regression maps.

    With ``L = len(parents)`` poolings, encoder block ``i`` runs at level
    ``min(i, L)``: ``channels`` needs at least ``L + 1`` widths, and the
    widths beyond ``L + 1`` add blocks at the coarsest level (the bottom of
    the U). The decoder block of level ``l < L`` has the width of the last
    encoder block of that level.

    Parameters
    ----------
    laplacians : list of scipy.sparse matrix
        Rescaled Laplacians, finest first: ``len(parents) + 1`` of them.
    parents : list of array of int
        Pooling assignments, see :func:`skdeepsphere.healpix.parent_hierarchy`.
    in_channels : int
        Channels of the input maps.
    n_outputs : int
        Output channels per pixel (classes, or regression maps).
    channels : sequence of int, default=(16, 32, 64)
        Widths of the encoder blocks.
    cheb_order : int, default=5
        Chebyshev polynomial order K of every graph convolution.
    pooling : {"max", "avg"}, default="max"
    batch_norm : bool, default=True
    dropout : float, default=0.0
        Dropout before the last (per-pixel) layer.

    See Also
    --------
    DeepSphere : The same blocks with a global (per-map) output.

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.graph import laplacian_hierarchy
    >>> from skdeepsphere.nn import SphericalUNet
    >>> laplacians, _, parents = laplacian_hierarchy(8, None, 2)
    >>> model = SphericalUNet(laplacians, parents, 2, 3, channels=(4, 8, 8), cheb_order=3)
    >>> model(torch.randn(5, 2, 768)).shape
    torch.Size([5, 3, 768])
    """

    def __init__(self, laplacians, parents, in_channels, n_outputs,
                 channels=(16, 32, 64), cheb_order=5, pooling="max",
                 batch_norm=True, dropout=0.0):
        super().__init__()
        n_levels = len(parents)
        if len(laplacians) != n_levels + 1:
            raise ValueError("need one Laplacian per level: len(parents) + 1")
        channels = [int(c) for c in channels]
        if len(channels) < n_levels + 1:
            raise ValueError(
                f"a U-Net with {n_levels} poolings needs at least {n_levels + 1} "
                f"channel widths (one per level), got channels={tuple(channels)}"
            )
        self.encoder = nn.ModuleList()
        self.pools = nn.ModuleList()
        skip_widths = []
        width = in_channels
        for index, out in enumerate(channels):
            level = min(index, n_levels)
            self.encoder.append(_conv_block(width, out, laplacians[level], cheb_order,
                                            batch_norm))
            width = out
            # The last block of a level above the bottom feeds a skip and a pool.
            if index < n_levels:
                skip_widths.append(out)
                self.pools.append(HealpixPool(parents[index], mode=pooling))
        self.unpools = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in range(n_levels - 1, -1, -1):
            self.unpools.append(HealpixUnpool(parents[level]))
            out = skip_widths[level]
            self.decoder.append(_conv_block(width + out, out, laplacians[level],
                                            cheb_order, batch_norm))
            width = out
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Conv1d(width, n_outputs, 1))

    def forward(self, x):
        """Per-pixel scores (batch, n_outputs, n_pixels) for maps (batch, in_channels, n_pixels)."""
        skips = []
        for index, block in enumerate(self.encoder):
            x = block(x)
            if index < len(self.pools):
                skips.append(x)
                x = self.pools[index](x)
        for unpool, block, skip in zip(self.unpools, self.decoder, reversed(skips)):
            x = block(torch.cat([unpool(x), skip], dim=1))
        return self.head(x)

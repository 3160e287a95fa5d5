"""HEALPix pooling and unpooling: nested groups of 4 pixels and their parent.

In the nested ordering the children of pixel ``p`` are ``4p, ..., 4p + 3``,
so on a full sky (or any set of complete groups) pooling is a reshape. On a
partial sky a parent with only some children observed pools over those.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional

__all__ = ["HealpixPool", "HealpixUnpool"]


def _set_parents(module, parents):
    """Store the assignment ``parents`` and what it implies on ``module``.

    ``n_pixels``, ``n_parents``, and ``complete``: every parent has exactly
    the 4 consecutive children ``4 p, ..., 4 p + 3`` (complete nested
    groups), so a reshape suffices.
    """
    parents = np.asarray(parents, dtype=np.int64)
    module.n_pixels = parents.size
    module.n_parents = int(parents.max()) + 1 if parents.size else 0
    module.complete = bool(
        module.n_pixels == 4 * module.n_parents
        and np.array_equal(parents, np.arange(module.n_pixels) // 4)
    )
    module.register_buffer("parents", torch.from_numpy(parents))


class HealpixPool(nn.Module):
    """Max or average pooling from ``nside`` to ``nside / 2``.

    Parameters
    ----------
    parents : array-like of int, shape (n_pixels,)
        Position of each pixel's parent among the coarse pixels, as returned
        by :func:`skdeepsphere.healpix.parent_hierarchy`.
    mode : {"max", "avg"}, default="max"

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skdeepsphere.nn import HealpixPool
    >>> pool = HealpixPool(np.arange(12) // 4, mode="max")
    >>> pool(torch.arange(12.).view(1, 1, 12))
    tensor([[[ 3.,  7., 11.]]])
    """

    def __init__(self, parents, mode="max"):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode
        _set_parents(self, parents)

    def forward(self, x):
        """Pool ``x`` of shape (batch, channels, n_pixels)."""
        if self.complete:
            if self.mode == "max":
                # Same values as a reshape and amax; its index-based backward
                # is about twice as fast as amax's mask-based one.
                return functional.max_pool1d(x, 4)
            return x.unflatten(-1, (self.n_parents, 4)).mean(-1)
        index = self.parents.expand_as(x)
        out = x.new_zeros(x.shape[:-1] + (self.n_parents,))
        reduce = "amax" if self.mode == "max" else "mean"
        return out.scatter_reduce(-1, index, x, reduce=reduce, include_self=False)

    def extra_repr(self):
        return f"{self.n_pixels} -> {self.n_parents}, mode={self.mode!r}"


class HealpixUnpool(nn.Module):
    """Nested unpooling from ``nside / 2`` to ``nside``: each child copies its parent.

    The transpose of average pooling up to a factor 4 (and the U-Net's
    "nearest-neighbour upsampling"): ``out[..., j] = x[..., parents[j]]``. On
    a partial sky only the observed children of a parent are produced, so
    the output has exactly the pixels of the finer level.

    Parameters
    ----------
    parents : array-like of int, shape (n_pixels,)
        Position of each fine pixel's parent among the coarse pixels, as
        returned by :func:`skdeepsphere.healpix.parent_hierarchy` (the same
        array as the matching :class:`HealpixPool`).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skdeepsphere.nn import HealpixUnpool
    >>> unpool = HealpixUnpool(np.array([0, 0, 1, 1, 1]))
    >>> unpool(torch.tensor([[[1., 2.]]]))
    tensor([[[1., 1., 2., 2., 2.]]])
    """

    def __init__(self, parents):
        super().__init__()
        _set_parents(self, parents)

    def forward(self, x):
        """Unpool ``x`` of shape (batch, channels, n_parents)."""
        if self.complete:
            # A broadcast view, copied once by flatten; its backward sums
            # groups of 4 like average pooling (times 4).
            return x.unsqueeze(-1).expand(*x.shape, 4).flatten(-2)
        return x.index_select(-1, self.parents)

    def extra_repr(self):
        return f"{self.n_parents} -> {self.n_pixels}"

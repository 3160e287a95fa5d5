"""Losses of dense (per-pixel) targets with masked pixels."""

import torch
from torch import nn

__all__ = ["MaskedMSELoss"]


class MaskedMSELoss(nn.Module):
    """Mean squared error over the target pixels that are not NaN.

    Masked pixels (NaN in the target) contribute neither to the loss nor to
    its gradient; the mean runs over the observed values of the batch.

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.nn import MaskedMSELoss
    >>> MaskedMSELoss()(torch.tensor([1.0, 5.0, 3.0]), torch.tensor([2.0, float("nan"), 3.0]))
    tensor(0.5000)
    """

    def forward(self, prediction, target):
        """Mean squared error over the pixels where ``target`` is not NaN."""
        observed = ~torch.isnan(target)
        # where(), not indexing by the mask, keeps the graph shape fixed; a
        # batch without observed pixels gives a zero loss and zero gradient.
        error = torch.where(observed, prediction - torch.nan_to_num(target), 0.0)
        return (error ** 2).sum() / observed.sum().clamp(min=1)

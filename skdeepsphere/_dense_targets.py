"""Validation of dense (per-pixel) targets for the U-Net estimators.

Kept out of :mod:`skdeepsphere.estimators` so that the per-map and the
per-pixel targets each have one place.
"""

import numpy as np
from sklearn.utils.multiclass import type_of_target

from .metrics import observed_mask

#: Target of masked pixels for torch.nn.CrossEntropyLoss (its default).
IGNORE_INDEX = -100


def _check_shape(y, n_samples, n_pixels, shapes):
    if y.ndim not in (2, 3) or y.shape[0] != n_samples or y.shape[-1] != n_pixels:
        raise ValueError(
            f"architecture='unet' predicts maps: y must have shape {shapes} with "
            f"n_samples={n_samples} and n_pixels={n_pixels} like X, got {y.shape}"
        )


def dense_labels(y, n_samples, n_pixels):
    """Per-pixel labels -> (classes, codes); masked pixels get IGNORE_INDEX.

    ``y`` has shape (n_samples, n_pixels); ``-1`` or NaN marks masked pixels.
    """
    y = np.asarray(y)
    if y.ndim == 3:
        raise ValueError(
            f"per-pixel labels must have shape (n_samples, n_pixels), got {y.shape}"
        )
    _check_shape(y, n_samples, n_pixels, "(n_samples, n_pixels)")
    observed = observed_mask(y)
    values = y[observed]
    if values.size == 0:
        raise ValueError("y has no observed pixel: every label is -1 (masked) or NaN")
    kind = type_of_target(values)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type: {kind}. Per-pixel labels must be classes, "
            "not continuous values (use SphericalCNNRegressor for maps of numbers)"
        )
    classes, codes = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"the classifier needs pixels of at least 2 classes, got 1 class: "
            f"{classes.tolist()[0]!r}"
        )
    encoded = np.full(y.shape, IGNORE_INDEX, dtype=np.int64)
    encoded[observed] = codes
    return classes, encoded, values


def dense_values(y, n_samples, n_pixels):
    """Per-pixel regression targets as float64 (n_samples, n_outputs, n_pixels).

    NaN and ``healpy.UNSEEN`` become NaN (masked); infinities are refused.
    """
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"y must hold numbers (maps of regression targets): {error}"
        ) from None
    _check_shape(y, n_samples, n_pixels,
                 "(n_samples, n_pixels) or (n_samples, n_out_channels, n_pixels)")
    if np.isinf(y).any():
        raise ValueError("y contains infinite values (mask pixels with NaN or healpy.UNSEEN)")
    values = np.where(observed_mask(y), y, np.nan)
    return values if values.ndim == 3 else values[:, None, :]

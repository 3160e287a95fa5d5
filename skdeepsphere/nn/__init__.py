"""torch modules of DeepSphere: graph convolution, pooling, architectures.

Nothing here imports scikit-learn.
"""

from .augment import RandomBatchRotation
from .conv import ChebConv, chebyshev_basis
from ._kernels import SparseLaplacian
from .losses import MaskedMSELoss
from .models import DeepSphere, PatchCNN2d, SphericalUNet, nested_patch_grid
from .pool import HealpixPool, HealpixUnpool

__all__ = [
    "ChebConv",
    "DeepSphere",
    "HealpixPool",
    "HealpixUnpool",
    "MaskedMSELoss",
    "PatchCNN2d",
    "RandomBatchRotation",
    "SparseLaplacian",
    "SphericalUNet",
    "chebyshev_basis",
    "nested_patch_grid",
]

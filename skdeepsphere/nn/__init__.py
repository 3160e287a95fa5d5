"""torch modules of DeepSphere: graph convolution, pooling, architectures.

Nothing here imports scikit-learn.
"""

from .augment import RandomBatchRotation
from .conv import ChebConv, chebyshev_basis
from .models import DeepSphere, PatchCNN2d, nested_patch_grid
from .pool import HealpixPool
from .sparse import SparseLaplacian, release_blocks

__all__ = [
    "ChebConv",
    "DeepSphere",
    "HealpixPool",
    "PatchCNN2d",
    "RandomBatchRotation",
    "SparseLaplacian",
    "chebyshev_basis",
    "nested_patch_grid",
    "release_blocks",
]

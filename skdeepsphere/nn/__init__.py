"""torch modules of DeepSphere: graph convolution, pooling, architectures.

Nothing here imports scikit-learn.
"""

from .conv import ChebConv, chebyshev_basis
from .models import DeepSphere, PatchCNN2d, nested_patch_grid
from .pool import HealpixPool
from ._kernels import SparseLaplacian

__all__ = [
    "ChebConv",
    "DeepSphere",
    "HealpixPool",
    "PatchCNN2d",
    "SparseLaplacian",
    "chebyshev_basis",
    "nested_patch_grid",
]

"""torch modules of DeepSphere: graph convolution, pooling, architectures.

Nothing here imports scikit-learn.
"""

from .conv import ChebConv, chebyshev_basis
from .pool import HealpixPool
from .sparse import SparseLaplacian

__all__ = ["ChebConv", "HealpixPool", "SparseLaplacian", "chebyshev_basis"]

"""Application of a fixed, symmetric sparse Laplacian to a block of signals.

This is the inner loop of every Chebyshev convolution: ``y = L x`` with
``x`` of shape ``(n_pixels, n_signals)`` (pixel-major, so that the
neighbours of a pixel are whole contiguous rows).
"""

import numpy as np
import torch
from torch import nn

__all__ = ["SparseLaplacian"]


class SparseLaplacian(nn.Module):
    """A fixed symmetric sparse matrix acting on pixel-major signals.

    Parameters
    ----------
    laplacian : scipy.sparse matrix of shape (n_pixels, n_pixels)
        Symmetric (e.g. the rescaled Laplacian of
        :func:`skdeepsphere.graph.healpix_laplacian`).

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.graph import healpix_laplacian
    >>> from skdeepsphere.nn.sparse import SparseLaplacian
    >>> operator = SparseLaplacian(healpix_laplacian(4))
    >>> operator(torch.ones(192, 3)).shape
    torch.Size([192, 3])
    """

    def __init__(self, laplacian):
        super().__init__()
        coo = laplacian.tocoo()
        indices = np.vstack([coo.row, coo.col]).astype(np.int64)
        self.n_pixels = laplacian.shape[0]
        self.register_buffer("indices", torch.from_numpy(indices))
        self.register_buffer("values", torch.from_numpy(coo.data.astype(np.float32)))

    def matrix(self, dtype=None):
        """The operator as a torch sparse CSR tensor."""
        values = self.values if dtype is None else self.values.to(dtype)
        size = (self.n_pixels, self.n_pixels)
        return torch.sparse_coo_tensor(self.indices, values, size).coalesce().to_sparse_csr()

    def forward(self, x):
        """Return ``L @ x`` for ``x`` of shape (n_pixels, n_signals)."""
        return self.matrix(x.dtype) @ x

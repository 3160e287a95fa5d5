"""The textbook Chebyshev convolution the benchmark compares against.

``torch.sparse`` CSR product of the Laplacian (built once) with the
pixel-major block, the three-term recursion with ``torch.sparse.mm``,
``torch.stack`` of the K terms and an ``einsum`` with the weights: the
implementation of ``ChebConv`` before issue 6, minus its per-call rebuild of
the sparse matrix. It reads the weights of a ``skdeepsphere.nn.ChebConv`` so
that both compute the same function.
"""

import numpy as np
import torch


def torch_sparse_laplacian(scipy_matrix, device="cpu"):
    """``torch.sparse_csr_tensor`` of a scipy matrix (float32)."""
    csr = scipy_matrix.tocsr()
    return torch.sparse_csr_tensor(
        torch.from_numpy(csr.indptr.astype(np.int64)),
        torch.from_numpy(csr.indices.astype(np.int64)),
        torch.from_numpy(csr.data.astype(np.float32)),
        size=csr.shape, device=device)


def textbook_chebconv(conv, matrix, x):
    """Forward of ``conv`` (a ChebConv) the textbook way; ``matrix`` is L."""
    batch, channels, n_pixels = x.shape
    signals = x.permute(2, 0, 1).reshape(n_pixels, batch * channels)
    terms = [signals]
    if conv.cheb_order > 1:
        terms.append(torch.sparse.mm(matrix, signals))
    for _ in range(2, conv.cheb_order):
        terms.append(2 * torch.sparse.mm(matrix, terms[-1]) - terms[-2])
    basis = torch.stack(terms).view(conv.cheb_order, n_pixels, batch, channels)
    out = torch.einsum("kpbi,kio->bop", basis, conv.weight)
    if conv.bias is not None:
        out = out + conv.bias[:, None]
    return out


def textbook_forward(conv, x):
    """Drop-in ``ChebConv.forward`` (for monkeypatching a whole model)."""
    cache = conv.__dict__.setdefault("_textbook_matrix", {})
    key = (x.device, x.dtype)
    if key not in cache:
        cache[key] = conv.laplacian.matrix(x.dtype).to(x.device)
    return textbook_chebconv(conv, cache[key], x)

r"""Chebyshev graph convolution (Defferrard et al. 2016), as in DeepSphere.

:func:`chebyshev_basis` and the ``einsum`` in :meth:`ChebConv.forward` are
the readable reference; the fast path (``set_config(kernels="fast")``, the
default) computes the same function in :mod:`skdeepsphere.nn._kernels`.
"""

import math

import torch
from torch import nn

from .._config import get_config
from ._kernels import SparseLaplacian, chebyshev_filter

__all__ = ["ChebConv", "chebyshev_basis"]


def chebyshev_basis(laplacian, x, cheb_order):
    r"""Stack :math:`T_0(\tilde L) x, \dots, T_{K-1}(\tilde L) x`.

    Uses the recursion :math:`T_0 x = x`, :math:`T_1 x = \tilde L x`,
    :math:`T_k x = 2 \tilde L T_{k-1} x - T_{k-2} x`, differentiated by
    autograd.

    Parameters
    ----------
    laplacian : callable
        Applies the rescaled Laplacian to a (n_pixels, n_signals) tensor,
        e.g. a :class:`~skdeepsphere.nn.SparseLaplacian`.
    x : torch.Tensor of shape (n_pixels, n_signals)
    cheb_order : int
        Number of polynomials K (K = 1 is a pixel-wise linear map).

    Returns
    -------
    basis : torch.Tensor of shape (cheb_order, n_pixels, n_signals)

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.graph import healpix_laplacian
    >>> from skdeepsphere.nn import SparseLaplacian, chebyshev_basis
    >>> L = SparseLaplacian(healpix_laplacian(2))
    >>> chebyshev_basis(L, torch.ones(48, 3), 4).shape
    torch.Size([4, 48, 3])
    """
    terms = [x]
    if cheb_order > 1:
        terms.append(laplacian(x))
    for _ in range(2, cheb_order):
        terms.append(2 * laplacian(terms[-1]) - terms[-2])
    return torch.stack(terms)


class ChebConv(nn.Module):
    r"""Graph convolution with a Chebyshev polynomial filter.

    .. math::

        y_{o} = \sum_{i=1}^{C_{in}} \sum_{k=0}^{K-1}
                \theta_{k,i,o} \, T_k(\tilde L) \, x_{i} + b_o ,

    where :math:`\tilde L = 2 L / \lambda_{max} - I` is the rescaled graph
    Laplacian and :math:`T_k` the Chebyshev polynomials. A filter of order
    :math:`K` is exactly :math:`K - 1` hops localised on the graph.

    Parameters
    ----------
    in_channels, out_channels : int
        Feature maps in and out.
    laplacian : scipy.sparse matrix of shape (n_pixels, n_pixels)
        Rescaled Laplacian (spectrum in [-1, 1]), e.g. from
        :func:`skdeepsphere.graph.healpix_laplacian`.
    cheb_order : int, default=5
        Number of Chebyshev polynomials K.
    bias : bool, default=True
        Add a learned bias per output channel.

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.graph import healpix_laplacian
    >>> from skdeepsphere.nn import ChebConv
    >>> conv = ChebConv(2, 8, healpix_laplacian(4), cheb_order=3)
    >>> conv(torch.randn(5, 2, 192)).shape
    torch.Size([5, 8, 192])
    """

    def __init__(self, in_channels, out_channels, laplacian, cheb_order=5, bias=True):
        super().__init__()
        if cheb_order < 1:
            raise ValueError(f"cheb_order must be >= 1, got {cheb_order}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.cheb_order = cheb_order
        self.laplacian = SparseLaplacian(laplacian)
        self.weight = nn.Parameter(torch.empty(cheb_order, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Glorot-like initialisation scaled by the number of polynomials."""
        std = math.sqrt(2.0 / (self.in_channels * self.cheb_order + self.out_channels))
        nn.init.normal_(self.weight, std=std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x):
        """Filter ``x`` of shape (batch, in_channels, n_pixels)."""
        if get_config()["kernels"] == "fast":
            return chebyshev_filter(self.laplacian, x, self.weight, self.bias)
        batch, channels, n_pixels = x.shape
        signals = x.permute(2, 0, 1).reshape(n_pixels, batch * channels)
        basis = chebyshev_basis(self.laplacian, signals, self.cheb_order)
        y = torch.einsum("kpbi,kio->bop", basis.view(-1, n_pixels, batch, channels),
                         self.weight)
        return y if self.bias is None else y + self.bias[:, None]

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, "
                f"n_pixels={self.laplacian.n_pixels}, cheb_order={self.cheb_order}")

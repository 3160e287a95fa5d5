r"""Chebyshev graph convolution (Defferrard et al. 2016), as in DeepSphere."""

import math

import torch
from torch import nn

from .sparse import SparseLaplacian, empty_block, transpose_into

__all__ = ["ChebConv", "chebyshev_basis"]


def chebyshev_basis(laplacian, x, cheb_order):
    r"""Stack :math:`T_0(\tilde L) x, \dots, T_{K-1}(\tilde L) x`.

    Uses the recursion :math:`T_0 x = x`, :math:`T_1 x = \tilde L x`,
    :math:`T_k x = 2 \tilde L T_{k-1} x - T_{k-2} x`.

    Parameters
    ----------
    laplacian : callable
        Applies the rescaled Laplacian to a (n_pixels, n_signals) tensor.
    x : torch.Tensor of shape (n_pixels, n_signals)
    cheb_order : int
        Number of polynomials K (K = 1 is a pixel-wise linear map).

    Returns
    -------
    basis : torch.Tensor of shape (cheb_order, n_pixels, n_signals)
    """
    return torch.stack(list(_chebyshev_terms(laplacian, x, cheb_order)))


def _chebyshev_terms(laplacian, x, cheb_order):
    """Yield the terms of :func:`chebyshev_basis` one by one."""
    # A SparseLaplacian fuses 2 L T_{k-1} - T_{k-2} into one pass over memory.
    step = getattr(laplacian, "chebyshev_step", None)
    if step is None:
        def step(current, previous):
            return 2 * laplacian(current) - previous
    previous, current = None, x
    yield x
    for k in range(1, cheb_order):
        previous, current = current, (laplacian(current) if k == 1
                                      else step(current, previous))
        yield current


class _ChebyshevFilter(torch.autograd.Function):
    r"""``sum_k T_k(L) x theta_k + b`` with a hand-written backward.

    Forward: the K terms are separate contiguous (n_pixels, batch * C_in)
    blocks, each produced by one fused kernel pass, and the filter is K
    accumulating ``addmm`` (no stacked copy of the basis). Backward: the
    input gradient :math:`\sum_k T_k(L) G_k` with :math:`G_k = G \theta_k^T`
    is evaluated by Clenshaw's recurrence
    :math:`b_k = G_k + 2 L b_{k+1} - b_{k+2}`, one fused pass per order plus
    an in-place ``addmm``, so that no :math:`G_k` is ever stored. Fewer and
    smaller temporaries matter on CPU, where fresh memory costs page faults.
    Layout changes between (batch, channels, n_pixels) and pixel-major are
    explicit 2-D transposes into pooled blocks
    (:func:`~skdeepsphere.nn.sparse.transpose_into`; a 3-D
    ``permute().contiguous()`` is 5x slower).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, operator):
        batch, channels, n_pixels = x.shape
        cheb_order, _, out_channels = weight.shape
        rows = n_pixels * batch
        first = empty_block((n_pixels, batch * channels), x.dtype, x.device)
        transpose_into(x.reshape(batch * channels, n_pixels), first)
        terms = [first]
        for k in range(1, cheb_order):
            previous = terms[-2] if k > 1 else None
            terms.append(operator._kernel(terms[-1], 2.0 if k > 1 else 1.0, previous, 1.0))
        out = empty_block((rows, out_channels), x.dtype, x.device)
        if bias is None:
            torch.mm(terms[0].view(rows, channels), weight[0], out=out)
        else:
            torch.addmm(bias, terms[0].view(rows, channels), weight[0], out=out)
        for k in range(1, cheb_order):
            out.addmm_(terms[k].view(rows, channels), weight[k])
        ctx.operator = operator
        ctx.has_bias = bias is not None
        ctx.shape = (batch, channels, n_pixels)
        ctx.save_for_backward(weight, *terms)
        result = empty_block((batch, out_channels, n_pixels), x.dtype, x.device)
        transpose_into(out.view(n_pixels, -1), result.view(batch * out_channels, n_pixels))
        return result

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        weight, *terms = ctx.saved_tensors
        batch, channels, n_pixels = ctx.shape
        cheb_order = weight.shape[0]
        rows = n_pixels * batch
        out_channels = weight.shape[2]
        pixel_major = empty_block((n_pixels, batch * out_channels), grad.dtype, grad.device)
        transpose_into(grad.reshape(batch * out_channels, n_pixels), pixel_major)
        grad = pixel_major.view(rows, out_channels)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_weight = torch.stack([term.view(rows, channels).T @ grad for term in terms])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(0)
        if ctx.needs_input_grad[0]:
            kernel = ctx.operator._kernel
            # Clenshaw: b_{K-1} = G_{K-1}; b_k = G_k + 2 L b_{k+1} - b_{k+2};
            # result = G_0 + L b_1 - b_2 (b_K = 0).
            # Three rolling buffers: the one two steps old is free again.
            def block():
                return empty_block((n_pixels, batch * channels), grad.dtype, grad.device)

            latest = torch.mm(grad, weight[-1].T, out=block().view(rows, channels))
            free, later, latest = None, None, latest.view(n_pixels, -1)
            for k in range(cheb_order - 2, -1, -1):
                current = kernel(latest, 2.0 if k > 0 else 1.0, later, 1.0,
                                 out=block() if free is None else free)
                current.view(rows, channels).addmm_(grad, weight[k].T)
                free, later, latest = later, latest, current
            grad_x = empty_block((batch, channels, n_pixels), grad.dtype, grad.device)
            transpose_into(latest, grad_x.view(batch * channels, n_pixels))
        return grad_x, grad_weight, grad_bias, None


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
        return _ChebyshevFilter.apply(x, self.weight, self.bias, self.laplacian)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, "
                f"n_pixels={self.laplacian.n_pixels}, cheb_order={self.cheb_order}")

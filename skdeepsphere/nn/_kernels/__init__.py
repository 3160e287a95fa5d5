"""The fast path of the Chebyshev convolution (private).

Everything that makes :class:`skdeepsphere.nn.ChebConv` fast lives here and
nowhere else, chosen by :func:`skdeepsphere.set_config` (``kernels``,
``compile``, ``pool_mb``):

``ell``
    The Laplacian in ELL layout (:class:`SparseLaplacian`) and the one
    dispatch of ``alpha L x - beta prev`` to the C, eager or cuSPARSE
    kernel.
``native``
    That product, the fused BatchNorm + ReLU + max-pool of training and
    prediction, and prediction's one-channel first layer, as C kernels
    built at the first use in a process.
``chebyshev``
    The filter with its Clenshaw backward.
``normalization``
    BatchNorm + ReLU (+ max-pool) as one autograd node.
``memory``
    The pool that recycles large CPU blocks and returns them to the system
    when they stay unused.
"""

from .chebyshev import chebyshev_filter
from .ell import SparseLaplacian, laplacian_step

__all__ = ["SparseLaplacian", "chebyshev_filter", "laplacian_step"]

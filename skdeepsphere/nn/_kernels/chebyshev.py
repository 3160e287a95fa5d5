r"""The fast Chebyshev filter: ``sum_k T_k(L) x theta_k + b`` with a hand-written backward.

Forward: the K terms are separate contiguous (n_pixels, batch * C_in)
blocks, each produced by one fused kernel pass (:func:`.ell.laplacian_step`),
and the filter is K accumulating ``addmm`` (no stacked copy of the basis).
Backward: the input gradient :math:`\sum_k T_k(L) G_k` with
:math:`G_k = G \theta_k^T` is evaluated by Clenshaw's recurrence
:math:`b_k = G_k + 2 L b_{k+1} - b_{k+2}`, one fused pass per order plus an
in-place ``addmm``, so that no :math:`G_k` is ever stored. Fewer and smaller
temporaries matter on CPU, where fresh memory costs page faults; blocks
come from :func:`.memory.empty_block`. The filter works on pixel-major
blocks; :class:`~skdeepsphere.nn.DeepSphere` keeps its activations in that
layout from layer to layer (:func:`pixel_major_training_filter`,
:func:`pixel_major_filter`), and :func:`chebyshev_filter` serves
(batch, channels, n_pixels) tensors with explicit 2-D transposes into such
blocks (a 3-D ``permute().contiguous()`` is 5x slower).

The readable reference this must agree with is
:func:`skdeepsphere.nn.chebyshev_basis` followed by an ``einsum``.
"""

import torch

from .ell import laplacian_step
from .memory import empty_block

__all__ = ["chebyshev_filter", "filter_chunks", "one_channel_terms", "pixel_major_filter",
           "pixel_major_training_filter"]


def _transpose_into(source, out):
    """``out = source.T`` for a 2-D ``source`` and a contiguous ``out``."""
    return out.copy_(source.T)


#: Row chunks of the weight gradient's reduction (see :func:`_weight_gradient`).
_CHUNKS = 8


#: Fewer output channels than this make a "narrow" GEMM (see :func:`_right_operand`).
_NARROW = 16


def _right_operand(weight):
    """``weight`` (..., C_in, C_out) laid out for MKL's GEMM as the right-hand factor.

    With fewer than :data:`_NARROW` output columns and at least as many
    input channels, MKL multiplies faster by a column-major right factor:
    2.8x for the default FCN head's (3072, 64) by (64, 2) at nside 64
    (``benchmarks/run.py --only ops``). With a short inner dimension (the
    stacked first layer, K = 5) it was up to 2x slower in a side
    measurement, so that case keeps the row-major weight.
    """
    if weight.shape[-1] >= _NARROW or weight.shape[-2] < _NARROW:
        return weight
    return weight.transpose(-1, -2).contiguous().transpose(-1, -2)


def _weight_gradient(term, grad, rows, channels):
    """``term.T @ grad`` for a tall (rows, channels) term and (rows, C_out) grad.

    A GEMM whose reduction runs over hundreds of thousands of rows into a
    small (channels, C_out) result keeps few threads busy; a batched GEMM
    over row chunks, summed, was 2x faster for 16-64 channels (with fewer
    channels it is a matrix-vector product and the plain one wins). With
    fewer than :data:`_NARROW` output channels (and at least as many input
    channels) MKL is faster at the transposed product ``(grad.T @ term).T``
    (a network's last layer with a few classes): 2.8x on the default FCN
    head's shape at nside 64 (``benchmarks/run.py --only ops``).
    """
    narrow = grad.shape[1] < _NARROW <= channels
    if channels < 8 or rows % _CHUNKS:
        term = term.view(rows, channels)
        return (grad.T @ term).T if narrow else term.T @ grad
    part = rows // _CHUNKS
    terms, grads = term.view(_CHUNKS, part, channels), grad.view(_CHUNKS, part, -1)
    if narrow:
        return torch.bmm(grads.transpose(1, 2), terms).sum(0).T
    return torch.bmm(terms.transpose(1, 2), grads).sum(0)


def _next_term(operator, terms, out=None):
    """``T_k = 2 L T_{k-1} - T_{k-2}`` (``L T_0`` for k = 1) from the last two terms."""
    if len(terms) == 1:
        return laplacian_step(operator, terms[0], 1.0, out=out)
    return laplacian_step(operator, terms[-1], 2.0, terms[-2], 1.0, out=out)


def _stacked_terms(operator, stack):
    """Fill ``stack[1:]`` (K, n_pixels, n_signals) with the terms of ``stack[0]``.

    With one input channel the K terms side by side make the filter one
    GEMM of inner dimension K (and one for the weight gradient) instead of
    K passes over the output.
    """
    terms = list(stack.unbind(0))
    for k in range(1, len(terms)):
        _next_term(operator, terms[:k], out=terms[k])
    return stack


def one_channel_terms(operator, x, cheb_order, batch):
    """The (K, n_pixels, batch) block of the K terms of a one-channel
    pixel-major input ``x`` (n_pixels, batch), side by side."""
    return _stacked_terms(operator, _one_channel_stack(x, cheb_order, batch))


def _stacked_product(stack, weight, bias, out):
    """``out = sum_k stack[k] weight[k] + bias`` for one input channel."""
    cheb_order = stack.shape[0]
    product, matrix = stack.view(cheb_order, -1).T, weight.view(cheb_order, -1)
    if bias is None:
        return torch.mm(product, matrix, out=out)
    return torch.addmm(bias, product, matrix, out=out)


def _first_product(term, weight, bias, out):
    """``out = term weight[0] + bias``, the start of the K accumulating GEMMs."""
    if bias is None:
        return torch.mm(term, weight[0], out=out)
    return torch.addmm(bias, term, weight[0], out=out)


def _input_block(n_pixels, batch, channels, cheb_order, dtype, device):
    """Storage for the filter's input and where the input goes in it.

    With one input channel the input is the first of the stacked terms
    (see :func:`_stacked_terms`); otherwise it is a (n_pixels, batch * C_in)
    block of its own.
    """
    if channels == 1:
        stack = empty_block((cheb_order, n_pixels, batch), dtype, device)
        return stack, stack[0]
    block = empty_block((n_pixels, batch * channels), dtype, device)
    return block, block


def _one_channel_stack(signals, cheb_order, batch):
    """The (K, n_pixels, batch) block of the terms, with the pixel-major
    one-channel ``signals`` copied in as the first."""
    stack, first = _input_block(signals.shape[0], batch, 1, cheb_order, signals.dtype,
                                signals.device)
    first.copy_(signals)
    return stack


def _filter_forward(operator, first, weight, bias, batch):
    """The filter of the pixel-major input held by ``first`` (see :func:`_input_block`).

    Returns the pixel-major (n_pixels * batch, C_out) output and the terms
    the backward needs: ``[stack]`` with one input channel, the K
    (n_pixels, batch * C_in) blocks otherwise.
    """
    cheb_order, channels, out_channels = weight.shape
    n_pixels = first.shape[-2]
    rows = n_pixels * batch
    out = empty_block((rows, out_channels), first.dtype, first.device)
    if channels == 1:
        _stacked_product(_stacked_terms(operator, first), weight, bias, out)
        return out, [first]
    terms = _all_terms(operator, first, cheb_order)
    _accumulate_products([term.view(rows, channels) for term in terms], _right_operand(weight),
                         bias, out)
    return out, terms


def _all_terms(operator, x, cheb_order):
    """The K terms ``T_0(L) x = x, ..., T_{K-1}(L) x``, each a block of its own."""
    terms = [x]
    while len(terms) < cheb_order:
        terms.append(_next_term(operator, terms))
    return terms


#: Bytes of output per chunk of :func:`_accumulate_products` (in L2/L3 cache).
_GEMM_CHUNK_BYTES = 1 << 22


def _accumulate_products(terms, weight, bias, out):
    """``out = sum_k terms[k] weight[k] + bias``, a cache-sized chunk of rows at a time.

    Each accumulating GEMM (inner dimension C_in) reads and writes the
    whole output: chunk by chunk, the K products of a chunk meet its
    output in cache (1.5x faster for 16-32 channels at nside 64, in isolation).
    """
    rows, out_channels = out.shape
    step = max(1, _GEMM_CHUNK_BYTES // (out.element_size() * out_channels))
    for start in range(0, rows, step):
        part = out[start:start + step]
        _first_product(terms[0][start:start + step], weight, bias, part)
        for k in range(1, len(terms)):
            part.addmm_(terms[k][start:start + step], weight[k])
    return out


def _filter_backward(operator, grad, weight, terms, batch, needs_input_grad):
    """Gradients of :func:`_filter_forward` for a pixel-major (rows, C_out) ``grad``.

    Returns ``(grad_input, grad_weight, grad_bias)``, each None where
    ``needs_input_grad`` (input, weight, bias) says it is not needed;
    ``grad_input`` is a pixel-major (n_pixels, batch * C_in) block.
    """
    cheb_order, channels, out_channels = weight.shape
    rows = grad.shape[0]
    n_pixels = rows // batch
    grad_x = grad_weight = grad_bias = None
    if needs_input_grad[1]:
        if channels == 1:
            # terms[0] is the (K, n_pixels, batch) stack of the forward.
            grad_weight = _weight_gradient(terms[0].view(cheb_order, rows).T, grad, rows,
                                           cheb_order).reshape(cheb_order, 1, out_channels)
        else:
            grad_weight = torch.stack([_weight_gradient(term, grad, rows, channels)
                                       for term in terms])
    if needs_input_grad[2]:
        grad_bias = grad.sum(0)
    if needs_input_grad[0]:
        # Clenshaw: b_{K-1} = G_{K-1}; b_k = G_k + 2 L b_{k+1} - b_{k+2};
        # result = G_0 + L b_1 - b_2 (b_K = 0).
        # Three rolling buffers: the one two steps old is free again.
        def block():
            return empty_block((n_pixels, batch * channels), grad.dtype, grad.device)

        latest = torch.mm(grad, weight[-1].T, out=block().view(rows, channels))
        free, later, latest = None, None, latest.view(n_pixels, -1)
        for k in range(cheb_order - 2, -1, -1):
            current = laplacian_step(operator, latest, 2.0 if k > 0 else 1.0, later,
                                     1.0, out=block() if free is None else free)
            current.view(rows, channels).addmm_(grad, weight[k].T)
            free, later, latest = later, latest, current
        grad_x = latest
    return grad_x, grad_weight, grad_bias


class _ChebyshevFilter(torch.autograd.Function):
    """The filter between (batch, channels, n_pixels) layouts."""

    @staticmethod
    def forward(ctx, x, weight, bias, operator):
        batch, channels, n_pixels = x.shape
        out_channels = weight.shape[2]
        storage, first = _input_block(n_pixels, batch, channels, weight.shape[0],
                                      x.dtype, x.device)
        _transpose_into(x.reshape(batch * channels, n_pixels), first)
        out, terms = _filter_forward(operator, storage, weight, bias, batch)
        ctx.operator = operator
        ctx.shape = (batch, channels, n_pixels)
        ctx.save_for_backward(weight, *terms)
        result = empty_block((batch, out_channels, n_pixels), x.dtype, x.device)
        _transpose_into(out.view(n_pixels, -1), result.view(batch * out_channels, n_pixels))
        return result

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        weight, *terms = ctx.saved_tensors
        batch, channels, n_pixels = ctx.shape
        out_channels = weight.shape[2]
        pixel_major = empty_block((n_pixels, batch * out_channels), grad.dtype, grad.device)
        _transpose_into(grad.reshape(batch * out_channels, n_pixels), pixel_major)
        grad_x, grad_weight, grad_bias = _filter_backward(
            ctx.operator, pixel_major.view(n_pixels * batch, out_channels), weight, terms,
            batch, ctx.needs_input_grad[:3])
        if grad_x is not None:
            signals = grad_x
            grad_x = empty_block((batch, channels, n_pixels), grad.dtype, grad.device)
            _transpose_into(signals, grad_x.view(batch * channels, n_pixels))
        return grad_x, grad_weight, grad_bias, None


class _PixelMajorFilter(torch.autograd.Function):
    """The filter from a pixel-major (n_pixels, batch * C_in) input to the
    pixel-major (n_pixels * batch, C_out) output: no transposes."""

    @staticmethod
    def forward(ctx, signals, weight, bias, operator, batch):
        if weight.shape[1] == 1:
            storage = _one_channel_stack(signals, weight.shape[0], batch)
        else:
            # The input block itself is the first term: saved, not copied.
            storage = signals.contiguous()
        out, terms = _filter_forward(operator, storage, weight, bias, batch)
        ctx.operator = operator
        ctx.batch = batch
        ctx.save_for_backward(weight, *terms)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        weight, *terms = ctx.saved_tensors
        grads = _filter_backward(ctx.operator, grad.contiguous(), weight, terms, ctx.batch,
                                 ctx.needs_input_grad[:3])
        return (*grads, None, None)


def pixel_major_filter(operator, x, weight, bias, batch):
    """The filter on pixel-major signals, when no gradient is needed.

    ``x`` is a contiguous (n_pixels, batch * C_in) block; the result is the
    pixel-major (n_pixels * batch, C_out) block, which, viewed as
    (n_pixels, batch * C_out), is the next layer's input: between layers
    nothing is transposed. Up to :data:`_KEPT_TERMS_BYTES` of terms, the
    output is accumulated chunk by chunk once all K terms exist; beyond,
    each term is folded into the output as soon as it exists and only the
    last two are kept (the pool hands the oldest block back for the next
    term). With one input channel the K terms are
    written side by side and the output is one GEMM of inner dimension K
    rather than K rank-one updates, each a pass over the whole output.
    """
    n_pixels = x.shape[0]
    cheb_order, channels, out_channels = weight.shape
    if channels == 1:
        return _filter_forward(operator, _one_channel_stack(x, cheb_order, batch), weight,
                               bias, batch)[0]
    if _keeps_terms(x, weight):
        return _filter_forward(operator, x, weight, bias, batch)[0]
    rows = n_pixels * batch
    out = empty_block((rows, out_channels), x.dtype, x.device)
    weight = _right_operand(weight)
    _first_product(x.view(rows, channels), weight, bias, out)
    terms = [x]
    for k in range(1, cheb_order):
        terms = terms[-2:]  # the older block goes back to the pool first
        terms.append(_next_term(operator, terms))
        out.addmm_(terms[-1].view(rows, channels), weight[k])
    return out


def filter_chunks(operator, x, weight, batch, consume, align):
    """Hand the bias-free filter output of :func:`pixel_major_filter` to
    ``consume`` a cache-sized chunk of rows at a time, never storing it whole.

    ``consume(part, start)`` receives rows ``start:start + len(part)`` of
    the (n_pixels * batch, C_out) output in a reused block, valid only
    during the call; every chunk but the last holds a multiple of ``align``
    rows. Inference pools each chunk while it is in cache, so that the
    full-size output, the largest block of a layer, is neither written nor
    read back. Returns False, having called nothing, when the K terms would
    exceed :data:`_KEPT_TERMS_BYTES` (then use :func:`pixel_major_filter`).
    """
    cheb_order, channels, out_channels = weight.shape
    if channels > 1 and not _keeps_terms(x, weight):
        return False
    rows = x.shape[0] * batch
    if channels == 1:
        stacked = one_channel_terms(operator, x, cheb_order, batch).view(cheb_order, rows)
    else:
        terms = [term.view(rows, channels) for term in _all_terms(operator, x, cheb_order)]
        weight = _right_operand(weight)
    step = _GEMM_CHUNK_BYTES // (x.element_size() * out_channels)
    step = min(rows, max(align, step - step % align))
    chunk = empty_block((step, out_channels), x.dtype, x.device)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        part = chunk[:stop - start]
        if channels == 1:
            _stacked_product(stacked[:, start:stop], weight, None, part)
        else:
            _accumulate_products([term[start:stop] for term in terms], weight, None, part)
        consume(part, start)
    return True


def _keeps_terms(x, weight):
    """Whether inference keeps all K terms of a multi-channel input ``x``
    (up to :data:`_KEPT_TERMS_BYTES`) rather than the last two."""
    return weight.shape[0] * x.numel() * x.element_size() <= _KEPT_TERMS_BYTES


#: Up to this size, inference keeps all K terms and accumulates the output
#: chunk by chunk (:func:`_accumulate_products`); above it, only the last
#: two, each folded into the whole output as soon as it exists.
_KEPT_TERMS_BYTES = 1 << 29


def _inference_filter(operator, x, weight, bias):
    """:func:`pixel_major_filter` between (batch, channels, n_pixels) layouts."""
    batch, channels, n_pixels = x.shape
    out_channels = weight.shape[2]
    signals = empty_block((n_pixels, batch * channels), x.dtype, x.device)
    _transpose_into(x.reshape(batch * channels, n_pixels), signals)
    out = pixel_major_filter(operator, signals, weight, bias, batch)
    del signals
    result = empty_block((batch, out_channels, n_pixels), x.dtype, x.device)
    _transpose_into(out.view(n_pixels, -1), result.view(batch * out_channels, n_pixels))
    return result


def chebyshev_filter(operator, x, weight, bias):
    r"""``y[b, o] = sum_{k, i} theta[k, i, o] T_k(L) x[b, i] + bias[o]``.

    Parameters
    ----------
    operator : skdeepsphere.nn.SparseLaplacian
        The rescaled Laplacian :math:`\tilde L`.
    x : torch.Tensor of shape (batch, C_in, n_pixels)
    weight : torch.Tensor of shape (K, C_in, C_out)
    bias : torch.Tensor of shape (C_out,) or None

    Returns
    -------
    y : torch.Tensor of shape (batch, C_out, n_pixels)
    """
    if not (torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (x, weight, bias))):
        with torch.no_grad():
            return _inference_filter(operator, x, weight, bias)
    return _ChebyshevFilter.apply(x, weight, bias, operator)


def pixel_major_training_filter(operator, signals, weight, bias, batch):
    """:func:`pixel_major_filter` with autograd: for training, between pixel-major blocks.

    ``signals`` is (n_pixels, batch * C_in); the result is the pixel-major
    (n_pixels * batch, C_out) block, and the input gradient is pixel-major
    too, so that consecutive layers exchange no transposes in either
    direction.
    """
    return _PixelMajorFilter.apply(signals, weight, bias, operator, batch)

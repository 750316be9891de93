"""The output layer ``s = W f + b`` of a decoder that runs step by step.

A roll-in needs a step's scores before the next step can run, but only for the
sentences fed from the model at the next step (``1 - tf_prob`` of them); every
other position's scores are needed only by the loss, and one product after the
loop computes them faster than many per-step products.  All scores go into one
preallocated ``N x V`` tensor (``N = B x T``) whose rows are grouped so that
each product writes one contiguous block (:class:`ScoreLayout`): nothing is
projected twice and nothing is copied (copying the scores into ``B x T x V``
order costs as much as a tenth of the output layer).  The autograd functions
below give that tensor, or its blocks, the gradient of an ordinary linear layer;
:class:`RowBlockProjection` takes the weight gradient of all blocks in one product.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor


def linear_into(out: Tensor, features: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """Writes ``features @ weight.T + bias`` into ``out`` (for instance a slice
    ``buffer[:, j]``) without recording a graph; returns ``out``."""
    with torch.no_grad():
        if bias is None:
            return torch.mm(features, weight.t(), out=out)
        return torch.addmm(bias, features, weight.t(), out=out)


class _LinearWithKnownOutput(torch.autograd.Function):
    """``features @ weight.T + bias`` whose value was already computed by
    :func:`linear_into`: the forward returns it, the backward is a linear
    layer's."""

    @staticmethod
    def forward(ctx, output, features, weight, bias):
        ctx.save_for_backward(features, weight)
        ctx.has_bias = bias is not None
        return output.detach()  # a plain alias: the graph of `output` is this node

    @staticmethod
    def backward(ctx, grad):
        features, weight = ctx.saved_tensors
        grad_features = grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_features = grad.matmul(weight)
        grad_rows = grad.reshape(-1, grad.size(-1))
        if ctx.needs_input_grad[2]:
            grad_weight = grad_rows.t().mm(features.reshape(-1, features.size(-1)))
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_bias = grad_rows.sum(0)
        return None, grad_features, grad_weight, grad_bias


def linear_with_known_output(
    output: Tensor, features: Tensor, weight: Tensor, bias: Optional[Tensor]
) -> Tensor:
    """``output``, which must equal ``features @ weight.T + bias``, as that
    linear layer's result in the graph: gradient reaches ``features``,
    ``weight`` and ``bias`` as if the product had been taken here."""
    return _LinearWithKnownOutput.apply(output, features, weight, bias)


class RowBlockProjection:
    """The output layer over consecutive row blocks of one ``N x V`` score
    buffer, each block projected (and in the graph) on its own -- the blocks a
    relaxed roll-in needs inside the loop, and the rest after it -- with one
    weight gradient for all rows.

    Each block's backward must return the gradient of its features at once
    (the recurrence needs it), but its weight gradient can wait: instead of one
    ``V x D`` product and accumulation per block (measured: 24 blocks of 16 rows
    at V = 8000, D = 256 take 70-90 ms against 17-27 ms for one product over
    the same rows, on this 2-core CPU), each block leaves its gradient in the
    rows of the ``N x V`` gradient that the loss sent, and a last node takes
    ``grad_W = G^T F`` once.  That node runs after every block's backward
    because each block takes its (empty) output as an input.

        projection = RowBlockProjection(buffer, weight, bias)
        block = projection.block(first, last, features)    # in the loop
        scores = projection.join([later, *blocks], features_in_row_order)
    """

    def __init__(self, buffer: Tensor, weight: Tensor, bias: Optional[Tensor]):
        self.buffer, self.weight, self.bias = buffer, weight, bias
        self.grad: Optional[Tensor] = None  # N x V, set by the join's backward
        self.features: Optional[Tensor] = None  # N x D in row order, set by join()
        # dropped by join(): the graph refers to self, so holding it longer would make
        # a cycle that keeps every buffer alive until the garbage collector runs
        self.anchor: Optional[Tensor] = _WeightGradient.apply(self, weight, bias)

    def block(self, first: int, last: int, features: Tensor) -> Tensor:
        """Rows ``first:last`` of the buffer, ``features @ W.T + b``, in the graph."""
        if self.anchor is None:
            raise RuntimeError("RowBlockProjection.block after join")
        out = linear_into(self.buffer[first:last], features.detach(), self.weight, self.bias)
        return _RowBlock.apply(out, features, self.anchor, self, first)

    def join(self, blocks: List[Tensor], features: Tensor) -> Tensor:
        """The buffer, whose consecutive row blocks are ``blocks`` (made by
        :meth:`block`), as one tensor in the graph: ``torch.cat(blocks)``
        without the copy.  ``features`` (``N x D``) are every row's features,
        in the buffer's row order, for the weight gradient."""
        start = 0
        for i, block in enumerate(blocks):
            if block.size(0) and block.data_ptr() != self.buffer[start].data_ptr():
                raise ValueError(f"block {i} is not held in buffer rows {start}..")
            start += block.size(0)
        if start != self.buffer.size(0):
            raise ValueError(f"blocks of {start} rows for a buffer of {self.buffer.size(0)}")
        self.features = features.detach()
        self.anchor = None  # no more blocks (see __init__)
        return _JoinRows.apply(self.buffer, self, *blocks)

    def rows_grad(self) -> Tensor:
        """The ``N x V`` gradient the blocks write into (zeros if the scores
        themselves got none: only the relaxed inputs' gradient reaches them)."""
        if self.grad is None:
            self.grad = torch.zeros_like(self.buffer)
        return self.grad


class _WeightGradient(torch.autograd.Function):
    """An empty tensor that every block takes as input; its backward, the last
    of the projection's, computes ``W``'s and ``b``'s gradient in one product."""

    @staticmethod
    def forward(ctx, projection, weight, bias):
        ctx.projection = projection
        ctx.has_bias = bias is not None
        return weight.new_zeros(())

    @staticmethod
    def backward(ctx, _):
        projection = ctx.projection
        grad = projection.rows_grad()
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_weight = grad.t().mm(projection.features)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(0)
        projection.grad = projection.features = None  # the last use: free them now
        return None, grad_weight, grad_bias


class _RowBlock(torch.autograd.Function):
    """Rows ``first:first+n`` of the projection, already computed by
    :func:`linear_into`; the backward gives the features their gradient and
    leaves the rows' gradient for :class:`_WeightGradient`."""

    @staticmethod
    def forward(ctx, output, features, anchor, projection, first):
        ctx.projection, ctx.first = projection, first
        return output.detach()

    @staticmethod
    def backward(ctx, grad):
        projection = ctx.projection
        rows = projection.rows_grad()[ctx.first : ctx.first + grad.size(0)]
        if grad.data_ptr() != rows.data_ptr():  # the loss's and the relaxed input's, summed
            rows.copy_(grad)
        grad_features = None
        if ctx.needs_input_grad[1]:
            grad_features = grad.mm(projection.weight.detach().to(grad.dtype))
        return None, grad_features, grad.new_zeros(()), None, None


class _JoinRows(torch.autograd.Function):
    """The buffer whose consecutive row blocks are the given tensors, as one
    tensor: its gradient is kept as the projection's ``N x V`` gradient and
    split back into the blocks (views of it)."""

    @staticmethod
    def forward(ctx, buffer, projection, *blocks):
        ctx.projection = projection
        ctx.sizes = [block.size(0) for block in blocks]
        return buffer.detach()

    @staticmethod
    def backward(ctx, grad):
        # written into by the blocks' backward: must own plain memory (a gradient of
        # .sum() is an expanded view)
        grad = grad.contiguous()
        ctx.projection.grad = grad
        return (None, None, *grad.split(ctx.sizes, dim=0))


class SharedOperandProducts:
    """Products ``x_j @ M`` of a roll-in's steps with one shared matrix ``M``
    (the mixtures ``softmax(alpha s) @ E``), with ``M``'s gradient taken once,
    ``sum_j x_j^T g_j``, instead of once a step: the same trick as
    :class:`RowBlockProjection`, for the embedding table the relaxations mix.
    Each ``x_j`` is kept in one ``rows x K`` buffer (autograd would keep it
    anyway) and each ``g_j`` lands in one ``rows x D`` buffer."""

    def __init__(self, operand: Tensor, rows: int):
        self.operand, self.rows, self.used = operand, rows, 0
        self.inputs: Optional[Tensor] = None
        self.grads: Optional[Tensor] = None
        # dropped by close(), for the reason RowBlockProjection's join() drops its own
        self.anchor: Optional[Tensor] = _SharedOperandGradient.apply(self, operand)

    def close(self):
        """No more products: release what the backward does not need."""
        self.anchor = None

    def product(self, x: Tensor, forward_value: Optional[Tensor] = None) -> Tensor:
        """``x @ M`` in the graph (``x``: ``n x K``).  With ``forward_value``
        the forward returns that instead and never takes the product, while the
        backward is still the product's: a straight-through estimator, whose
        forward value is another tensor's (the hard choice's embedding)."""
        if self.anchor is None:
            raise RuntimeError("SharedOperandProducts.product after close")
        first, self.used = self.used, self.used + x.size(0)
        if self.used > self.rows:
            raise ValueError(f"{self.used} rows for products sized for {self.rows}")
        if self.inputs is None:
            self.inputs = x.new_empty(self.rows, x.size(1))
        self.inputs[first : self.used].copy_(x.detach())
        return _SharedOperandProduct.apply(x, self.anchor, self, first, forward_value)

    def rows_grad(self) -> Tensor:
        if self.grads is None:
            self.grads = self.operand.new_zeros(self.rows, self.operand.size(1))
        return self.grads


class _SharedOperandGradient(torch.autograd.Function):
    """Empty output every product takes as input; its backward runs after all of
    theirs and gives ``M`` its gradient in one product."""

    @staticmethod
    def forward(ctx, products, operand):
        ctx.products = products
        return operand.new_zeros(())

    @staticmethod
    def backward(ctx, _):
        products = ctx.products
        if products.inputs is None or not ctx.needs_input_grad[1]:
            return None, None
        used = products.used
        grad = products.inputs[:used].t().mm(products.rows_grad()[:used])
        products.inputs = products.grads = None  # the last use: free them now
        return None, grad


class _SharedOperandProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, anchor, products, first, forward_value):
        ctx.products, ctx.first = products, first
        if forward_value is not None:
            return forward_value.detach()  # a plain alias, as in _LinearWithKnownOutput
        return x.mm(products.operand.detach())

    @staticmethod
    def backward(ctx, grad):
        products = ctx.products
        products.rows_grad()[ctx.first : ctx.first + grad.size(0)].copy_(grad)
        # under autocast (fairseq's --amp) the forward's product ran in half precision,
        # the backward runs outside autocast: multiply in the gradient's dtype
        operand = products.operand.detach().to(grad.dtype)
        grad_x = grad.mm(operand.t()) if ctx.needs_input_grad[0] else None
        return grad_x, grad.new_zeros(()), None, None, None


class ScoreLayout(NamedTuple):
    """Where each position's scores lie in the ``N x V`` score tensor of a roll-in.

    Rows ``[0, n_later)`` hold the positions whose scores only the loss needs
    (projected in one product after the loop); then, for each position ``j``
    fed from the model, a block ``bounds[j]`` with the step ``j - 1`` scores of
    the sentences ``rows[j]`` fed there, in that order.  Row ``i`` of the score
    tensor is position ``order[i]`` of the ``B x T`` target, flattened."""

    rows: List[Optional[Tensor]]  # per position j: the sentences fed from the model, or None
    bounds: List[Optional[Tuple[int, int]]]  # per position j: the block of rows[j]'s scores
    order: Tensor  # N: flattened target position of each score row
    n_later: int


def score_layout(model_fed: Tensor) -> ScoreLayout:
    """:class:`ScoreLayout` of a ``B x T`` coin-flip mask (one host sync)."""
    bsz, seqlen = model_fed.shape
    device = model_fed.device
    fed = model_fed.cpu()
    needed_in_loop = torch.zeros_like(fed)
    needed_in_loop[:, :-1] = fed[:, 1:]  # step j's scores feed position j + 1
    later = (~needed_in_loop).reshape(-1).nonzero().squeeze(1)
    rows, bounds, blocks = [], [], [later]
    start = len(later)
    for j, column in enumerate(fed.t()):
        sentences = column.nonzero().squeeze(1)
        if len(sentences) == 0:
            rows.append(None)
            bounds.append(None)
            continue
        rows.append(sentences.to(device))
        bounds.append((start, start + len(sentences)))
        blocks.append(sentences * seqlen + (j - 1))
        start += len(sentences)
    return ScoreLayout(rows, bounds, torch.cat(blocks).to(device), len(later))


def in_target_order(scores: Tensor, order: Tensor, bsz: int, seqlen: int) -> Tensor:
    """``N x V`` scores laid out by :class:`ScoreLayout` as ``B x T x V`` (a copy)."""
    out = scores.new_empty(bsz * seqlen, scores.size(-1))
    return out.index_copy_(0, order, scores).view(bsz, seqlen, -1)

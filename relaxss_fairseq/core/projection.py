"""The output layer ``s = W f + b`` of a decoder that runs step by step.

A roll-in needs each step's scores before the next step can run, so the scores
are computed one step at a time.  Stacking them afterwards would copy the whole
``B x T x V`` tensor (as slow as a fifth of the output layer itself), and
hard roll-ins that re-project all steps at once for the loss would run the
output layer's forward twice.  Instead every step is written straight into one
preallocated ``B x T x V`` tensor, and these autograd functions give that
tensor (or its per-step slices) the gradient of an ordinary linear layer.
"""
from typing import List, Optional

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


class _JoinSteps(torch.autograd.Function):
    """The buffer whose slices ``buffer[:, j]`` are the step tensors, as one
    tensor: its gradient is split back into the steps."""

    @staticmethod
    def forward(ctx, buffer, *steps):
        return buffer.detach()

    @staticmethod
    def backward(ctx, grad):
        return (None, *grad.unbind(1))


def join_steps(buffer: Tensor, steps: List[Tensor]) -> Tensor:
    """``buffer`` (``B x T x ...``), whose slice ``buffer[:, j]`` holds
    ``steps[j]`` (each made by :func:`linear_with_known_output` on that slice),
    as one tensor in the graph: what ``torch.stack(steps, 1)`` would give,
    without the copy."""
    if len(steps) != buffer.size(1):
        raise ValueError(f"{len(steps)} steps for a buffer of {buffer.size(1)}")
    for j, step in enumerate(steps):
        if step.data_ptr() != buffer[:, j].data_ptr():
            raise ValueError(f"step {j} is not held in buffer[:, {j}]")
    return _JoinSteps.apply(buffer, *steps)

"""Attention layers for the relaxed LSTM decoder.

All layers share one call signature so the decoder's step loop does not care
which one it holds: ``layer(query, encoder, step) -> (output, attn_probs)``,
where ``encoder`` is the :class:`EncoderStates` the same layer's ``prepare``
made once per forward from fairseq's time-major encoder outputs, and
``attn_probs`` is ``bsz x srclen`` (or None when nothing needs it).
"""
from typing import NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from fairseq.models.lstm import AttentionLayer, Linear


class EncoderStates(NamedTuple):
    """Encoder outputs in the layout the attention layer that prepared them reads."""

    values: Tensor  # bsz x srclen x C: what the context is made of
    keys: Optional[Tensor]  # additive: bsz x srclen x A, projected once per forward
    score_bias: Optional[Tensor]  # additive: bsz x srclen, -inf at padding, else 0
    padding_mask: Optional[Tensor] = None  # dot: bsz x srclen, True at padding


class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2015) additive attention:
    ``e_j = v^T tanh(W_q q + W_k h_j)``, ``a = softmax(e)``, ``c = sum_j a_j h_j``,
    followed (as in fairseq's LSTM decoder) by ``tanh(W_o [c; q])``."""

    def __init__(self, query_dim: int, source_dim: int, output_dim: int, attention_dim: int):
        super().__init__()
        self.query_proj = Linear(query_dim, attention_dim, bias=True)
        self.key_proj = Linear(source_dim, attention_dim, bias=False)
        self.score_proj = Linear(attention_dim, 1, bias=False)
        self.output_proj = Linear(query_dim + source_dim, output_dim, bias=False)

    def prepare(self, outs: Tensor, padding_mask: Optional[Tensor]) -> EncoderStates:
        """Once per forward, not once per decoder step: batch-first values, their
        key projection, and the padding mask as an additive score bias."""
        values = outs.transpose(0, 1).contiguous()
        score_bias = None
        if padding_mask is not None and padding_mask.any():
            score_bias = torch.zeros(padding_mask.t().shape, dtype=torch.float, device=outs.device)
            score_bias.masked_fill_(padding_mask.t(), float("-inf"))
        return EncoderStates(values, self.key_proj(values), score_bias)

    def forward(self, query: Tensor, encoder: EncoderStates, step: int):
        energies = torch.tanh(encoder.keys + self.query_proj(query).unsqueeze(1))
        scores = self.score_proj(energies).squeeze(2).float()  # bsz x srclen
        if encoder.score_bias is not None:
            scores = scores + encoder.score_bias
        probs = F.softmax(scores, dim=1).type_as(query)
        context = torch.bmm(probs.unsqueeze(1), encoder.values).squeeze(1)
        output = torch.tanh(self.output_proj(torch.cat((context, query), dim=1)))
        return output, probs


class FixedPositionAttention(nn.Module):
    """The paper's NER attention (§5, footnote 4): output step ``i`` reads the
    encoder state of input token ``i`` and nothing else; no attention weights
    are learned.  As in the other layers, ``tanh(W_o [c; q])`` follows."""

    def __init__(self, query_dim: int, source_dim: int, output_dim: int):
        super().__init__()
        self.output_proj = Linear(query_dim + source_dim, output_dim, bias=False)

    def prepare(self, outs: Tensor, padding_mask: Optional[Tensor]) -> EncoderStates:
        return EncoderStates(outs.transpose(0, 1), None, None)

    def forward(self, query: Tensor, encoder: EncoderStates, step: int):
        srclen = encoder.values.size(1)
        position = min(step, srclen - 1)  # past the source: its final (EOS) state
        context = encoder.values[:, position]
        probs = None
        if not self.training:  # only inference reports attention
            probs = query.new_zeros(query.size(0), srclen)
            probs[:, position] = 1.0
        output = torch.tanh(self.output_proj(torch.cat((context, query), dim=1)))
        return output, probs


class DotAttention(AttentionLayer):
    """fairseq's own LSTM attention (``fairseq.models.lstm.AttentionLayer``, called
    unchanged): ``e_j = h_j^T W_i q``, ``a = softmax(e)``, ``c = sum_j a_j h_j``,
    ``tanh(W_o [c; q])``.  Same parameter names as in fairseq's ``lstm``, so a stock
    ``lstm`` checkpoint loads into ``lstm_relaxed`` with this attention and trains
    on with a roll-in."""

    def __init__(self, query_dim: int, source_dim: int, output_dim: int):
        super().__init__(query_dim, source_dim, output_dim, bias=False)

    def prepare(self, outs: Tensor, padding_mask: Optional[Tensor]) -> EncoderStates:
        # batch-first views of fairseq's time-major tensors: forward transposes them
        # back, so training reads the encoder's own memory as the stock decoder does
        mask = None if padding_mask is None else padding_mask.t()
        return EncoderStates(outs.transpose(0, 1), None, None, mask)

    def forward(self, query: Tensor, encoder: EncoderStates, step: int):
        mask = None if encoder.padding_mask is None else encoder.padding_mask.t()
        output, probs = super().forward(query, encoder.values.transpose(0, 1), mask)
        return output, probs.t()


ATTENTION_TYPES = ("additive", "dot", "fixed")


def build_attention(kind: str, query_dim: int, source_dim: int, output_dim: int, attention_dim: int):
    """The decoder's attention layer by name: ``additive`` (Bahdanau, the paper's
    MT attention), ``dot`` (fairseq's ``lstm`` attention) or ``fixed`` (position i
    reads encoder state i, for tagging)."""
    if kind == "additive":
        return AdditiveAttention(query_dim, source_dim, output_dim, attention_dim)
    if kind == "dot":
        return DotAttention(query_dim, source_dim, output_dim)
    if kind == "fixed":
        return FixedPositionAttention(query_dim, source_dim, output_dim)
    raise ValueError(f"unknown --decoder-attention-type {kind!r}; expected one of {ATTENTION_TYPES}")

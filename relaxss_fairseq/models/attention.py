"""Attention layers for the relaxed LSTM decoder.

All layers share one call signature so the decoder's step loop does not care
which one it holds: ``layer(query, encoder, step) -> (output, attn_probs)``,
where ``encoder`` is the :class:`EncoderStates` prepared once per forward.
"""
from typing import NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from fairseq.models.lstm import Linear


class EncoderStates(NamedTuple):
    """Encoder outputs as the decoder step loop reads them."""

    outs: Tensor  # srclen x bsz x C
    keys: Optional[Tensor]  # srclen x bsz x A, attention keys computed once per forward
    padding_mask: Optional[Tensor]  # srclen x bsz, True at padding


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
        """Project the encoder states to keys once, not once per decoder step."""
        return EncoderStates(outs, self.key_proj(outs), padding_mask)

    def forward(self, query: Tensor, encoder: EncoderStates, step: int):
        energies = torch.tanh(encoder.keys + self.query_proj(query).unsqueeze(0))
        scores = self.score_proj(energies).squeeze(2)  # srclen x bsz
        if encoder.padding_mask is not None:
            scores = scores.float().masked_fill(encoder.padding_mask, float("-inf"))
        probs = F.softmax(scores, dim=0).type_as(query)
        context = (probs.unsqueeze(2) * encoder.outs).sum(dim=0)
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
        return EncoderStates(outs, None, padding_mask)

    def forward(self, query: Tensor, encoder: EncoderStates, step: int):
        position = min(step, encoder.outs.size(0) - 1)  # past the source: its final (EOS) state
        context = encoder.outs[position]
        probs = None
        if not self.training:  # only inference reports attention
            probs = query.new_zeros(encoder.outs.size(0), query.size(0))
            probs[position] = 1.0
        output = torch.tanh(self.output_proj(torch.cat((context, query), dim=1)))
        return output, probs


ATTENTION_TYPES = ("additive", "fixed")


def build_attention(kind: str, query_dim: int, source_dim: int, output_dim: int, attention_dim: int):
    """The decoder's attention layer by name: ``additive`` (Bahdanau, for MT) or
    ``fixed`` (position i reads encoder state i, for tagging)."""
    if kind == "additive":
        return AdditiveAttention(query_dim, source_dim, output_dim, attention_dim)
    if kind == "fixed":
        return FixedPositionAttention(query_dim, source_dim, output_dim)
    raise ValueError(f"unknown --decoder-attention-type {kind!r}; expected one of {ATTENTION_TYPES}")

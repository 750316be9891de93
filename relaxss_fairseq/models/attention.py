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

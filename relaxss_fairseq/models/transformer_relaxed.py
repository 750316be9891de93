"""``transformer_relaxed``: fairseq's Transformer trained with (relaxed)
scheduled sampling in parallel passes.

The paper's math is the same as for ``lstm_relaxed``: a position fed from the
model receives ``ē = sum_y e(y) softmax(alpha * s)(y)`` (soft argmax, §3.1),
its Gumbel version (§3.2), the hard argmax / sample (Bengio et al., 2015) or
the straight-through pair, made from the scores ``s`` of the previous
position; with the relaxed modes the loss sends gradient into those scores
(the credit assignment of §3.3).

The Transformer adaptation (not in the paper, which used LSTMs): a Transformer
decoder is trained on all positions in parallel, so the previous position's
scores come from an earlier *pass* over the sequence instead of the same
left-to-right loop (two-pass scheduled sampling, Mihaylova & Martins, 2019;
``--rollin-passes N`` > 2 repeats it as parallel scheduled sampling does,
Duckworth et al., 2019):

1. pass 1 decodes the gold prefix in parallel (teacher forcing);
2. each position chosen by the coin flips receives the embedding built from
   the previous pass's scores at the position before it, through the same
   input path as a token (``embed_scale``, positions, layer norm, dropout);
   the next pass decodes these mixed inputs; the last pass's scores are the
   loss's.

With ``--first-pass-grad True`` (default: the paper's credit assignment) the
earlier passes keep their graph, so the loss reaches the scores each mixture
was made from; ``False`` runs them without a graph (cheaper; the published
Transformer variants' default), which for the relaxed modes equals
``--credit-scale 0``. Unlike the LSTM's loop, a fed position's previous
scores were computed from gold (pass 1) or earlier-pass inputs, not from the
inputs of the same pass. Without a roll-in (validation, ``fairseq-generate``,
``fairseq-interactive``) the model is fairseq's Transformer, incremental
decoding and beam search included; validation's always-model-fed diagnostic
(``greedy_fed_forward``) decodes greedily step by step, not in passes.
"""
from typing import Optional

import torch
from fairseq import utils
from fairseq.models import (
    ARCH_CONFIG_REGISTRY,
    ARCH_MODEL_REGISTRY,
    register_model,
    register_model_architecture,
)
from fairseq.models.transformer import (
    TransformerConfig,
    TransformerDecoderBase,
    TransformerModel,
    base_architecture as transformer_base_architecture,
)
from torch import Tensor

from relaxss import Rollin, draw_model_feed, feed_model_predictions, relaxed_input_embedding

DEFAULT_ROLLIN_PASSES = 2


class RelaxedTransformerDecoder(TransformerDecoderBase):
    """fairseq's Transformer decoder with a multi-pass roll-in training path."""

    def __init__(self, cfg, dictionary, embed_tokens, no_encoder_attn=False,
                 output_projection=None):
        super().__init__(cfg, dictionary, embed_tokens, no_encoder_attn=no_encoder_attn,
                         output_projection=output_projection)
        self.rollin_passes = getattr(cfg, "rollin_passes", DEFAULT_ROLLIN_PASSES)
        self.first_pass_grad = getattr(cfg, "first_pass_grad", True)

    def forward(self, prev_output_tokens, encoder_out=None, incremental_state=None,
                features_only: bool = False, full_context_alignment: bool = False,
                alignment_layer: Optional[int] = None, alignment_heads: Optional[int] = None,
                src_lengths=None, return_all_hiddens: bool = False,
                rollin: Optional[Rollin] = None):
        if rollin is not None and rollin.feeds_model:
            if incremental_state is not None or features_only:
                raise ValueError("transformer_relaxed: a roll-in is a training forward over "
                                 "whole sequences (no incremental state, full scores)")
            return self.rollin_forward(prev_output_tokens, encoder_out, rollin)
        return super().forward(
            prev_output_tokens, encoder_out=encoder_out, incremental_state=incremental_state,
            features_only=features_only, full_context_alignment=full_context_alignment,
            alignment_layer=alignment_layer, alignment_heads=alignment_heads,
            src_lengths=src_lengths, return_all_hiddens=return_all_hiddens,
        )

    def keeps_pass_graph(self, rollin: Rollin) -> bool:
        """Whether the earlier passes need their graph: only when the mixture sends
        credit back into their scores (relaxed modes, credit scale > 0) and
        --first-pass-grad is on; the hard modes' choices take no gradient."""
        return self.first_pass_grad and rollin.assigns_credit and torch.is_grad_enabled()

    def rollin_forward(self, prev_output_tokens: Tensor, encoder_out, rollin: Rollin):
        """Scheduled-sampling forward in ``self.rollin_passes`` passes.

        Returns ``(scores, extra)``: the last pass's ``B x T x V`` scores, and
        fairseq's extra outputs of that pass with ``model_fed`` (the ``B x T``
        mask of positions fed from the model) and ``rollin_scores`` (per
        earlier pass, the ``N x V`` scores the ``N`` fed positions' inputs were
        made from, in the mask's row-major order)."""
        bsz, seqlen = prev_output_tokens.size()
        fed = draw_model_feed(bsz, seqlen, rollin.tf_prob, rollin.generator,
                              prev_output_tokens.device)
        # position j is fed from the scores at j - 1: those rows, in the mask's order
        feeding = fed[:, 1:]
        predicted, rollin_scores = None, []
        if bool(feeding.any()):  # one host sync per batch
            for _ in range(self.rollin_passes - 1):
                with torch.set_grad_enabled(self.keeps_pass_graph(rollin)):
                    features, _ = self.extract_with_inputs(prev_output_tokens, encoder_out,
                                                           fed, predicted)
                    # only the rows that feed a position are projected to the vocabulary
                    scores = self.output_layer(features[:, :-1][feeding])
                rollin_scores.append(scores)
                predicted = relaxed_input_embedding(scores, self.embed_tokens.weight, rollin)
        features, extra = self.extract_with_inputs(prev_output_tokens, encoder_out, fed,
                                                   predicted)
        extra["model_fed"] = fed
        extra["rollin_scores"] = rollin_scores
        return self.output_layer(features), extra

    def extract_with_inputs(self, prev_output_tokens, encoder_out, fed: Tensor,
                            predicted: Optional[Tensor]):
        """fairseq's ``extract_features`` with the token embeddings of the fed
        positions replaced by ``predicted`` (``N x D``, before ``embed_scale``,
        as a lookup returns them), so a model input goes through every step of
        the token input path. The replacement is a forward hook on the
        embedding table for this one call: the rest is fairseq's own code."""
        if predicted is None:
            return self.extract_features(prev_output_tokens, encoder_out)

        def feed(module, inputs, gold):
            return feed_model_predictions(gold, predicted.to(gold.dtype), fed)

        handle = self.embed_tokens.register_forward_hook(feed)
        try:
            return self.extract_features(prev_output_tokens, encoder_out)
        finally:
            handle.remove()


@register_model("transformer_relaxed")
class RelaxedTransformerModel(TransformerModel):
    """fairseq's Transformer, trainable with (relaxed) scheduled sampling.

    ``forward(..., rollin=Rollin(...))`` is the scheduled-sampling training
    forward; without ``rollin`` it is fairseq's ordinary forward."""

    accepts_rollin = True

    def __init__(self, args, encoder, decoder):
        super().__init__(args, encoder, decoder)
        self.num_updates = 0

    @classmethod
    def add_args(cls, parser):
        super().add_args(parser)
        parser.add_argument(
            "--rollin-passes", type=int, metavar="N",
            help="decoder passes of a scheduled-sampling forward (>= 2, default 2): the "
            "first decodes the gold prefix, each next one is fed the previous pass's "
            "(relaxed) predictions at the positions the coin flips chose, the last gives "
            "the loss's scores")
        parser.add_argument(
            "--first-pass-grad", type=utils.eval_bool, metavar="BOOL",
            help="keep the graph of the earlier passes so the loss sends gradient into the "
            "scores each relaxed input was made from (True, default: the paper's credit "
            "assignment); False runs them without a graph (cheaper, no credit)")

    @classmethod
    def build_model(cls, args, task):
        base_architecture(args)
        check_args(args)
        return super().build_model(args, task)

    @classmethod
    def build_decoder(cls, args, tgt_dict, embed_tokens):
        cfg = TransformerConfig.from_namespace(args)
        return RelaxedTransformerDecoder(cfg, tgt_dict, embed_tokens,
                                         no_encoder_attn=cfg.no_cross_attention)

    def forward(self, src_tokens, src_lengths, prev_output_tokens,
                return_all_hiddens: bool = True, features_only: bool = False,
                alignment_layer: Optional[int] = None, alignment_heads: Optional[int] = None,
                rollin: Optional[Rollin] = None):
        if rollin is None or not rollin.feeds_model:
            return super().forward(src_tokens, src_lengths, prev_output_tokens,
                                   return_all_hiddens=return_all_hiddens,
                                   features_only=features_only,
                                   alignment_layer=alignment_layer,
                                   alignment_heads=alignment_heads)
        encoder_out = self.encoder(src_tokens, src_lengths=src_lengths,
                                   return_all_hiddens=return_all_hiddens)
        return self.decoder(prev_output_tokens, encoder_out=encoder_out,
                            src_lengths=src_lengths, rollin=rollin)

    @torch.no_grad()
    def greedy_fed_forward(self, src_tokens, src_lengths, prev_output_tokens):
        """Scores when every position is fed the model's own greedy prediction: the
        inputs and scores of greedy decoding, run for the gold length (validation's
        ``fed_nll_loss``). Exact, unlike an N-pass roll-in with every position fed
        (which feeds position j a prediction made from the inputs of pass N - 1): one
        incremental decoder step per position, as ``fairseq-generate`` decodes, each
        fed the argmax of the step before. Returns ``(B x T x V scores, {})``."""
        encoder_out = self.encoder(src_tokens, src_lengths=src_lengths)
        inputs = prev_output_tokens[:, :1]  # the begin-of-sentence symbol
        incremental_state, steps = {}, []
        for _ in range(prev_output_tokens.size(1)):
            scores, _ = self.decoder(inputs, encoder_out=encoder_out,
                                     incremental_state=incremental_state)
            steps.append(scores[:, -1])
            inputs = torch.cat([inputs, steps[-1].argmax(-1, keepdim=True)], dim=1)
        return torch.stack(steps, dim=1), {}

    def set_num_updates(self, num_updates):
        """fairseq calls this before every training step (and on resume)."""
        self.num_updates = num_updates
        super().set_num_updates(num_updates)


def check_args(args):
    """Refuse settings the roll-in cannot honour, naming the option."""
    if args.rollin_passes < 2:
        raise ValueError(
            f"transformer_relaxed: --rollin-passes must be >= 2 (the first pass decodes the "
            f"gold prefix, the last gives the loss's scores), got {args.rollin_passes}")
    if getattr(args, "adaptive_softmax_cutoff", None):
        raise ValueError("transformer_relaxed needs full output scores to relax the argmax; "
                         "it does not support --adaptive-softmax-cutoff")
    if getattr(args, "criterion", None) == "adaptive_loss":
        raise ValueError("transformer_relaxed needs full output scores to relax the argmax; "
                         "it does not support --criterion adaptive_loss")


@register_model_architecture("transformer_relaxed", "transformer_relaxed")
def base_architecture(args):
    """fairseq's ``transformer`` sizes; two passes with first-pass gradient."""
    args.rollin_passes = getattr(args, "rollin_passes", DEFAULT_ROLLIN_PASSES)
    args.first_pass_grad = getattr(args, "first_pass_grad", True)
    transformer_base_architecture(args)


def register_presets():
    """``transformer_relaxed_X`` for every fairseq preset ``transformer_X``
    (``transformer_relaxed_iwslt_de_en``, ``_wmt_en_de``, ``_vaswani_wmt_en_de_big``,
    ...): fairseq's sizes, then this model's defaults."""
    for name, preset in list(ARCH_CONFIG_REGISTRY.items()):
        relaxed_name = "transformer_relaxed" + name[len("transformer"):]
        if (ARCH_MODEL_REGISTRY.get(name) is not TransformerModel
                or not name.startswith("transformer_") or relaxed_name in ARCH_MODEL_REGISTRY):
            continue

        def relaxed_preset(args, preset=preset):
            preset(args)
            base_architecture(args)

        relaxed_preset.__doc__ = f"fairseq's ``{name}`` sizes, trainable with a roll-in."
        register_model_architecture("transformer_relaxed", relaxed_name)(relaxed_preset)


register_presets()

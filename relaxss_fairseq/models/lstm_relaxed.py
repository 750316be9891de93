"""``lstm_relaxed``: fairseq's LSTM encoder-decoder with additive (the paper's),
dot (fairseq's) or, for tagging, fixed-position attention and a training forward that rolls in the
model's own (relaxed) predictions.

The criterion decides *when* (a :class:`~relaxss.Rollin`); this
module decides *how*: at every target position the decoder is fed either the
gold previous token or, with probability ``1 - tf_prob``, the embedding of its
own previous prediction, relaxed according to ``rollin.mode`` (paper §3.3,
Figure 2).  In the relaxed modes (soft, and straight-through: hard forward,
soft backward) the graph through that embedding is kept, so the loss at step
``i`` sends gradient into the scores of step ``i - 1`` (scaled by
``rollin.credit_scale``; 0 cuts it).

Without a roll-in (validation, ``fairseq-generate``) the decoder is fairseq's
incremental LSTM decoder, so greedy and beam search work unchanged.
"""
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from fairseq import utils
from fairseq.models import register_model, register_model_architecture
from fairseq.models.lstm import (
    DEFAULT_MAX_SOURCE_POSITIONS,
    DEFAULT_MAX_TARGET_POSITIONS,
    Embedding,
    LSTMDecoder,
    LSTMEncoder,
    LSTMModel,
    base_architecture as lstm_base_architecture,
)

from relaxss import (
    RELAXED_MODES,
    Rollin,
    draw_model_feed,
    feed_model_predictions,
    relaxed_input_embedding,
)
from relaxss.projection import (
    RowBlockProjection,
    SharedOperandProducts,
    in_target_order,
    linear_into,
    linear_with_known_output,
    score_layout,
)
from .attention import ATTENTION_TYPES, EncoderStates, build_attention

DecoderState = Tuple[List[Tensor], List[Tensor], Tensor]  # hiddens, cells, input feed


class RelaxedLSTMDecoder(LSTMDecoder):
    """fairseq's ``LSTMDecoder`` (input feeding, cached incremental state) with
    additive (Bahdanau), dot (fairseq's) or fixed-position attention and a roll-in
    training path.

    Both paths run the same :meth:`step`, so a roll-in that feeds only gold
    tokens computes exactly what the ordinary forward computes."""

    def __init__(
        self, dictionary, attention_type: str = "additive", attention_dim: int = 256, **kwargs
    ):
        super().__init__(dictionary, attention=False, **kwargs)
        if self.encoder_output_units == 0:
            raise ValueError("lstm_relaxed needs encoder outputs to attend to")
        self.attention = build_attention(
            attention_type, self.hidden_size, self.encoder_output_units, self.hidden_size,
            attention_dim,
        )

    # -- pieces shared by every path -------------------------------------------------

    def prepare_encoder(self, encoder_out, incremental_state=None) -> EncoderStates:
        """The attention's view of fairseq's LSTM encoder tuple (keys projected
        once).  During incremental decoding it is made at the first step and
        cached, reordered with the beam like the recurrent state."""
        if incremental_state is not None:
            cached = self.get_incremental_state(incremental_state, "encoder_states")
            if cached is not None:
                return EncoderStates(**cached)
        outs, _, _, padding_mask = encoder_out
        encoder = self.attention.prepare(outs, padding_mask)
        if incremental_state is not None:
            self.set_incremental_state(incremental_state, "encoder_states", encoder._asdict())
        return encoder

    def reorder_incremental_state(self, incremental_state, new_order: Tensor):
        super().reorder_incremental_state(incremental_state, new_order)
        cached = self.get_incremental_state(incremental_state, "encoder_states")
        if cached is not None:
            reordered = {k: None if v is None else v.index_select(0, new_order)
                         for k, v in cached.items()}
            self.set_incremental_state(incremental_state, "encoder_states", reordered)

    def initial_state(self, encoder_out) -> DecoderState:
        """Decoder state before step 0: the encoder's final states (projected to
        the decoder size when they differ) and a zero input feed."""
        _, final_hiddens, final_cells, _ = encoder_out
        hiddens = [final_hiddens[i] for i in range(self.num_layers)]
        cells = [final_cells[i] for i in range(self.num_layers)]
        if self.encoder_hidden_proj is not None:
            hiddens = [self.encoder_hidden_proj(h) for h in hiddens]
            cells = [self.encoder_cell_proj(c) for c in cells]
        input_feed = hiddens[0].new_zeros(hiddens[0].size(0), self.hidden_size)
        return hiddens, cells, input_feed

    def step(self, x: Tensor, state: DecoderState, encoder: EncoderStates, position: int):
        """One decoder step: stacked LSTM cells on ``[x; input_feed]``, then
        attention.  Returns the attentional output (the next input feed), the
        attention probabilities and the new state."""
        hiddens, cells, input_feed = state
        layer_input = torch.cat((x, input_feed), dim=1)
        new_hiddens, new_cells = [], []
        for i, rnn in enumerate(self.layers):
            if i > 0:
                layer_input = self.dropout_out_module(new_hiddens[-1])
            hidden, cell = rnn(layer_input, (hiddens[i], cells[i]))
            new_hiddens.append(hidden)
            new_cells.append(cell)
        out, attn = self.attention(hidden, encoder, position)
        out = self.dropout_out_module(out)
        return out, attn, (new_hiddens, new_cells, out)

    def output_features(self, outs: Tensor) -> Tensor:
        """What the output layer reads: the attentional outputs, through the extra
        projection when ``--decoder-out-embed-dim`` differs from the hidden size."""
        if hasattr(self, "additional_fc"):
            return self.dropout_out_module(self.additional_fc(outs))
        return outs

    def output_projection(self) -> Tuple[Tensor, Optional[Tensor]]:
        """Weight and bias of the output layer ``s = W f + b`` (the input
        embeddings, without bias, when they are shared)."""
        if self.share_input_output_embed:
            return self.embed_tokens.weight, None
        return self.fc_out.weight, self.fc_out.bias

    # -- inference and teacher forcing -----------------------------------------------

    def forward(
        self,
        prev_output_tokens,
        encoder_out=None,
        incremental_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]] = None,
        src_lengths: Optional[Tensor] = None,
        rollin: Optional[Rollin] = None,
    ):
        if rollin is not None and rollin.feeds_model:
            return self.rollin_forward(prev_output_tokens, encoder_out, rollin)
        x, attn = self.extract_features(prev_output_tokens, encoder_out, incremental_state)
        return self.output_layer(x), attn

    def extract_features(self, prev_output_tokens, encoder_out=None, incremental_state=None):
        """Gold-input decoding over the given prefix, or one incremental step."""
        if encoder_out is None:
            raise ValueError("lstm_relaxed decodes with an encoder; encoder_out is None")
        first_position = 0
        continuing = (
            incremental_state is not None
            and self.get_incremental_state(incremental_state, "cached_state") is not None
        )
        if continuing:
            first_position = prev_output_tokens.size(1) - 1
            prev_output_tokens = prev_output_tokens[:, -1:]
            state = self.get_cached_state(incremental_state)
        else:
            state = self.initial_state(encoder_out)
        encoder = self.prepare_encoder(encoder_out, incremental_state)

        x = self.dropout_in_module(self.embed_tokens(prev_output_tokens))
        outs, attns = [], []
        for j in range(x.size(1)):
            out, attn, state = self.step(x[:, j], state, encoder, first_position + j)
            outs.append(out)
            attns.append(attn)
        if incremental_state is not None:
            hiddens, cells, input_feed = state
            cached = {
                "prev_hiddens": torch.stack(hiddens),
                "prev_cells": torch.stack(cells),
                "input_feed": input_feed,
            }
            self.set_incremental_state(incremental_state, "cached_state", cached)

        x = self.output_features(torch.stack(outs, dim=1))
        attn_probs = None
        if not self.training and self.need_attn and attns[0] is not None:
            attn_probs = torch.stack(attns, dim=1)  # bsz x tgtlen x srclen
        return x, attn_probs

    # -- training with a roll-in ---------------------------------------------------------

    def rollin_forward(self, prev_output_tokens: Tensor, encoder_out, rollin: Rollin):
        """Scheduled-sampling forward (paper Figure 2).

        Position ``j`` of each sentence is fed the gold token
        ``prev_output_tokens[:, j]`` or, where the coin flip says so, the
        relaxed embedding of the model's step ``j - 1`` scores.  Returns
        ``(scores, {"attn": None, "model_fed": mask})`` where ``mask`` marks the
        positions that were fed from the model; ``scores`` is ``B x T x V``, or
        with ``rollin.layout_order`` the ``N x V`` rows of :class:`ScoreLayout`
        with ``extra["score_order"]``."""
        bsz, seqlen = prev_output_tokens.size()
        encoder = self.prepare_encoder(encoder_out)
        state = self.initial_state(encoder_out)
        gold = self.dropout_in_module(self.embed_tokens(prev_output_tokens))
        model_fed = draw_model_feed(
            bsz, seqlen, rollin.tf_prob, rollin.generator, prev_output_tokens.device
        )
        layout = score_layout(model_fed)  # one host sync per batch
        embedding_weight = self.embed_tokens.weight
        weight, bias = self.output_projection()

        # Inside the loop, scores only for the sentences fed from the model at the
        # next step, each block written into its rows of one N x V tensor; where the
        # relaxation sends credit back (relaxed modes, credit scale > 0) those blocks
        # are in the graph. Every other position is projected in one product after
        # the loop.
        credit = rollin.assigns_credit
        # the relaxed modes' mixtures with E: E's gradient once, not once a step
        mix = (SharedOperandProducts(embedding_weight, len(layout.order) - layout.n_later)
               if rollin.mode in RELAXED_MODES else None)
        all_scores: Optional[Tensor] = None
        fed_blocks: List[Tensor] = []
        step_features: List[Tensor] = []
        for j in range(seqlen):
            x = gold[:, j]
            rows = layout.rows[j]
            if rows is not None:  # embed the prediction only for sentences fed from the model
                predicted = relaxed_input_embedding(fed_blocks[-1], embedding_weight, rollin, mix)
                predicted = self.dropout_in_module(predicted)
                x = feed_model_predictions(x, predicted, model_fed[:, j], fed_index=rows)
            out, _, state = self.step(x, state, encoder, j)
            features = self.output_features(out)
            step_features.append(features)
            if all_scores is None:  # under autocast the features may be half precision
                all_scores = features.new_empty(bsz * seqlen, weight.size(0))
                weight = weight.to(features.dtype)
                bias = None if bias is None else bias.to(features.dtype)
                projection = RowBlockProjection(all_scores, weight, bias) if credit else None
            if j + 1 < seqlen and layout.rows[j + 1] is not None:
                next_rows = layout.rows[j + 1]
                fed = features if len(next_rows) == bsz else features.index_select(0, next_rows)
                first, last = layout.bounds[j + 1]
                if credit:
                    fed_blocks.append(projection.block(first, last, fed))
                else:
                    fed_blocks.append(linear_into(all_scores[first:last], fed.detach(), weight, bias))

        if mix is not None:
            mix.close()
        features = torch.stack(step_features, dim=1).view(bsz * seqlen, -1)
        ordered_features = features.index_select(0, layout.order)
        later_features = ordered_features[: layout.n_later]
        if credit:
            later = projection.block(0, layout.n_later, later_features)
            scores = projection.join([later, *fed_blocks], ordered_features)
        else:  # the choices took no gradient: the loss's is one product over all rows
            linear_into(all_scores[: layout.n_later], later_features.detach(), weight, bias)
            scores = linear_with_known_output(all_scores, ordered_features, weight, bias)
        extra = {"attn": None, "model_fed": model_fed}
        if rollin.layout_order:
            extra["score_order"] = layout.order
        else:
            scores = in_target_order(scores, layout.order, bsz, seqlen)
        return scores, extra


@register_model("lstm_relaxed")
class RelaxedLSTMModel(LSTMModel):
    """LSTM encoder-decoder trainable with (relaxed) scheduled sampling.

    ``forward(..., rollin=Rollin(...))`` is the scheduled-sampling training
    forward; without ``rollin`` it is fairseq's ordinary forward."""

    accepts_rollin = True

    def __init__(self, encoder, decoder):
        super().__init__(encoder, decoder)
        self.num_updates = 0

    @staticmethod
    def add_args(parser):
        LSTMModel.add_args(parser)
        parser.add_argument(
            "--decoder-attention-type",
            choices=ATTENTION_TYPES,
            help="additive: Bahdanau attention (the paper's MT model); dot: fairseq's "
            "lstm attention (a stock lstm checkpoint loads); fixed: output step i reads "
            "encoder state i, no learned attention (tagging, paper footnote 4)",
        )
        parser.add_argument(
            "--decoder-attention-dim",
            type=int,
            metavar="N",
            help="size of the additive (Bahdanau) attention's hidden layer",
        )

    @classmethod
    def build_model(cls, args, task):
        base_architecture(args)
        if args.encoder_layers != args.decoder_layers:
            raise ValueError("--encoder-layers must match --decoder-layers")
        if not utils.eval_bool(args.decoder_attention):
            raise ValueError(
                "lstm_relaxed always attends; --decoder-attention cannot turn it off "
                "(--decoder-attention-type chooses additive, dot or fixed)"
            )
        if getattr(args, "criterion", None) == "adaptive_loss":
            raise ValueError(
                "lstm_relaxed needs full output scores to relax the argmax; "
                "it does not support --criterion adaptive_loss"
            )
        encoder_embed = build_embedding(
            task.source_dictionary, args.encoder_embed_dim, args.encoder_embed_path
        )
        if args.share_all_embeddings:
            if task.source_dictionary != task.target_dictionary:
                raise ValueError("--share-all-embeddings requires a joint dictionary")
            if args.encoder_embed_dim != args.decoder_embed_dim:
                raise ValueError(
                    "--share-all-embeddings requires --encoder-embed-dim to "
                    "match --decoder-embed-dim"
                )
            decoder_embed = encoder_embed
            args.share_decoder_input_output_embed = True
        else:
            decoder_embed = build_embedding(
                task.target_dictionary, args.decoder_embed_dim, args.decoder_embed_path
            )
        if args.share_decoder_input_output_embed and (
            args.decoder_embed_dim != args.decoder_out_embed_dim
        ):
            raise ValueError(
                "--share-decoder-input-output-embed requires "
                "--decoder-embed-dim to match --decoder-out-embed-dim"
            )
        encoder_embed.weight.requires_grad = not args.encoder_freeze_embed
        decoder_embed.weight.requires_grad = not args.decoder_freeze_embed

        encoder = LSTMEncoder(
            dictionary=task.source_dictionary,
            embed_dim=args.encoder_embed_dim,
            hidden_size=args.encoder_hidden_size,
            num_layers=args.encoder_layers,
            dropout_in=args.encoder_dropout_in,
            dropout_out=args.encoder_dropout_out,
            bidirectional=args.encoder_bidirectional,
            pretrained_embed=encoder_embed,
            max_source_positions=getattr(
                args, "max_source_positions", DEFAULT_MAX_SOURCE_POSITIONS
            ),
        )
        decoder = RelaxedLSTMDecoder(
            dictionary=task.target_dictionary,
            attention_type=args.decoder_attention_type,
            attention_dim=args.decoder_attention_dim,
            embed_dim=args.decoder_embed_dim,
            hidden_size=args.decoder_hidden_size,
            out_embed_dim=args.decoder_out_embed_dim,
            num_layers=args.decoder_layers,
            dropout_in=args.decoder_dropout_in,
            dropout_out=args.decoder_dropout_out,
            encoder_output_units=encoder.output_units,
            pretrained_embed=decoder_embed,
            share_input_output_embed=args.share_decoder_input_output_embed,
            max_target_positions=getattr(
                args, "max_target_positions", DEFAULT_MAX_TARGET_POSITIONS
            ),
        )
        return cls(encoder, decoder)

    def forward(
        self,
        src_tokens,
        src_lengths,
        prev_output_tokens,
        incremental_state=None,
        rollin: Optional[Rollin] = None,
    ):
        encoder_out = self.encoder(src_tokens, src_lengths=src_lengths)
        return self.decoder(
            prev_output_tokens,
            encoder_out=encoder_out,
            incremental_state=incremental_state,
            rollin=rollin,
        )

    @torch.no_grad()
    def greedy_fed_forward(self, src_tokens, src_lengths, prev_output_tokens):
        """Scores when every position is fed the model's own greedy prediction (the
        ``hard_greedy`` roll-in at ``tf_prob`` 0: the step loop feeds each step the
        argmax of the step before, as greedy decoding does), for the gold length."""
        always_fed = Rollin("hard_greedy", tf_prob=0.0, layout_order=True,
                            generator=torch.Generator(src_tokens.device).manual_seed(0))
        return self(src_tokens, src_lengths, prev_output_tokens, rollin=always_fed)

    def set_num_updates(self, num_updates):
        """fairseq calls this before every training step (and on resume)."""
        self.num_updates = num_updates
        super().set_num_updates(num_updates)


def build_embedding(dictionary, embed_dim: int, embed_path: Optional[str] = None):
    """An embedding table for ``dictionary``, loaded from ``embed_path`` if given
    (fairseq's text embedding format), otherwise fairseq's LSTM initialisation."""
    embedding = Embedding(len(dictionary), embed_dim, dictionary.pad())
    if embed_path:
        embed_dict = utils.parse_embedding(embed_path)
        utils.print_embed_overlap(embed_dict, dictionary)
        embedding = utils.load_embedding(embed_dict, dictionary, embedding)
    return embedding


@register_model_architecture("lstm_relaxed", "lstm_relaxed")
def base_architecture(args):
    """Sizes as fairseq's ``lstm``; attention is additive."""
    args.decoder_attention_type = getattr(args, "decoder_attention_type", "additive")
    args.decoder_attention_dim = getattr(
        args, "decoder_attention_dim", getattr(args, "decoder_hidden_size", None) or 512
    )
    lstm_base_architecture(args)


@register_model_architecture("lstm_relaxed", "lstm_relaxed_paper_mt")
def lstm_relaxed_paper_mt(args):
    """The paper's MT model (§5): bidirectional 1x256 LSTM encoder, 1x256 LSTM
    decoder, Bahdanau attention."""
    args.encoder_embed_dim = getattr(args, "encoder_embed_dim", 256)
    args.encoder_hidden_size = getattr(args, "encoder_hidden_size", 256)
    args.encoder_layers = getattr(args, "encoder_layers", 1)
    args.encoder_bidirectional = getattr(args, "encoder_bidirectional", True)
    args.decoder_embed_dim = getattr(args, "decoder_embed_dim", 256)
    args.decoder_hidden_size = getattr(args, "decoder_hidden_size", 256)
    args.decoder_layers = getattr(args, "decoder_layers", 1)
    args.decoder_out_embed_dim = getattr(args, "decoder_out_embed_dim", 256)
    args.decoder_attention_dim = getattr(args, "decoder_attention_dim", 256)
    args.dropout = getattr(args, "dropout", 0.2)
    base_architecture(args)


@register_model_architecture("lstm_relaxed", "lstm_relaxed_paper_ner")
def lstm_relaxed_paper_ner(args):
    """The paper's NER model (§5, footnote 4): a 1-layer bidirectional LSTM
    encoder and a 1-layer LSTM decoder of 64 units, with fixed-position
    attention (output step i reads encoder state i)."""
    args.encoder_embed_dim = getattr(args, "encoder_embed_dim", 64)
    args.encoder_hidden_size = getattr(args, "encoder_hidden_size", 64)
    args.encoder_layers = getattr(args, "encoder_layers", 1)
    args.encoder_bidirectional = getattr(args, "encoder_bidirectional", True)
    args.decoder_embed_dim = getattr(args, "decoder_embed_dim", 64)
    args.decoder_hidden_size = getattr(args, "decoder_hidden_size", 64)
    args.decoder_layers = getattr(args, "decoder_layers", 1)
    args.decoder_out_embed_dim = getattr(args, "decoder_out_embed_dim", 64)
    args.decoder_attention_type = getattr(args, "decoder_attention_type", "fixed")
    args.dropout = getattr(args, "dropout", 0.2)
    base_architecture(args)

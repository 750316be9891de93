"""``ner_tagging``: named-entity recognition as sequence-to-sequence (paper §5).

Data: ``scripts/prepare_conll.py`` turns CoNLL files into one-sentence-a-line
``{split}.tok`` / ``{split}.tag`` files, binarised with ``fairseq-preprocess
--source-lang tok --target-lang tag`` (see ``examples/ner``).  The task is
fairseq's translation task plus what tagging needs:

- every example has exactly one tag per token (checked when a split loads);
- tags are predicted greedily with the length fixed to the input length
  (:class:`ExactLengthTagger`), never left to EOS guessing;
- span-level F1 (seqeval's micro, CoNLL-style) is a validation metric, so
  ``--best-checkpoint-metric f1 --maximize-best-checkpoint-metric`` works.
"""
import logging
from dataclasses import dataclass
from typing import List

import numpy as np
import torch

from fairseq.logging import metrics
from fairseq.sequence_generator import EnsembleModel
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from .span_f1 import precision_recall_f1, span_counts

logger = logging.getLogger(__name__)

SPAN_COUNT_KEYS = ("correct", "predicted", "gold")


@dataclass
class NerTaggingConfig(TranslationConfig):
    pass


class ExactLengthTagger:
    """Greedy decoding that emits exactly one tag per source token: EOS is
    forbidden before step ``n`` (the number of tokens) and forced at it. An
    ensemble (several ``--path`` models) averages the models' probabilities at
    every step (fairseq's ``EnsembleModel``, as beam search uses it).

    Returns hypotheses in fairseq's generator format, so ``fairseq-generate``
    works with it."""

    def __init__(self, tgt_dict):
        self.tgt_dict = tgt_dict
        self.eos, self.pad = tgt_dict.eos(), tgt_dict.pad()
        self.never = [tgt_dict.bos(), tgt_dict.pad(), tgt_dict.unk()]

    @torch.no_grad()
    def generate(self, models, sample, **unused):
        net_input = sample["net_input"]
        src_tokens, src_lengths = net_input["src_tokens"], net_input["src_lengths"]
        n_tags = src_lengths - 1  # the source ends with EOS
        ensemble = EnsembleModel(models)  # fairseq's: one model, or the mean of their probabilities
        encoder_outs = ensemble.forward_encoder(net_input)
        incremental_states = [{} for _ in models]
        bsz = src_tokens.size(0)
        tokens = src_tokens.new_full((bsz, 1), self.eos)
        step_lprobs = []
        for step in range(int(n_tags.max()) + 1):
            lprobs, _ = ensemble.forward_decoder(tokens, encoder_outs, incremental_states)
            lprobs[:, self.never] = -float("inf")
            lprobs[step < n_tags, self.eos] = -float("inf")
            choice = lprobs.argmax(dim=-1)
            choice = torch.where(step >= n_tags, torch.full_like(choice, self.eos), choice)
            step_lprobs.append(lprobs.gather(1, choice.unsqueeze(1)).squeeze(1))
            tokens = torch.cat((tokens, choice.unsqueeze(1)), dim=1)
        positional = torch.stack(step_lprobs, dim=1)
        hypos = []
        for b in range(bsz):
            n = int(n_tags[b]) + 1  # tags and the final EOS
            scores = positional[b, :n]
            hypos.append([{
                "tokens": tokens[b, 1 : n + 1],
                "score": scores.sum() / n,
                "positional_scores": scores,
                "attention": None,
                "alignment": torch.empty(0),
            }])
        return hypos


@register_task("ner_tagging", dataclass=NerTaggingConfig)
class NerTaggingTask(TranslationTask):
    """Tag sequences as translations of token sequences, one tag per token."""

    def __init__(self, cfg, src_dict, tgt_dict):
        super().__init__(cfg, src_dict, tgt_dict)
        self.told_batch_multiple = False  # the warning of get_batch_iterator, said once

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)
        check_one_tag_per_token(self.datasets[split], split)

    def get_batch_iterator(self, dataset, *args, required_batch_size_multiple=1, **kwargs):
        """fairseq's, with batch sizes that need not be a multiple of anything: with
        ``--required-batch-size-multiple`` N > 1 (fairseq's default is 8), fairseq's
        ``batch_by_size`` drops sentences that do not fill a multiple of N (fairseq issue
        #5036; 6 of a 30-sentence test split), and a split's F1 would silently count only
        the rest, in validation and in ``fairseq-generate`` alike."""
        if required_batch_size_multiple > 1 and not self.told_batch_multiple:
            logger.warning(f"ner_tagging: --required-batch-size-multiple "
                           f"{required_batch_size_multiple} would drop sentences from the "
                           f"batches (fairseq issue #5036); every sentence is kept (multiple 1)")
            self.told_batch_multiple = True
        return super().get_batch_iterator(dataset, *args, required_batch_size_multiple=1,
                                          **kwargs)

    def build_generator(self, models, args, **kwargs):
        """:class:`ExactLengthTagger`; fairseq's scorer for ``--score-reference``
        (the gold tags' scores). Generation options the tagger cannot honour stop
        with an error naming them, rather than being ignored."""
        if getattr(args, "score_reference", False):
            return super().build_generator(models, args, **kwargs)
        unsupported = []
        if getattr(args, "nbest", 1) > 1:
            unsupported.append(f"--nbest {args.nbest}")
        if getattr(args, "sampling", False):
            unsupported.append("--sampling")
        if getattr(args, "prefix_size", 0) > 0:
            unsupported.append(f"--prefix-size {args.prefix_size}")
        if unsupported:
            raise ValueError(f"ner_tagging tags greedily, one tag per token: "
                             f"{', '.join(unsupported)} is not supported")
        if getattr(args, "beam", 1) > 1:
            logger.info("ner_tagging decodes greedily with fixed length; --beam is not used")
        return ExactLengthTagger(self.target_dictionary)

    def tag_strings(self, token_rows) -> List[List[str]]:
        """Tag ids (without EOS or padding) to tag strings."""
        specials = {self.tgt_dict.eos(), self.tgt_dict.pad()}
        return [[self.tgt_dict[t] for t in row.tolist() if t not in specials] for row in token_rows]

    def valid_step(self, sample, model, criterion):
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        hypos = ExactLengthTagger(self.target_dictionary).generate([model], sample)
        predicted = self.tag_strings([h[0]["tokens"] for h in hypos])
        gold = self.tag_strings(sample["target"])
        counts = span_counts(gold, predicted)
        for key in SPAN_COUNT_KEYS:
            logging_output[f"_ner_{key}"] = counts[key]
        return loss, sample_size, logging_output

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        if not any("_ner_gold" in log for log in logging_outputs):
            return
        for key in SPAN_COUNT_KEYS:  # python ints: checkpoints stay free of numpy globals
            total = sum(int(log.get(f"_ner_{key}", 0)) for log in logging_outputs)
            metrics.log_scalar_sum(f"_ner_{key}", total)

        def score(index):
            return lambda meters: round(
                precision_recall_f1(*(meters[f"_ner_{k}"].sum for k in SPAN_COUNT_KEYS))[index], 2
            )

        for index, name in enumerate(("precision", "recall", "f1")):
            metrics.log_derived(name, score(index))


def check_one_tag_per_token(dataset, split: str) -> None:
    """Refuse a split whose tag count differs from its token count anywhere."""
    src_sizes, tgt_sizes = dataset.src_sizes, dataset.tgt_sizes
    if tgt_sizes is None:
        return  # no targets: inference input
    bad = np.nonzero(np.asarray(src_sizes) != np.asarray(tgt_sizes))[0]
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"ner_tagging: split {split!r} example {i} has {src_sizes[i] - 1} tokens but "
            f"{tgt_sizes[i] - 1} tags ({len(bad)} such examples); prepare the data with "
            f"scripts/prepare_conll.py"
        )

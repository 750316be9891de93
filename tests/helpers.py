"""Small builders shared by the tests: dictionaries, tiny models, batches."""
import argparse

import torch
from fairseq.data import Dictionary, LanguagePairDataset

from relaxss_fairseq.criterions.relaxed_scheduled_sampling import (
    RelaxedScheduledSamplingConfig,
    RelaxedScheduledSamplingCriterion,
)
from relaxss_fairseq.models.lstm_relaxed import RelaxedLSTMModel, lstm_relaxed_paper_mt

VOCAB_SIZE = 12


class TinyTask:
    """The two things ``build_model`` reads from a fairseq task."""

    def __init__(self, vocab_size: int = VOCAB_SIZE):
        self.source_dictionary = make_dictionary(vocab_size, "s")
        self.target_dictionary = make_dictionary(vocab_size, "t")
        self.epochs_begun = []

    def begin_epoch(self, epoch, model):
        self.epochs_begun.append(epoch)


def criterion_for(task, **settings):
    """A relaxed_scheduled_sampling criterion with the given settings.

    Outside fairseq the run length (``${optimization.max_update}`` and
    ``max_epoch``) is not interpolated: it defaults to 0 here, no limit."""
    settings = {"max_update": 0, "max_epoch": 0, **settings}
    config = RelaxedScheduledSamplingConfig(sentence_avg=False, seed=1, **settings)
    return RelaxedScheduledSamplingCriterion(config, task)


def make_dictionary(size: int, prefix: str) -> Dictionary:
    dictionary = Dictionary()
    for i in range(size):
        dictionary.add_symbol(f"{prefix}{i}")
    return dictionary


def tiny_model(
    dim: int = 16, dropout: float = 0.0, seed: int = 0, task=None, init_std: float = 0.5,
    out_dim: int = None, share_embeddings: bool = False, attention: str = "additive",
) -> RelaxedLSTMModel:
    """The paper's MT preset shrunk to ``dim`` units, dropout off by default.

    Parameters are drawn from N(0, init_std^2) (instead of fairseq's U(-0.1, 0.1))
    so that which token is fed visibly changes the scores."""
    torch.manual_seed(seed)
    args = argparse.Namespace(
        encoder_embed_dim=dim,
        encoder_hidden_size=dim,
        decoder_embed_dim=dim,
        decoder_hidden_size=dim,
        decoder_out_embed_dim=out_dim or dim,
        decoder_attention_dim=dim,
        decoder_attention_type=attention,
        dropout=dropout,
        share_decoder_input_output_embed=share_embeddings,
    )
    lstm_relaxed_paper_mt(args)
    model = RelaxedLSTMModel.build_model(args, task or TinyTask())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, init_std)
    return model


def random_batch(task, batch_size: int = 6, src_len: int = 7, tgt_len: int = 6, seed: int = 0):
    """A fairseq translation batch of random sentences of varying length."""
    generator = torch.Generator().manual_seed(seed)
    src_dict, tgt_dict = task.source_dictionary, task.target_dictionary

    def sentences(dictionary, max_len):
        out = []
        for _ in range(batch_size):
            n = int(torch.randint(2, max_len + 1, (1,), generator=generator))
            tokens = torch.randint(dictionary.nspecial, len(dictionary), (n,), generator=generator)
            out.append(torch.cat([tokens, torch.tensor([dictionary.eos()])]))
        return out

    src, tgt = sentences(src_dict, src_len), sentences(tgt_dict, tgt_len)
    dataset = LanguagePairDataset(
        src, torch.tensor([len(s) for s in src]), src_dict,
        tgt, torch.tensor([len(t) for t in tgt]), tgt_dict,
    )
    return dataset.collater([dataset[i] for i in range(batch_size)])

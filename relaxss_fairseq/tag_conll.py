"""Tag a CoNLL file with a trained ner_tagging checkpoint and score it.

    python -m relaxss_fairseq.tag_conll --path CKPT --data DATA_BIN FILE \
        [--encoding latin-1] [--tag-scheme keep|iob2] [--output OUT.conll]

Prints span-level precision, recall and F1 (micro, CoNLL-style, as seqeval)
and per-type scores; ``--output`` writes ``token gold predicted`` lines for
``conlleval``-style inspection.
"""
import argparse
import json
import logging
import sys
import warnings

import torch
from fairseq import checkpoint_utils, utils

from .tasks.conll import TAG_SCHEMES, ConllFormatError, apply_tag_scheme, read_conll, write_conll
from .tasks.ner_tagging import ExactLengthTagger
from .tasks.span_f1 import format_report, scores_by_type, span_counts


def tag_sentences(model, task, sentences, batch_size: int, use_cuda: bool):
    """Predicted tag strings for each sentence, in input order."""
    src_dict = task.source_dictionary
    src_tokens = [
        src_dict.encode_line(" ".join(s.tokens), add_if_not_exist=False, append_eos=True).long()
        for s in sentences
    ]
    dataset = task.build_dataset_for_inference(src_tokens, [len(t) for t in src_tokens])
    batches = task.get_batch_iterator(
        dataset, max_sentences=batch_size, max_positions=utils.resolve_max_positions(
            task.max_positions(), model.max_positions()
        ), ignore_invalid_inputs=False,
    ).next_epoch_itr(shuffle=False)
    tagger = ExactLengthTagger(task.target_dictionary)
    predicted = [None] * len(sentences)
    for sample in batches:
        if use_cuda:
            sample = utils.move_to_cuda(sample)
        hypos = tagger.generate([model], sample)
        tags = task.tag_strings([h[0]["tokens"] for h in hypos])
        for index, sentence_tags in zip(sample["id"].tolist(), tags):
            predicted[index] = sentence_tags
    return predicted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="CoNLL file to tag (gold tags in the last column)")
    parser.add_argument("--path", required=True, help="ner_tagging checkpoint")
    parser.add_argument("--data", required=True, help="binarised data dir (dictionaries)")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--tag-scheme", choices=TAG_SCHEMES, default="keep",
                        help="as given to scripts/prepare_conll.py")
    parser.add_argument("--output", help="write 'token gold predicted' CoNLL here")
    parser.add_argument("--json", help="write the scores as JSON here")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("fairseq").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")

    try:
        sentences = apply_tag_scheme(read_conll(args.input, args.encoding), args.tag_scheme)
    except ConllFormatError as error:
        sys.exit(f"tag_conll: {error}")
    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [args.path], arg_overrides={"data": args.data}
    )
    model = models[0].eval()
    use_cuda = torch.cuda.is_available() and not args.cpu
    if use_cuda:
        model.cuda()
    predicted = tag_sentences(model, task, sentences, args.batch_size, use_cuda)
    gold = [s.tags for s in sentences]
    counts = span_counts(gold, predicted)
    print(format_report(counts))
    if args.output:
        write_conll(args.output, ((s.tokens, s.tags, p) for s, p in zip(sentences, predicted)))
    if args.json:
        table = scores_by_type(counts)
        with open(args.json, "w") as f:
            json.dump({name: dict(zip(("precision", "recall", "f1", "support"), v))
                       for name, v in table.items()}, f, indent=1)


if __name__ == "__main__":
    main()

"""Counts the decoder calls of one validation pass (fairseq's ``valid_step`` over the dev
set: the loss, the always-model-fed greedy dev loss and ``--eval-bleu``'s greedy
generation) under fairseq's validation defaults and under run.sh's settings. On a GPU a
decoder call of a small model costs about the same whatever the batch, so the count is
what validation costs there.

    python results/transformer_m30k_gpu/count_decoder_calls.py CHECKPOINT DATA_DIR/bin

CHECKPOINT: any transformer_relaxed checkpoint trained on DATA_DIR under the sweep (its
criterion and --eval-bleu settings are the run's); an untrained one decodes every
hypothesis to its length limit, the worst case.
"""
import argparse
import json

import torch
from fairseq import checkpoint_utils

import relaxss_fairseq  # noqa: F401  (registers the models)

SETTINGS = [  # (--max-tokens-valid, --eval-bleu-args)
    (8000, '{"beam": 1}'),  # fairseq's defaults at run.sh's MAX_TOKENS
    (20000, '{"beam": 1, "max_len_a": 1.2, "max_len_b": 10}'),  # run.sh's
]


def count_calls(checkpoint, data, max_tokens_valid, eval_bleu_args):
    """(batches, decoder calls) of one pass of ``task.valid_step`` over the dev set."""
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
        [checkpoint], arg_overrides={"data": data})
    model = models[0].eval()
    task.sequence_generator = task.build_generator(
        [model], argparse.Namespace(**json.loads(eval_bleu_args)))
    criterion = task.build_criterion(cfg.criterion)
    task.load_dataset("valid")
    calls = 0
    forward = model.decoder.forward

    def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return forward(*args, **kwargs)

    model.decoder.forward = counted
    batches = task.get_batch_iterator(task.dataset("valid"), max_tokens=max_tokens_valid,
                                      required_batch_size_multiple=1)
    n_batches = 0
    with torch.no_grad():
        for sample in batches.next_epoch_itr(shuffle=False):
            task.valid_step(sample, model, criterion)
            n_batches += 1
    return n_batches, calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("data", help="the binarized data directory (DATA_DIR/bin)")
    args = parser.parse_args()
    for max_tokens_valid, eval_bleu_args in SETTINGS:
        n_batches, calls = count_calls(args.checkpoint, args.data, max_tokens_valid,
                                       eval_bleu_args)
        print(f"--max-tokens-valid {max_tokens_valid} --eval-bleu-args '{eval_bleu_args}': "
              f"{n_batches} batches, {calls} decoder calls")


if __name__ == "__main__":
    main()

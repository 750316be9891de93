#!/usr/bin/env python
"""Recovery from one error in the model's own prefix, on the cascade task.

Where cross-entropy makes no errors on clean inputs (README: on the cascade task every row
solves it), clean scores cannot show exposure bias. This measures what a model does *after*
an error instead: for each sequence the decoder's prefix is forced (fairseq's
``prefix_tokens``) to the gold tokens up to position ``j`` and then one wrong token
``w != y_j``, and greedy search goes on from there. The targets are running sums,
``y_i = (d_1 + ... + d_i) mod 10``, so the right continuation is still the true sums
``y_{j+1}, ...``: a model that keeps the sum of the source digits recovers; one that adds each
digit to its previous token (the shortcut teacher forcing rewards) carries the error on,
``(y_i + w - y_j) mod 10``. A roll-in's gold targets stay right after a model-made error on
this task, so a roll-in that fed the model its own mistakes in training can teach it to
recover; teacher forcing never shows it one.

Scores (%) over the sequences of at least 2 tokens, with the same ``(j, w)`` for every model
(drawn from ``--seed`` and the sentence id: rows compare seed by seed):

- ``recovered``: tokens after the error that hold the true sum;
- ``followed``: tokens after the error that carry it (the shifted sum);
- ``next_recovered``: sequences whose first token after the error is the true sum;
- ``rest_recovered``: sequences whose whole continuation is right (its length too).

    python scripts/recovery.py --path CKPT --data DATA_BIN [--subset valid test] [--seed 1]
                               [--json OUT]
"""
import argparse
import json
import logging
import random
from typing import Dict, List, Optional

SCORES = ("recovered", "followed", "next_recovered", "rest_recovered")


def forced_error(sentence_id: int, length: int, seed: int):
    """``(j, shift)`` for a sequence of ``length`` >= 2 tokens: the 0-based position ``j`` of
    the wrong token (any but the last, so that something follows it) and ``w - y_j``
    (1-9, mod 10). The same for every model of a comparison."""
    rng = random.Random(seed * 1_000_003 + sentence_id)
    return rng.randrange(length - 1), rng.randint(1, 9)


def continuation_counts(hyp: List[int], truth: List[int], j: int, shift: int) -> Dict[str, int]:
    """Counts behind :data:`SCORES` for one sequence: ``hyp`` and ``truth`` are digit
    sequences without EOS (``hyp`` holds -1 for a token that is no digit), the error at
    ``j`` with ``w = truth[j] + shift``."""
    later = range(j + 1, len(truth))
    at = [hyp[i] if i < len(hyp) else None for i in later]
    return {
        "positions": len(later),
        "recovered": sum(a == truth[i] for a, i in zip(at, later)),
        "followed": sum(a == (truth[i] + shift) % 10 for a, i in zip(at, later)),
        "next_recovered": int(at[0] == truth[j + 1]),
        "rest_recovered": int(hyp[j + 1:] == truth[j + 1:]),
    }


def percentages(counts: List[Dict[str, int]]) -> Dict[str, Optional[float]]:
    positions = sum(c["positions"] for c in counts)
    out = {}
    for score in SCORES:
        total = positions if score in ("recovered", "followed") else len(counts)
        out[score] = 100.0 * sum(c[score] for c in counts) / total if total else None
    out["sequences"] = len(counts)
    return out


def digits(tokens, dictionary) -> List[int]:
    symbols = [dictionary[t] for t in tokens.tolist()]
    return [int(s) if s.isdigit() and len(s) == 1 else -1 for s in symbols]


def recovery(model, task, subset: str, seed: int, max_tokens: int = 8000, details=None):
    """:data:`SCORES` of ``model`` on ``subset``; with a list as ``details``, appends each
    scored sequence's ``{id, j, w, hyp, truth}`` to it."""
    import torch
    from fairseq import utils

    task.load_dataset(subset)
    dictionary = task.target_dictionary
    pad, eos = dictionary.pad(), dictionary.eos()
    generator = task.build_generator(
        [model], argparse.Namespace(beam=1, max_len_a=1, max_len_b=5))  # as the sweep decodes
    batches = task.get_batch_iterator(
        dataset=task.dataset(subset), max_tokens=max_tokens,
        max_positions=utils.resolve_max_positions(task.max_positions(), model.max_positions()),
        required_batch_size_multiple=1, seed=1).next_epoch_itr(shuffle=False)
    counts = []
    for sample in batches:
        golds = [row[row.ne(pad)][:-1] for row in sample["target"]]  # without EOS
        forced = {}
        prefix = torch.full((len(golds), max(len(g) for g in golds)), pad, dtype=torch.long)
        for b, gold in enumerate(golds):
            if len(gold) < 2:
                continue  # no token can follow an error: left free, not scored
            truth = digits(gold, dictionary)
            j, shift = forced_error(int(sample["id"][b]), len(gold), seed)
            prefix[b, :j] = gold[:j]
            prefix[b, j] = dictionary.index(str((truth[j] + shift) % 10))
            forced[b] = j, shift, truth
        hypos = task.inference_step(generator, [model], sample, prefix_tokens=prefix)
        for b, (j, shift, truth) in forced.items():
            tokens = hypos[b][0]["tokens"]
            hyp = digits(tokens[tokens.ne(eos)], dictionary)
            counts.append(continuation_counts(hyp, truth, j, shift))
            if details is not None:
                details.append({"id": int(sample["id"][b]), "j": j,
                                "w": (truth[j] + shift) % 10, "hyp": hyp, "truth": truth})
    return percentages(counts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="a cascade-task checkpoint")
    parser.add_argument("--data", required=True, help="its binarized data folder")
    parser.add_argument("--subset", nargs="+", default=["valid"])
    parser.add_argument("--seed", type=int, default=1, help="draws where each error goes")
    parser.add_argument("--max-tokens", type=int, default=8000)
    parser.add_argument("--json", help="write {subset: scores} here")
    args = parser.parse_args(argv)

    logging.getLogger("fairseq").setLevel(logging.WARNING)  # its per-subset loading chatter
    from fairseq import checkpoint_utils

    import relaxss_fairseq  # noqa: F401  (registers the model; allow-lists checkpoint globals)

    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [args.path], arg_overrides={"data": args.data})
    model = models[0].eval()
    results = {}
    for subset in args.subset:
        results[subset] = recovery(model, task, subset, args.seed, args.max_tokens)
        shown = ", ".join(f"{score} {results[subset][score]:.2f}" for score in SCORES
                          if results[subset][score] is not None)
        print(f"{subset}: {shown} ({results[subset]['sequences']} sequences)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()

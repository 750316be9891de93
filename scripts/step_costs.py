#!/usr/bin/env python
"""The pieces of one model-fed decoder step, timed in isolation (issue #11).

A roll-in step that feeds ``rows`` sentences from the model does, per mode: the output
projection of those rows (``rows x d @ d x V``), then hard greedy an argmax; hard sample a
softmax, cumulative sum and one uniform number per row; soft greedy a peaked softmax and
the mixture product (``rows x V @ V x d``); soft sample / straight-through sample also
``rows x V`` uniform numbers turned into Gumbel noise. This script times each piece
(forward only, medians of interleaved repeats) next to the projection, so the share of a
step that is PyTorch's own fixed cost -- e.g. the random number generator, which fills a
tensor on one thread whatever ``torch.get_num_threads()`` says -- is measured, not guessed.

The last two rows are the same FLOPs twice: ``--steps`` products of ``rows`` rows (what a
roll-in does, a step at a time, for the fed rows) against one product of ``steps x rows``
rows (what teacher forcing does after the loop). Their ratio is what a small product costs
the BLAS beyond its FLOPs, which the benchmark's FLOP floor cannot see.

    python scripts/step_costs.py [--rows 32 --vocab 10000 --dim 256 --steps 25 --threads 1 2]
"""
import argparse
import json
import statistics
import sys
import time

import torch

from relaxss.relax import gumbel_from_uniform_, peaked_softmax, sample_tokens


def pieces(rows: int, vocab: int, dim: int, steps: int):
    """name -> a callable doing that piece once on fixed inputs."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(rows, dim)
    all_features = torch.randn(steps * rows, dim)
    blocks = all_features.split(rows)
    weight = torch.randn(vocab, dim) * dim ** -0.5
    embedding = torch.randn(vocab, dim)
    scores = features @ weight.t()
    uniform = torch.empty(rows, vocab)
    weights = peaked_softmax(scores * 10.0)
    return {
        "projection (rows x d @ d x V)": lambda: features @ weight.t(),
        "argmax (hard greedy)": lambda: scores.max(dim=-1).indices,
        "sample by inverse CDF (hard sample)": lambda: sample_tokens(scores, generator),
        "uniform noise rows x V (torch.rand)": lambda: torch.rand(rows, vocab, generator=generator),
        "uniform in place (uniform_)": lambda: uniform.uniform_(generator=generator),
        "Gumbel transform -log(-log U)": lambda: gumbel_from_uniform_(uniform.uniform_(0.2, 0.8)),
        "peaked softmax": lambda: peaked_softmax(scores * 10.0),
        "mixture (rows x V @ V x d)": lambda: weights @ embedding,
        "projection a step at a time (steps x [rows x d @ d x V])":
            lambda: [block @ weight.t() for block in blocks],
        "the same rows in one product (steps*rows x d @ d x V)": lambda: all_features @ weight.t(),
    }


def measure(rows, vocab, dim, steps, threads, repeats, inner):
    torch.set_num_threads(threads)
    work = pieces(rows, vocab, dim, steps)
    times = {name: [] for name in work}
    for _ in range(repeats):
        for name, piece in work.items():  # interleaved: drift hits every piece alike
            piece()
            start = time.perf_counter()
            for _ in range(inner):
                piece()
            times[name].append((time.perf_counter() - start) / inner * 1e3)
    return {name: {"ms": statistics.median(t), "min": min(t), "max": max(t)}
            for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--steps", type=int, default=25,
                        help="decoder steps of the last two rows (target length)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=20, help="calls per timing")
    parser.add_argument("--json", help="write the measurements here")
    opts = parser.parse_args()
    results = {}
    print(f"rows {opts.rows}, vocab {opts.vocab}, dim {opts.dim}, steps {opts.steps}; ms per "
          f"call, median "
          f"(min-max) of {opts.repeats} interleaved repeats of {opts.inner} calls; "
          f"torch {torch.__version__}")
    header = "| piece | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in opts.threads)
    print(header + " | share of projection (1st) |")
    print("|---" * (len(opts.threads) + 2) + "|")
    for threads in opts.threads:
        results[threads] = measure(opts.rows, opts.vocab, opts.dim, opts.steps, threads,
                                   opts.repeats, opts.inner)
    first = results[opts.threads[0]]
    projection = first["projection (rows x d @ d x V)"]["ms"]
    for name in first:
        cells = [f"{results[t][name]['ms']:.3f} ({results[t][name]['min']:.3f}-"
                 f"{results[t][name]['max']:.3f})" for t in opts.threads]
        print(f"| {name} | " + " | ".join(cells) + f" | {first[name]['ms'] / projection:.2f} |")
    stepwise = "projection a step at a time (steps x [rows x d @ d x V])"
    batched = "the same rows in one product (steps*rows x d @ d x V)"
    print("\nsame FLOPs, a step at a time / in one product: " + ", ".join(
        f"{results[t][stepwise]['ms'] / results[t][batched]['ms']:.2f}x ({t} thread{'s' * (t > 1)})"
        for t in opts.threads))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"settings": vars(opts), "torch": torch.__version__, "results": results},
                      f, indent=1)


if __name__ == "__main__":
    sys.exit(main())

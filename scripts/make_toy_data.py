#!/usr/bin/env python
"""Write a small generated translation task (raw text, one sentence a line).

The target is a deterministic function of the source (each source word maps
to a fixed target word, in order), so a model that learns it reaches high
BLEU within a few epochs, while a decoder that loses its place early makes
cascading mistakes: a stand-in for the real data sets in tests and demos.

    python scripts/make_toy_data.py OUT_DIR [--train 2000 --valid 200 --test 200]

writes OUT_DIR/{train,valid,test}.{src,tgt}.
"""
import argparse
import os
import random

SOURCE_VOCAB = [f"w{i}" for i in range(40)]


def translate(words):
    """The hidden rule the model must learn: map each word to its own target word."""
    return [f"T{w[1:]}" for w in words]


def sentence(rng: random.Random, min_len: int, max_len: int):
    return [rng.choice(SOURCE_VOCAB) for _ in range(rng.randint(min_len, max_len))]


def write_split(out_dir: str, split: str, n: int, rng: random.Random, min_len: int, max_len: int):
    with open(os.path.join(out_dir, f"{split}.src"), "w") as src, open(
        os.path.join(out_dir, f"{split}.tgt"), "w"
    ) as tgt:
        for _ in range(n):
            words = sentence(rng, min_len, max_len)
            src.write(" ".join(words) + "\n")
            tgt.write(" ".join(translate(words)) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--valid", type=int, default=200)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--min-len", type=int, default=3)
    parser.add_argument("--max-len", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    rng = random.Random(args.seed)
    for split in ("train", "valid", "test"):
        write_split(args.out_dir, split, getattr(args, split), rng, args.min_len, args.max_len)
    print(f"wrote toy task to {args.out_dir}")


if __name__ == "__main__":
    main()

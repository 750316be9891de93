#!/usr/bin/env python
"""Write the cascade task: running sums of digits mod 10 (raw text, one sequence a line).

Source: random digits d_1 .. d_n (tokens "0" .. "9"); target: y_i = (d_1 + ... + d_i) mod 10,
i.e. y_i = (y_{i-1} + d_i) mod 10. Source and target have the same length, so a model with
fixed-position attention (output step i reads encoder state i, as lstm_relaxed_paper_ner)
sees d_i at step i, and the cheapest rule to learn under teacher forcing is "previous target
token + d_i": every target token then depends on the previous one, and one early error
shifts every later token (the error cascades). A controlled task on which the credit a
relaxed roll-in gives to earlier predictions should matter.

    python scripts/make_cascade_data.py OUT_DIR [--train 4000 --valid 300 --test 300
                                         --min-len 5 --max-len 12 --eval-max-len 12 --seed 1]

writes OUT_DIR/{train,valid,test}.{src,tgt}. The same arguments give the same files. With
``--eval-max-len`` above ``--max-len``, valid and test hold longer sequences than training
ever shows, where one early error has more positions to spoil.
"""
import argparse
import os
import random

DIGITS = [str(d) for d in range(10)]


def running_sums(digits):
    """y_i = (d_1 + ... + d_i) mod 10, as digit tokens."""
    total, out = 0, []
    for d in digits:
        total = (total + int(d)) % 10
        out.append(str(total))
    return out


def sequence(rng: random.Random, min_len: int, max_len: int):
    return [rng.choice(DIGITS) for _ in range(rng.randint(min_len, max_len))]


def write_split(out_dir: str, split: str, n: int, rng: random.Random, min_len: int,
                max_len: int):
    with open(os.path.join(out_dir, f"{split}.src"), "w") as src, open(
        os.path.join(out_dir, f"{split}.tgt"), "w"
    ) as tgt:
        for _ in range(n):
            digits = sequence(rng, min_len, max_len)
            src.write(" ".join(digits) + "\n")
            tgt.write(" ".join(running_sums(digits)) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--valid", type=int, default=300)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--min-len", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=12)
    parser.add_argument("--eval-max-len", type=int, default=None,
                        help="longest valid/test sequence (default: --max-len)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1 <= args.min_len <= args.max_len:
        parser.error(f"need 1 <= --min-len <= --max-len, got {args.min_len}, {args.max_len}")
    eval_max_len = args.eval_max_len or args.max_len
    if eval_max_len < args.min_len:
        parser.error(f"--eval-max-len {eval_max_len} is below --min-len {args.min_len}")
    os.makedirs(args.out_dir, exist_ok=True)
    rng = random.Random(args.seed)
    for split in ("train", "valid", "test"):
        longest = args.max_len if split == "train" else eval_max_len
        write_split(args.out_dir, split, getattr(args, split), rng, args.min_len, longest)
    print(f"wrote the cascade task to {args.out_dir} ({args.train}/{args.valid}/{args.test} "
          f"sequences of {args.min_len}-{args.max_len} digits, valid/test up to "
          f"{eval_max_len}, seed {args.seed})")


if __name__ == "__main__":
    main()

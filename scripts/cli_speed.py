#!/usr/bin/env python
"""Training speed through the real CLI: ``fairseq-train`` for a fixed number of
updates on prepared data, fairseq's stock ``lstm`` + ``cross_entropy`` against
``lstm_relaxed_paper_mt`` + ``relaxed_scheduled_sampling`` in each roll-in mode
at a constant ``tf_prob``.

    python scripts/cli_speed.py DATA_DIR/bin [--updates 60 --tf-prob 0.75 --threads 2] \
        [--json OUT.json]

DATA_DIR is an examples/multi30k (or iwslt14) data folder. Both models have the
paper's MT sizes (bidirectional 1x256 encoder, 1x256 decoder; the stock model
with fairseq's dot attention, ours with additive attention). Seconds per update
and target words per second are fairseq's own ``ups`` and ``wps`` of the
``train_inner`` records, medians over the records after the first (warm-up).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from benchmark import machine, machine_line  # noqa: E402  (described as the benchmark does)
from relaxss.relax import ROLLIN_MODES  # noqa: E402

ROLLINS = list(ROLLIN_MODES)
SIZES = ["--encoder-embed-dim", "256", "--encoder-hidden-size", "256", "--encoder-layers", "1",
         "--encoder-bidirectional", "--decoder-embed-dim", "256", "--decoder-hidden-size", "256",
         "--decoder-layers", "1", "--decoder-out-embed-dim", "256", "--dropout", "0.2"]


def command(opts, name):
    common = [sys.executable, "-m", "fairseq_cli.train", opts.data, "--cpu", "--seed", "1",
              "--optimizer", "adam", "--lr", "0.001", "--max-tokens", str(opts.max_tokens),
              "--max-update", str(opts.updates), "--log-format", "json", "--log-interval",
              str(opts.log_interval), "--disable-validation", "--no-save",
              "--required-batch-size-multiple", "1", "--num-workers", "0"]
    if name == "reference":
        return [*common, "--arch", "lstm", *SIZES, "--criterion", "cross_entropy"]
    return [*common, "--user-dir", os.path.join(ROOT, "relaxss_fairseq"),
            "--arch", "lstm_relaxed_paper_mt", "--criterion", "relaxed_scheduled_sampling",
            "--rollin", name, "--teacher-forcing-schedule", "constant",
            "--teacher-forcing-start", str(opts.tf_prob), "--gold-warmup-epochs", "0"]


def train_inner_records(text):
    records = []
    for line in text.splitlines():
        start = line.find("{")
        if start < 0 or '"train_inner"' not in line and "| train_inner |" not in line:
            continue
        try:
            records.append(json.loads(line[start:]))
        except json.JSONDecodeError:
            continue
    return records


def measure(opts, name):
    env = {**os.environ, "OMP_NUM_THREADS": str(opts.threads)}
    result = subprocess.run(command(opts, name), capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{name}: fairseq-train failed:\n{result.stderr[-3000:]}")
    records = train_inner_records(result.stdout + result.stderr)[1:]  # the first: warm-up
    if not records:
        raise SystemExit(f"{name}: no train_inner records after the first; raise --updates")
    return {"mode": name,
            "sec_per_update": statistics.median(1.0 / float(r["ups"]) for r in records),
            "words_per_sec": statistics.median(float(r["wps"]) for r in records),
            "records": len(records)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="fairseq-preprocess output (DATA_DIR/bin)")
    parser.add_argument("--updates", type=int, default=60)
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=4000)
    parser.add_argument("--tf-prob", type=float, default=0.75)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=["reference", *ROLLINS],
                        choices=["reference", *ROLLINS])
    parser.add_argument("--json")
    opts = parser.parse_args()
    if "reference" not in opts.modes:
        parser.error("--modes must include reference")
    rows = []
    for name in opts.modes:
        rows.append(measure(opts, name))
        print(f"{name}: {rows[-1]['sec_per_update']:.3f} s/update", file=sys.stderr, flush=True)
    reference = rows[0]["sec_per_update"]
    info = machine()
    print(machine_line(info))
    print(f"fairseq-train, {opts.updates} updates of up to {opts.max_tokens} tokens, "
          f"tf_prob {opts.tf_prob}, {opts.threads} threads")
    print("| model + criterion | s/update | words/s | time / reference |")
    print("|---|---|---|---|")
    for row in rows:
        label = ("stock lstm + cross_entropy" if row["mode"] == "reference"
                 else f"lstm_relaxed_paper_mt, --rollin {row['mode']}")
        row["time_ratio"] = row["sec_per_update"] / reference
        print(f"| {label} | {row['sec_per_update']:.3f} | {row['words_per_sec']:.0f} "
              f"| {row['time_ratio']:.2f}x |")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"settings": vars(opts), "machine": info, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()

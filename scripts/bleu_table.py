#!/usr/bin/env python
"""Collect the BLEU score files of several runs into a markdown table.

    python scripts/bleu_table.py RUN_DIR_OR_JSON [...] [--names a,b,...] [--out table.md]

Each argument is a ``<checkpoint>.bleu.json`` written by the recipes' generate.sh
(examples/mt_common.sh) or a folder searched (recursively) for them. One row per
score file: the run (its save dir; the checkpoint too when a run has several
scored checkpoints), valid and test BLEU (sacreBLEU), and -- when the save dir
has the train_stats.json that train.sh writes -- seconds per epoch (fairseq's
per-epoch train_wall, averaged) and the epochs trained. The sacreBLEU signature
is printed under the table.
"""
import argparse
import glob
import json
import os
import sys


def find_score_files(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(glob.glob(os.path.join(path, "**", "*.bleu.json"), recursive=True))
            if not found:
                print(f"warning: no *.bleu.json under {path}", file=sys.stderr)
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise SystemExit(f"{path}: no such file or folder")
    return files


def load_row(path):
    with open(path) as f:
        record = json.load(f)
    run_dir = os.path.dirname(os.path.abspath(path))
    stem = os.path.basename(path)[: -len(".bleu.json")]
    row = {"run": record.get("run") or os.path.basename(run_dir), "checkpoint": stem,
           "dir": run_dir, "signatures": set()}
    for split in ("valid", "test"):
        if split in record:
            row[split] = record[split]["bleu"]
            row["signatures"].add(record[split].get("signature", ""))
    stats_path = os.path.join(run_dir, "train_stats.json")
    if os.path.isfile(stats_path):
        with open(stats_path) as f:
            stats = json.load(f)
        row["seconds_per_epoch"] = stats.get("seconds_per_epoch")
        row["epochs"] = len(stats.get("epochs", [])) or None
    return row


def fmt(value, digits=2):
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(rows, names=None):
    per_dir = {}
    for row in rows:
        per_dir[row["dir"]] = per_dir.get(row["dir"], 0) + 1
    lines = ["| run | valid BLEU | test BLEU | s/epoch | epochs |",
             "|---|---:|---:|---:|---:|"]
    for i, row in enumerate(rows):
        name = names[i] if names else row["run"]
        if not names and per_dir[row["dir"]] > 1:
            name = f"{name} ({row['checkpoint']})"
        lines.append(
            f"| {name} | {fmt(row.get('valid'))} | {fmt(row.get('test'))} | "
            f"{fmt(row.get('seconds_per_epoch'), 1)} | {fmt(row.get('epochs'))} |"
        )
    signatures = sorted({s for row in rows for s in row["signatures"] if s})
    if signatures:
        lines.append("")
        lines.extend(f"sacreBLEU: `{s}`" for s in signatures)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="*.bleu.json files or folders holding them")
    parser.add_argument("--names", default=None, help="comma-separated row names, in order")
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    rows = [load_row(p) for p in find_score_files(args.paths)]
    if not rows:
        raise SystemExit("no score files found")
    names = args.names.split(",") if args.names else None
    if names and len(names) != len(rows):
        raise SystemExit(f"{len(names)} names for {len(rows)} score files")
    text = table(rows, names)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Tables 1-2 of the paper: configurations x random restarts, the best restart
by dev score, its test score, and learning curves.

    python scripts/sweep.py ner-table1 --conll CONLL_DIR --work WORK [--epochs 6 --restarts 2]
    python scripts/sweep.py ner-table2 --conll CONLL_DIR --work WORK      (k = 100, 10, 1, always)
    python scripts/sweep.py mt-table1  --mt-data DATA_DIR --work WORK     (examples/multi30k layout)

Arguments the script does not know are passed to every fairseq-train run.

Each run is a ``fairseq-train`` of the recipe's model (``examples/ner/train.sh``
or ``examples/multi30k/train.sh``) with ``--seed`` = restart; the dev score of
every epoch comes from fairseq's validation (span F1 for NER, BLEU of
``--eval-bleu`` for MT) and the best epoch's checkpoint is scored on dev and
test by the recipe's evaluation (seqeval F1 / sacreBLEU).  For each
configuration the restart with the best dev score is reported.  Runs go
``--parallel`` at a time, one thread each.  Writes WORK/results.json,
WORK/table.md and WORK/curves.png; finished runs are not run again.  With
``--continue-from EARLIER_WORK --epochs N`` the runs of an earlier sweep are
continued from their last checkpoints to N epochs in the new WORK folder.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from mt_data import epoch_records  # noqa: E402  (fairseq-train log records, shared)

# the paper's Table 1 rows: (name, criterion arguments)
def table1(k: float, alpha: float, alpha0: float, rate: float):
    schedule = ["--teacher-forcing-k", str(k)]
    fixed = ["--alpha", str(alpha)]
    annealed = ["--alpha", str(alpha0), "--alpha-anneal-rate", str(rate)]
    return [
        ("Baseline CE", ["--rollin", "teacher_forcing"]),
        ("Bengio et al. (2015) greedy", ["--rollin", "hard_greedy", *schedule]),
        ("Bengio et al. (2015) sample", ["--rollin", "hard_sample", *schedule]),
        ("alpha-soft fixed greedy", ["--rollin", "soft_greedy", *schedule, *fixed]),
        ("alpha-soft fixed sample", ["--rollin", "soft_sample", *schedule, *fixed]),
        ("alpha-soft annealed greedy", ["--rollin", "soft_greedy", *schedule, *annealed]),
        ("alpha-soft annealed sample", ["--rollin", "soft_sample", *schedule, *annealed]),
    ]


def table2(alpha0: float, rate: float):
    """The paper's Table 2: decay strength k of the schedule, relaxed greedy, annealed alpha."""
    annealed = ["--rollin", "soft_greedy", "--alpha", str(alpha0), "--alpha-anneal-rate", str(rate)]
    rows = [(f"k = {k:g}", [*annealed, "--teacher-forcing-k", str(k)]) for k in (100, 10, 1)]
    rows.append(("always", [*annealed, "--teacher-forcing-schedule", "always"]))
    return rows


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def learning_curve(log_path: str, metric: str):
    """Per epoch: the dev score fairseq validated, tf_prob, alpha and train_wall."""
    with open(log_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    train, valid = epoch_records(text, "train"), epoch_records(text, "valid")
    return [{"epoch": e,
             "dev": float(valid[e][metric]),
             "tf_prob": float(train[e]["tf_prob"]),
             "alpha": float(train[e]["alpha"]),
             "seconds": float(train[e]["train_wall"])}
            for e in sorted(train) if e in valid]


class NerTask:
    metric = "f1"
    metric_label = "F1"

    def __init__(self, opts):
        self.conll = opts.conll
        self.data = os.path.join(opts.work, "data")

    def prepare(self):
        if not os.path.exists(os.path.join(self.data, "bin", "dict.tag.txt")):
            run(["bash", f"{ROOT}/examples/ner/prepare.sh", self.conll, self.data])

    def train_command(self, save_dir, args):
        return ["bash", f"{ROOT}/examples/ner/train.sh", self.data, save_dir, *args]

    def evaluate(self, save_dir):
        run(["bash", f"{ROOT}/examples/ner/evaluate.sh", self.conll, self.data, save_dir])
        scores = {}
        for split in ("dev", "test"):
            with open(os.path.join(save_dir, f"{split}.scores.json")) as f:
                scores[split] = json.load(f)["micro"]["f1"]
        return scores


class MtTask:
    metric = "bleu"
    metric_label = "BLEU"

    def __init__(self, opts):
        self.data = opts.mt_data

    def prepare(self):
        if not os.path.isdir(os.path.join(self.data, "bin")):
            raise SystemExit(f"{self.data}/bin missing: run examples/multi30k/prepare.sh first")

    def train_command(self, save_dir, args):
        return ["bash", f"{ROOT}/examples/multi30k/train.sh", self.data, save_dir,
                "--eval-bleu", "--eval-bleu-args", '{"beam": 1}',
                "--eval-bleu-remove-bpe", "sentencepiece", "--required-batch-size-multiple", "1",
                "--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric", *args]

    def evaluate(self, save_dir):
        """sacreBLEU (beam 5, detokenized) of the best checkpoint on valid and test."""
        checkpoint = os.path.join(save_dir, "checkpoint_best.pt")
        for split in ("valid", "test"):
            run(["bash", f"{ROOT}/examples/multi30k/generate.sh", self.data, checkpoint, split])
        with open(os.path.join(save_dir, "checkpoint_best.bleu.json")) as f:
            record = json.load(f)
        return {"dev": record["valid"]["bleu"], "test": record["test"]["bleu"]}


def run(command, log_path=None):
    """Runs ``command``; its output is appended to ``log_path``, so a run that
    resumes from its last checkpoint keeps the records of its earlier epochs."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if log_path is None:
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        return
    with open(log_path, "a") as log:
        subprocess.run(command, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_from_earlier_run(earlier_dir: str, save_dir: str):
    """Copies a run of an earlier sweep (checkpoints and log, not its result), so
    that fairseq resumes from its last checkpoint and the curve keeps its epochs."""
    if not os.path.isdir(earlier_dir):
        raise FileNotFoundError(f"--continue-from: no earlier run {earlier_dir}")
    shutil.copytree(earlier_dir, save_dir, ignore=shutil.ignore_patterns("result.json"))


def one_run(task, opts, name, args, restart):
    run_dir = os.path.join("runs", f"{slug(name)}.seed{restart}")
    save_dir = os.path.join(opts.work, run_dir)
    result_path = os.path.join(save_dir, "result.json")
    if os.path.exists(result_path):
        with open(result_path) as f:
            return json.load(f)
    if opts.continue_from and not os.path.exists(save_dir):
        start_from_earlier_run(os.path.join(opts.continue_from, run_dir), save_dir)
    os.makedirs(save_dir, exist_ok=True)
    log_path = os.path.join(save_dir, "run.log")
    common = ["--seed", str(restart), "--log-format", "json", "--no-progress-bar",
              "--max-epoch", str(opts.epochs), *opts.extra]
    print(f"start  {name} restart {restart}", flush=True)
    run(task.train_command(save_dir, [*args, *common]), log_path)
    curve = learning_curve(log_path, task.metric)
    result = {"name": name, "restart": restart, "args": args, "curve": curve,
              **task.evaluate(save_dir)}
    with open(result_path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"done   {name} restart {restart}: dev {result['dev']:.2f} test {result['test']:.2f}",
          flush=True)
    return result


def run_or_report(task, opts, name, args, restart):
    """One run; a failure is reported and leaves the other runs going."""
    try:
        return one_run(task, opts, name, args, restart)
    except (subprocess.CalledProcessError, KeyError, OSError) as error:
        print(f"FAILED {name} restart {restart}: {error} (see its run.log)", flush=True)
        return None


def write_table(task, rows, results, opts):
    lines = [f"| configuration | dev {task.metric_label} | test {task.metric_label} | "
             f"best restart | dev over restarts | s/epoch |", "|---|---|---|---|---|---|"]
    summary = []
    for name, _ in rows:
        runs = [r for r in results if r["name"] == name]
        if not runs:
            lines.append(f"| {name} | failed | | | | |")
            continue
        best = max(runs, key=lambda r: r["dev"])
        seconds = statistics.median(p["seconds"] for r in runs for p in r["curve"])
        devs = ", ".join(f"{r['dev']:.2f}" for r in sorted(runs, key=lambda r: r["restart"]))
        lines.append(f"| {name} | {best['dev']:.2f} | {best['test']:.2f} | {best['restart']} "
                     f"| {devs} | {seconds:.0f} |")
        summary.append({"name": name, "dev": best["dev"], "test": best["test"],
                        "best_restart": best["restart"], "s_per_epoch": seconds})
    with open(os.path.join(opts.work, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(opts.work, "results.json"), "w") as f:
        json.dump({"table": opts.table, "epochs": opts.epochs, "restarts": opts.restarts,
                   "extra_args": opts.extra, "summary": summary, "runs": results}, f, indent=1)
    print("\n".join(lines))
    return summary


def plot_curves(task, rows, results, opts):
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, _ in rows:
        runs = [r for r in results if r["name"] == name]
        if not runs:
            continue
        best = max(runs, key=lambda r: r["dev"])
        epochs = [p["epoch"] for p in best["curve"]]
        for ax, key in zip(axes, ("dev", "tf_prob", "alpha")):
            ax.plot(epochs, [p[key] for p in best["curve"]], marker="o", ms=3, label=name)
    labels = (f"dev {task.metric_label} (validation during training)",
              "tf_prob (gold probability)", "alpha")
    for ax, label in zip(axes, labels):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{opts.table}: best restart of each configuration (CPU-scale)")
    fig.tight_layout()
    fig.savefig(os.path.join(opts.work, "curves.png"), dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=["ner-table1", "ner-table2", "mt-table1"])
    parser.add_argument("--work", required=True)
    parser.add_argument("--conll", help="CoNLL directory (NER tables)")
    parser.add_argument("--mt-data", help="prepared examples/multi30k data directory (MT table)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--k", type=float, default=10.0, help="inverse-sigmoid k of Table 1")
    parser.add_argument("--alpha", type=float, default=10.0, help="fixed alpha of Table 1")
    parser.add_argument("--alpha0", type=float, default=1.0, help="initial annealed alpha")
    parser.add_argument("--alpha-rate", type=float, default=1.5, help="alpha annealing rate")
    parser.add_argument("--continue-from", metavar="EARLIER_WORK",
                        help="start every run not yet in --work from the same run of this "
                        "earlier sweep (its last checkpoint and log), e.g. to train it for "
                        "more --epochs; the earlier sweep is left as it is")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these rows of the table (their names as printed)")
    opts, opts.extra = parser.parse_known_args()  # the rest: fairseq-train args for every run
    if opts.table.startswith("ner") and not opts.conll:
        parser.error("--conll is required for the NER tables")
    if opts.table.startswith("mt") and not opts.mt_data:
        parser.error("--mt-data is required for the MT table")
    os.makedirs(opts.work, exist_ok=True)

    task = NerTask(opts) if opts.table.startswith("ner") else MtTask(opts)
    rows = (table2(opts.alpha0, opts.alpha_rate) if opts.table == "ner-table2"
            else table1(opts.k, opts.alpha, opts.alpha0, opts.alpha_rate))
    if opts.only:
        unknown = set(opts.only) - {name for name, _ in rows}
        if unknown:
            parser.error(f"--only: no such rows {sorted(unknown)}; rows: {[n for n, _ in rows]}")
        rows = [row for row in rows if row[0] in opts.only]
    task.prepare()
    jobs = [(name, args, restart) for restart in range(1, opts.restarts + 1) for name, args in rows]
    with ThreadPoolExecutor(opts.parallel) as pool:
        results = list(pool.map(lambda job: run_or_report(task, opts, *job), jobs))
    failed = [job[:2] for job, result in zip(jobs, results) if result is None]
    results = [r for r in results if r is not None]
    write_table(task, rows, results, opts)
    plot_curves(task, rows, results, opts)
    if failed:
        print(f"{len(failed)} runs failed (see their run.log); run the same command again to retry")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Summary of the one-GPU Transformer probe (run.sh): the runs were stopped by time
before convergence and before beam-5 scoring, so the table compares dev BLEU under
fairseq's per-epoch greedy validation at the last epoch every run completed, seed by seed.

    python results/transformer_m30k_gpu/summarize.py RUNS_DIR [OUT_DIR]   # WORK_DIR/runs of run.sh
writes probe.md and curves.json to OUT_DIR (default: beside this file)."""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from sweep import learning_curve, mean_sd, slug  # noqa: E402

ROWS = ["Baseline CE", "Bengio et al. (2015) greedy", "alpha-soft fixed greedy",
        "alpha-soft fixed greedy, detached", "straight-through greedy"]
TIME_STOP = "Stopping training due to cumulative_training_time"


def load(runs_dir):
    results = []
    for name in ROWS:
        for seed in (1, 2, 3):
            log = os.path.join(runs_dir, f"{slug(name)}.seed{seed}", "run.log")
            if not os.path.exists(log):  # a run of fewer ROWS (run.sh's ROWS)
                continue
            with open(log, encoding="utf-8", errors="replace") as f:
                text = f.read()
            curve = learning_curve(log, "bleu")
            updates = [int(u) for u in re.findall(r'"valid_num_updates": "(\d+)"', text)]
            # a run stopped by time validated its last, unfinished epoch too
            complete = curve[:-1] if TIME_STOP in text else curve
            results.append({"name": name, "seed": seed, "curve": curve,
                            "complete_epochs": len(complete), "updates": updates[-1],
                            "stopped_by_time": TIME_STOP in text})
    return results


def at_epoch(result, epoch, key):
    return next(p[key] for p in result["curve"] if p["epoch"] == epoch)


def main(runs_dir, out_dir=HERE):
    results = load(runs_dir)
    common = min(r["complete_epochs"] for r in results)
    for r in results:
        r["dev"] = at_epoch(r, common, "dev")
        r["best_dev"] = max(p["dev"] for p in r["curve"])
    ce = [r for r in results if r["name"] == ROWS[0]]
    lines = [f"Dev BLEU (fairseq's greedy validation, beam 1) at epoch {common}, the last "
             "epoch every run completed; best: the best dev BLEU any validation gave before the "
             "time stop; paired: the row minus CE at epoch "
             f"{common}, seed by seed (mean ± sd). tf_prob, model_fed, dev NLL with gold and "
             f"with always-model-fed greedy inputs: epoch {common}, mean over seeds.", "",
             "| roll-in | dev BLEU ep. {0} mean ± sd | per seed | paired vs CE | best dev per seed "
             "| complete epochs | tf_prob | model_fed | dev NLL gold / fed | credit gnorm |"
             .format(common), "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ROWS:
        rows = [r for r in results if r["name"] == name]
        if not rows:
            continue
        mean, sd = mean_sd([r["dev"] for r in rows])
        means = {key: mean_sd([at_epoch(r, common, key) for r in rows])[0]
                 for key in ("tf_prob", "model_fed", "dev_nll_loss", "fed_nll_loss",
                             "credit_gnorm")}
        paired = ""  # CE itself, or a call without CE (run.sh's ROWS): nothing to pair with
        if name != ROWS[0] and ce:
            diff = mean_sd([r["dev"] - c["dev"] for r, c in zip(rows, ce)])  # seeds 1, 2, 3
            paired = f"{diff[0]:+.2f} ± {diff[1]:.2f}"
        credit = "" if means["credit_gnorm"] is None else f"{means['credit_gnorm']:.4f}"
        devs = " / ".join(f"{r['dev']:.2f}" for r in rows)
        bests = " / ".join(f"{r['best_dev']:.2f}" for r in rows)
        epochs = " / ".join(str(r["complete_epochs"]) for r in rows)
        lines.append(
            f"| {name} | {mean:.2f} ± {sd:.2f} | {devs} | {paired} | {bests} | {epochs} "
            f"| {means['tf_prob']:.3f} "
            f"| {means['model_fed']:.3f} | {means['dev_nll_loss']:.3f} / "
            f"{means['fed_nll_loss']:.3f} | {credit} |")
    with open(os.path.join(out_dir, "probe.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "curves.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:3])

#!/usr/bin/env python
"""Tables 1-2 of the paper (and the cascade task): configurations x seeds, trained to
convergence, mean +- sd over seeds, the best seed by dev, paired differences against
cross-entropy and hard scheduled sampling, learning curves with training diagnostics.

    python scripts/sweep.py ner-table1 --conll CONLL_DIR --work WORK [--seeds 3 --epochs 30]
    python scripts/sweep.py ner-table2 --conll CONLL_DIR --work WORK      (k = 100, 10, 1, always)
    python scripts/sweep.py mt-table1  --mt-data DATA_DIR --work WORK     (examples/multi30k layout)
    python scripts/sweep.py cascade    --work WORK                        (generated: running sums)

Arguments the script does not know are passed to every fairseq-train run.

Protocol. Each run is a ``fairseq-train`` of the task's model with ``--seed`` = seed
(1 .. --seeds), trained until the dev metric of fairseq's validation has not improved for
--patience validations (fairseq's ``--patience``) or --epochs (the cap) is reached, with
the learning rate multiplied by --lr-shrink whenever the dev metric does not improve
(fairseq's ``--lr-scheduler reduce_lr_on_plateau``; --lr-shrink 1 keeps it fixed,
--patience 0 trains every run to the cap). The best epoch's checkpoint is scored on dev and
test by the task's evaluation (seqeval F1 / sacreBLEU / exact match; on the cascade task
also greedy search after one forced error, scripts/recovery.py). For each row:
mean +- sd over seeds, the seed with the best dev score and its test score (the paper's
protocol), the epochs each run took, and the paired difference against "Baseline CE" (and
the Bengio et al. rows, and any --pair-with row), seed by seed: "gain" when the mean
difference exceeds its sd on both dev and test, and the same verdict on each other score of
the evaluation (beam 5, recovery, ...). Writes WORK/results.json, WORK/table.md and
WORK/curves.png (dev score, tf_prob, alpha, model_fed, gnorm, clip share, credit_gnorm,
learning rate by epoch).

Runs go --parallel at a time, one thread each. Finished runs are read back, not run again
(a run whose arguments changed since is refused: use another --work), also from the
results of an earlier sweep (--read-back-from its results.json or a folder of its runs'
result files, as committed under results/: its work folder need not be kept); a run that was
interrupted resumes from its last checkpoint; stopping the sweep (Ctrl-C, kill, timeout)
stops the commands it runs. With ``--continue-from EARLIER_WORK
--epochs N`` the runs of an earlier sweep are continued from their last checkpoints in
the new WORK folder. Per-row settings (tuned on dev): --row-args NAME=ARGS or
--row-settings FILE.json ({"row name": "--alpha 1 ..."}); a small tuning mode:
--grid-row NAME --grid OPTION=V1,V2[,...] (writes WORK/grid.{md,json} and
WORK/grid_best.json, a --row-settings file).
"""
import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from mt_data import epoch_records  # noqa: E402  (fairseq-train log records, shared)
from recovery import SCORES as RECOVERY_SCORES  # noqa: E402  (imports no fairseq at the top)
from relaxss.schedules import inverse_sigmoid_k_for  # noqa: E402

CE_ROW = "Baseline CE"
# rows every other row is compared with, seed by seed (when they are in the table)
REFERENCE_ROWS = (CE_ROW, "Bengio et al. (2015) greedy", "Bengio et al. (2015) sample")
# per-epoch diagnostics of the train records kept in each run's curve (None when not logged)
CURVE_KEYS = ("tf_prob", "alpha", "model_fed", "gnorm", "clip", "credit_gnorm", "lr", "loss")

_print_lock = threading.Lock()


def say(message: str):
    with _print_lock:
        print(message, flush=True)


# -- the tables' rows: (name, criterion arguments) ------------------------------------------


def table1(schedule, alpha: float, alpha0: float, rate: float, bounded: float = 0.5):
    """The paper's Table 1 rows, then straight-through and the credit variants.
    ``schedule``: the schedule's arguments (e.g. ["--teacher-forcing-k", "10"])."""
    # str(), as before: a finished run is read back only when its arguments are the same
    fixed = ["--alpha", str(alpha)]
    annealed = ["--alpha", str(alpha0), "--alpha-anneal-rate", str(rate)]
    return [
        (CE_ROW, ["--rollin", "teacher_forcing"]),
        ("Bengio et al. (2015) greedy", ["--rollin", "hard_greedy", *schedule]),
        ("Bengio et al. (2015) sample", ["--rollin", "hard_sample", *schedule]),
        ("alpha-soft fixed greedy", ["--rollin", "soft_greedy", *schedule, *fixed]),
        ("alpha-soft fixed sample", ["--rollin", "soft_sample", *schedule, *fixed]),
        ("alpha-soft annealed greedy", ["--rollin", "soft_greedy", *schedule, *annealed]),
        ("alpha-soft annealed sample", ["--rollin", "soft_sample", *schedule, *annealed]),
        ("straight-through greedy", ["--rollin", "st_greedy", *schedule, *fixed]),
        ("straight-through sample", ["--rollin", "st_sample", *schedule, *fixed]),
        ("alpha-soft fixed greedy, bounded credit",
         ["--rollin", "soft_greedy", *schedule, *fixed, "--credit-scale", f"{bounded:g}"]),
        ("alpha-soft fixed greedy, detached",
         ["--rollin", "soft_greedy", *schedule, *fixed, "--credit-scale", "0"]),
    ]


def table2(alpha0: float, rate: float):
    """The paper's Table 2: decay strength k of the schedule, relaxed greedy, annealed alpha;
    cross-entropy first, the reference of the paired differences (not in the paper's)."""
    annealed = ["--rollin", "soft_greedy", "--alpha", str(alpha0), "--alpha-anneal-rate", str(rate)]
    rows = [(CE_ROW, ["--rollin", "teacher_forcing"])]
    rows += [(f"k = {k:g}", [*annealed, "--teacher-forcing-k", str(k)]) for k in (100, 10, 1)]
    rows.append(("always", [*annealed, "--teacher-forcing-schedule", "always"]))
    return rows


def cascade_rows(schedule, alpha: float, bounded: float = 0.5, unit: str = "update"):
    """The cascade table: schedule by ``unit`` (``schedule`` holds its arguments)."""
    timed = ["--schedule-unit", unit, *schedule]
    fixed = [*timed, "--alpha", f"{alpha:g}"]
    return [
        (CE_ROW, ["--rollin", "teacher_forcing"]),
        ("Bengio et al. (2015) greedy", ["--rollin", "hard_greedy", *timed]),
        ("Bengio et al. (2015) sample", ["--rollin", "hard_sample", *timed]),
        ("soft greedy", ["--rollin", "soft_greedy", *fixed]),
        ("soft greedy, bounded credit",
         ["--rollin", "soft_greedy", *fixed, "--credit-scale", f"{bounded:g}"]),
        ("soft greedy, detached", ["--rollin", "soft_greedy", *fixed, "--credit-scale", "0"]),
        ("straight-through greedy", ["--rollin", "st_greedy", *fixed]),
        ("soft sample", ["--rollin", "soft_sample", *fixed]),
        ("soft sample, bounded credit",
         ["--rollin", "soft_sample", *fixed, "--credit-scale", f"{bounded:g}"]),
        ("straight-through sample", ["--rollin", "st_sample", *fixed]),
    ]


def batches_per_epoch(lengths, max_tokens: int) -> int:
    """Batches fairseq's ``batch_by_size`` makes of samples of these lengths (tokens,
    eos included) with --max-tokens and --required-batch-size-multiple 1: samples in
    length order, a batch grows while (size + 1) x its longest sample fits."""
    batches, size, longest = 0, 0, 0
    for length in sorted(lengths):
        if size and (size + 1) * max(longest, length) > max_tokens:
            batches, size, longest = batches + 1, 0, 0
        size, longest = size + 1, max(longest, length)
    return batches + (1 if size else 0)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# -- one run ---------------------------------------------------------------------------------


def number(record, key):
    """``record[key]`` as a float; None when missing or not a number."""
    try:
        return float(record[key])
    except (KeyError, TypeError, ValueError):
        return None


def learning_curve(log_path: str, metric: str):
    """Per epoch: the dev score fairseq validated (and the best so far), the training
    diagnostics of CURVE_KEYS (None where not logged) and train_wall as ``seconds``."""
    with open(log_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    train, valid = epoch_records(text, "train"), epoch_records(text, "valid")
    curve = []
    for e in sorted(train):
        if e not in valid:
            continue
        point = {"epoch": e, "dev": number(valid[e], metric),
                 "best": number(valid[e], f"best_{metric}"),
                 # dev NLL under always-model-fed greedy inputs, against gold inputs
                 "fed_nll_loss": number(valid[e], "fed_nll_loss"),
                 "dev_nll_loss": number(valid[e], "nll_loss")}
        point.update({key: number(train[e], key) for key in CURVE_KEYS})
        point["seconds"] = number(train[e], "train_wall")
        curve.append(point)
    return curve


def ended_on_patience(log_path: str) -> bool:
    """Whether fairseq's last words on the run were its early stop: a run continued
    after an earlier stop (a longer --patience) validates again after that line."""
    with open(log_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return text.rfind(EARLY_STOP) > text.rfind("| valid |")


def ended_by_patience_earlier(save_dir: str) -> bool:
    """Whether --continue-from found the run ended by this sweep's patience (its log
    need not say so: the earlier sweep's patience may have been longer)."""
    path = os.path.join(save_dir, TRAINED_MARK)
    if not os.path.exists(path):
        return False
    with open(path) as f:
        return f.read() == ENDED_BY_PATIENCE


def best_epoch(curve):
    """The epoch fairseq keeps as checkpoint_best (the last one with the best dev score)."""
    scored = [p for p in curve if p["dev"] is not None]
    if not scored:
        return None
    top = max(p["dev"] for p in scored)
    return [p["epoch"] for p in scored if p["dev"] == top][-1]


# the commands running now, each the leader of its own process group: a sweep that is
# stopped (Ctrl-C, kill, timeout) stops them with it, so that no fairseq-train goes on
# writing the checkpoints of a run that the next sweep resumes
_running = set()
_running_lock = threading.Lock()
_stopping = False


def run(command, log_path=None, on_line=None):
    """Runs ``command``; its output is appended to ``log_path`` line by line (and each
    line handed to ``on_line``), so a run that resumes from its last checkpoint keeps
    the records of its earlier epochs."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    logged = log_path is not None
    with _running_lock:
        if _stopping:
            raise RuntimeError("the sweep is stopping: no new command")
        # its own session: a recipe's bash does not pass a signal on to the python it
        # waits for, so the whole group is what gets signalled
        process = subprocess.Popen(command, env=env, start_new_session=True,
                                   stdout=subprocess.PIPE if logged else subprocess.DEVNULL,
                                   stderr=subprocess.STDOUT if logged else None,
                                   text=True, errors="replace")
        _running.add(process)
    log = None
    try:
        if logged:
            log = open(log_path, "a")
            for line in process.stdout:
                log.write(line)
                log.flush()
                if on_line is not None:
                    on_line(line)
        status = process.wait()
    except BaseException:  # Ctrl-C or SIGTERM while this thread waited: stop the command
        terminate([process])
        raise
    finally:
        with _running_lock:
            _running.discard(process)
        if log is not None:
            log.close()
    if status:
        raise subprocess.CalledProcessError(status, command)


def terminate(processes, grace: float = 30.0):
    """SIGTERM to each process's group, SIGKILL to what is left after ``grace`` seconds."""
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            pass
        try:  # the leader may be gone while others of its group are not
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_commands():
    """Stops every running command (those of the worker threads) and starts no new one."""
    global _stopping
    with _running_lock:
        _stopping = True
        processes = list(_running)
    terminate(processes)


def exit_on_sigterm():
    """SIGTERM (kill, timeout) ends the sweep as Ctrl-C does: run_sweep and run stop the
    commands on the way out."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


VALID_RECORD = re.compile(r"\| valid \| (\{.*\})\s*$")


def progress_printer(label: str, metric: str):
    """A line handler that says each validation of a run: epoch, dev score, best so far."""

    def on_line(line):
        match = VALID_RECORD.search(line)
        if not match:
            return
        try:
            record = json.loads(match.group(1))
        except ValueError:
            return
        dev = record.get(f"valid_{metric}")
        best = record.get(f"valid_best_{metric}", dev)
        say(f"    {label}: epoch {record.get('epoch')} dev {dev} best {best}")

    return on_line


class ChangedArguments(Exception):
    """A finished run of this name and seed was made with other arguments."""


def last_value(args, option: str, default=None):
    """The value of the last ``option`` in a command line (later ones win)."""
    values = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == option]
    return values[-1] if values else default


def earlier_result(earlier_dir: str):
    """The result.json of a finished run of an earlier sweep, or None, with the
    ``--patience`` it trained with (0: none) as ``patience``."""
    path = result_path_of(earlier_dir)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        result = json.load(f)
    result["patience"] = int(last_value(result.get("train_args", []), "--patience", 0))
    return result


def stopped_for_good(result, patience: int) -> bool:
    """Whether a finished run of an earlier sweep (its :func:`earlier_result`, None if
    unfinished) stopped on a patience no shorter than ``patience``: then it is finished
    at any cap. A longer patience (or none, 0) goes on from where it stopped, as a run
    with that patience would have: the two train alike up to the earlier stop, and
    resuming restores the patience count."""
    if patience <= 0 or result is None:
        return False
    return bool(result.get("stopped_early")) and result["patience"] >= patience


def patience_stop(curve, patience: int):
    """The epoch at which fairseq's ``--patience`` would stop a run with these dev scores,
    or None: its ``should_stop_early`` counts the validations in a row that do not beat the
    best so far and stops at ``patience`` of them. Read off the log's rounded scores, where
    a tie counts as no improvement, as an equal score does in fairseq."""
    if patience <= 0:
        return None
    best, since = None, 0
    for point in curve:
        if point["dev"] is None:
            continue
        if best is None or point["dev"] > best:
            best, since = point["dev"], 0
        else:
            since += 1
            if since >= patience:
                return point["epoch"]
    return None


def start_from_earlier_run(earlier_dir: str, save_dir: str, patience: int, metric: str):
    """Copies a run of an earlier sweep (checkpoints and log, not its result), so
    that fairseq resumes from its last checkpoint and the curve keeps its epochs. A
    run that stopped for good (:func:`stopped_for_good`) is copied as trained, to be
    scored, not trained on (fairseq would train it another epoch before its restored
    patience count stopped it again), and so is one that ``patience`` stops at its last
    validation. A run that trained past where ``patience`` stops (an earlier sweep with a
    longer patience, or none) is refused: a run of this protocol would have ended there,
    and only the last and best checkpoints are kept."""
    if not os.path.isdir(earlier_dir):
        raise FileNotFoundError(f"--continue-from: no earlier run {earlier_dir}")
    log_path = os.path.join(earlier_dir, "run.log")
    curve = learning_curve(log_path, metric) if os.path.exists(log_path) else []
    result = earlier_result(earlier_dir)
    # the same patience: fairseq's own count decided (exact, where the log's rounding is not)
    stop = None if result and result["patience"] == patience else patience_stop(curve, patience)
    if stop is not None and stop < curve[-1]["epoch"]:
        raise ValueError(
            f"--continue-from: {earlier_dir} trained to epoch {curve[-1]['epoch']}, past epoch "
            f"{stop} where --patience {patience} stops it; give a --patience no shorter than the "
            f"earlier sweep's, or train anew (another --work, no --continue-from)")
    shutil.copytree(earlier_dir, save_dir,
                    ignore=shutil.ignore_patterns("result.json", TRAINED_MARK))
    # at its end by this patience: an earlier sweep with the same one stopped it there, a
    # longer one (or none) would have trained it on, and resuming would not stop it at once
    if stopped_for_good(result, patience) or stop is not None:
        with open(os.path.join(save_dir, TRAINED_MARK), "w") as f:
            f.write(ENDED_BY_PATIENCE)


def protocol_args(opts):
    """fairseq-train arguments of the protocol: early stopping and learning-rate decay."""
    args = []
    if getattr(opts, "patience", 0) > 0:
        args += ["--patience", str(opts.patience)]
    if getattr(opts, "lr_shrink", 1.0) < 1.0:
        args += ["--lr-scheduler", "reduce_lr_on_plateau", "--lr-shrink", f"{opts.lr_shrink:g}",
                 "--lr-patience", str(opts.lr_patience)]
    return args


TRAINED_MARK = "trained"  # written when fairseq-train has ended well: do not train again
ENDED_BY_PATIENCE = "ended by this sweep's patience in an earlier sweep's run\n"  # its text
EARLY_STOP = "early stop since valid performance hasn't improved"


def describe(result) -> str:
    return (f"dev {result['dev']:.2f} test {result['test']:.2f}, {result.get('epochs', '?')} "
            f"epochs")


def run_dir_of(name: str, seed: int) -> str:
    """A run's folder under WORK: runs/<row>.seed<N>."""
    return os.path.join("runs", f"{slug(name)}.seed{seed}")


def made_with(result):
    """The (row arguments, own settings) a finished run was made with."""
    return result.get("args"), result.get("row_args", [])


def result_path_of(save_dir: str) -> str:
    """Where a run's scores are written once it is trained and scored: its being there
    is what makes the run finished."""
    return os.path.join(save_dir, "result.json")


def finished_result(opts, name, args, seed, row_args=()):
    """The result of (row, seed) if it finished in WORK, else None; ChangedArguments if it
    was made with other arguments (never silently reused)."""
    save_dir = os.path.join(opts.work, run_dir_of(name, seed))
    if not os.path.exists(result_path_of(save_dir)):
        return None
    with open(result_path_of(save_dir)) as f:
        result = json.load(f)
    made = made_with(result)
    if made != (list(args), list(row_args)):
        raise ChangedArguments(
            f"{save_dir} was made with args {made[0]} + {made[1]}, not "
            f"{list(args)} + {list(row_args)}: remove it or use another --work")
    return result


def one_run(task, opts, name, args, seed=None, row_args=(), position="", restart=None):
    """Trains and scores one (row, seed) in WORK/runs/<row>.seed<seed>, or reads the
    result of a finished one back. ``args``: the row's arguments; ``row_args``: its own
    settings (--row-args / --row-settings), after every other argument."""
    seed = restart if seed is None else seed
    label = f"{name} seed {seed}"
    prefix = f"run {position}: " if position else ""
    run_dir = run_dir_of(name, seed)
    save_dir = os.path.join(opts.work, run_dir)
    args, row_args = list(args), list(row_args)
    result = finished_result(opts, name, args, seed, row_args)
    if result is not None:
        say(f"{prefix}{label}: finished earlier, read back ({describe(result)})")
        return result
    if opts.continue_from and not os.path.exists(save_dir):
        start_from_earlier_run(os.path.join(opts.continue_from, run_dir), save_dir,
                               getattr(opts, "patience", 0), task.metric)
    os.makedirs(save_dir, exist_ok=True)
    log_path = os.path.join(save_dir, "run.log")
    common = ["--seed", str(seed), "--log-format", "json", "--no-progress-bar",
              "--max-epoch", str(opts.epochs), *protocol_args(opts)]
    train_args = [*args, *common, *opts.extra, *row_args]
    if os.path.exists(os.path.join(save_dir, TRAINED_MARK)):
        say(f"{prefix}{label}: trained earlier, scoring it")
    else:
        resuming = os.path.exists(os.path.join(save_dir, "checkpoint_last.pt"))
        say(f"{prefix}{label}" + (" (resumes from its last checkpoint)" if resuming else ""))
        run(task.train_command(save_dir, train_args), log_path,
            progress_printer(label, task.metric))
        with open(os.path.join(save_dir, TRAINED_MARK), "w") as f:
            f.write("fairseq-train ended well\n")
    curve = learning_curve(log_path, task.metric)
    stopped_early = ended_on_patience(log_path) or ended_by_patience_earlier(save_dir)
    result = {"name": name, "seed": seed, "restart": seed, "args": args, "row_args": row_args,
              "train_args": train_args, "epochs": curve[-1]["epoch"] if curve else 0,
              "best_epoch": best_epoch(curve), "stopped_early": stopped_early, "curve": curve,
              **task.evaluate(save_dir)}
    with open(result_path_of(save_dir), "w") as f:
        json.dump(result, f, indent=1)
    say(f"{prefix}{label}: done ({describe(result)}"
        f"{', stopped early' if stopped_early else ''})")
    return result


def committed_results(path: str):
    """The finished runs in ``path``: an earlier sweep's results.json (its ``runs``) or a
    folder of result files, one a run (as under results/*/runs/)."""
    def load(file):
        with open(file) as f:
            return json.load(f)

    if os.path.isdir(path):
        results = [load(os.path.join(path, f)) for f in sorted(os.listdir(path))
                   if f.endswith(".json")]
    elif os.path.isfile(path):
        results = load(path).get("runs", [])
    else:
        raise SystemExit(f"--read-back-from {path}: no such file or folder")
    return [r for r in results if isinstance(r, dict) and {"name", "args"} <= set(r)]


def read_back_from(paths, jobs, work: str):
    """--read-back-from: writes each finished run of ``paths`` that a job of this sweep
    would make -- same row, seed, arguments and row arguments -- as that job's
    WORK/runs/<row>.seed<N>/result.json, where the sweep reads it back instead of training
    it (the work folder of a finished table need not be kept, its results are). A run of
    one of these rows and seeds made with other arguments is left out, and said so: this
    sweep trains it (e.g. a row given another setting, its other rows read back).
    Returns the number written."""
    wanted = {(name, seed): (list(args), list(row_args)) for name, args, seed, row_args in jobs}
    written = 0
    for path in paths:
        for result in committed_results(path):
            key = (result["name"], seed_of(result))
            if key not in wanted:
                continue
            made = made_with(result)
            if made != wanted[key]:
                say(f"--read-back-from {path}: not {key[0]} seed {key[1]}, made with args "
                    f"{made[0]} + {made[1]}, not {wanted[key][0]} + {wanted[key][1]}")
                continue
            run_dir = os.path.join(work, run_dir_of(*key))
            if os.path.exists(result_path_of(run_dir)):
                continue
            os.makedirs(run_dir, exist_ok=True)
            with open(result_path_of(run_dir), "w") as f:
                json.dump(result, f, indent=1)
            written += 1
    return written


def run_or_report(task, opts, name, args, seed, row_args=(), position=""):
    """One run; a failure is reported and leaves the other runs going."""
    try:
        return one_run(task, opts, name, args, seed, row_args, position)
    except (subprocess.CalledProcessError, KeyError, OSError, ValueError,
            ChangedArguments) as error:
        if _stopping:  # its command was stopped with the sweep
            say(f"stopped {name} seed {seed}")
        else:
            say(f"FAILED {name} seed {seed}: {error} (see its run.log)")
        return None


# -- statistics over seeds -------------------------------------------------------------------


def seed_of(result):
    return result.get("seed", result.get("restart"))


def mean_sd(values):
    """Mean and sample standard deviation (None with fewer than 2 values) of the values
    that are not None; (None, None) when there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def paired_difference(runs, reference_runs):
    """Row minus reference, seed by seed, on the seeds both have: the differences on dev
    and test, their mean and sd; ``gain`` when the mean exceeds its sd on both dev and
    test (``loss``: the mean is below minus its sd on both); needs 2 seeds or more.
    ``metrics``: the mean and sd of the differences of every extra score both have;
    ``higher`` / ``lower``: the extra scores X whose dev_X and test_X differences are both
    above their sd (below minus it), the same verdict on another score (e.g. the cascade's
    recovery after a forced error, which the dev score does not measure)."""
    reference = {seed_of(r): r for r in reference_runs}
    pairs = [(r, reference[seed_of(r)]) for r in sorted(runs, key=seed_of)
             if seed_of(r) in reference]
    out = {"seeds": [seed_of(r) for r, _ in pairs], "n": len(pairs)}
    for split in ("dev", "test"):
        diffs = [r[split] - q[split] for r, q in pairs]
        mean, sd = mean_sd(diffs)
        out[split] = {"diffs": diffs, "mean": mean, "sd": sd}

    def beyond_sd(sign, dev, test):
        """The verdict's rule: the mean beyond its sd on dev and on test (an sd needs 2
        seeds; a score either split lacks gives none)."""
        return all(st and st["sd"] is not None and sign * st["mean"] > st["sd"]
                   for st in (dev, test))

    out["gain"], out["loss"] = (beyond_sd(sign, out["dev"], out["test"]) for sign in (1, -1))
    out["metrics"] = {}
    for key in dict.fromkeys(k for r, _ in pairs for k in r.get("metrics", {})):
        values = [(r.get("metrics", {}).get(key), q.get("metrics", {}).get(key))
                  for r, q in pairs]
        diffs = [a - b for a, b in values if a is not None and b is not None]
        if diffs:
            mean, sd = mean_sd(diffs)
            out["metrics"][key] = {"mean": mean, "sd": sd}
    scores = [key[len("dev_"):] for key in out["metrics"] if key.startswith("dev_")]
    for name, sign in (("higher", 1), ("lower", -1)):
        out[name] = [key for key in scores if beyond_sd(sign, out["metrics"][f"dev_{key}"],
                                                        out["metrics"].get(f"test_{key}"))]
    return out


def summarize(rows, results, references=REFERENCE_ROWS):
    """Per row (a name or a (name, args) pair): mean +- sd over seeds on dev and test, the
    best seed by dev (ties: the lowest seed) with its dev and test, per-seed scores and
    epochs, extra metrics' mean +- sd, and the paired difference against each reference
    row present (not against itself)."""
    names = [row if isinstance(row, str) else row[0] for row in rows]
    by_name = {name: sorted((r for r in results if r["name"] == name), key=seed_of)
               for name in names}
    summary = []
    for name in names:
        runs = by_name[name]
        if not runs:
            summary.append({"name": name, "failed": True, "n_seeds": 0})
            continue
        best = max(runs, key=lambda r: (r["dev"], -seed_of(r)))
        dev_mean, dev_sd = mean_sd([r["dev"] for r in runs])
        test_mean, test_sd = mean_sd([r["test"] for r in runs])
        seconds = [p["seconds"] for r in runs for p in r.get("curve", [])
                   if p.get("seconds") is not None]
        entry = {
            "name": name, "args": runs[0].get("args"), "row_args": runs[0].get("row_args", []),
            "n_seeds": len(runs), "seeds": [seed_of(r) for r in runs],
            "dev_mean": dev_mean, "dev_sd": dev_sd, "test_mean": test_mean, "test_sd": test_sd,
            "best_seed": seed_of(best), "best_restart": seed_of(best),
            "dev": best["dev"], "test": best["test"],
            "per_seed": [{"seed": seed_of(r), "dev": r["dev"], "test": r["test"],
                          "epochs": r.get("epochs"), "best_epoch": r.get("best_epoch"),
                          "stopped_early": r.get("stopped_early")} for r in runs],
            "epochs_mean": mean_sd([r.get("epochs") for r in runs])[0],
            "s_per_epoch": statistics.median(seconds) if seconds else None,
        }
        metric_names = [k for r in runs for k in r.get("metrics", {})]
        entry["metrics"] = {}
        for key in dict.fromkeys(metric_names):
            mean, sd = mean_sd([r.get("metrics", {}).get(key) for r in runs])
            entry["metrics"][key] = {"mean": mean, "sd": sd}
        entry["paired"] = {ref: paired_difference(runs, by_name[ref]) for ref in references
                           if ref != name and by_name.get(ref)}
        summary.append(entry)
    return summary


def fmt(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


def pm(mean, sd, digits=2):
    if mean is None:
        return "–"
    return fmt(mean, digits) if sd is None else f"{fmt(mean, digits)} ± {fmt(sd, digits)}"


def stat_cells(stats, names):
    """Markdown cells "mean ± sd" of ``stats[name]`` for each name ("–" where missing)."""
    return " | ".join(pm(stats.get(k, {}).get("mean"), stats.get(k, {}).get("sd"))
                      for k in names) + " |"


def markdown(task, summary, opts, unfinished=()):
    """The tables of table.md: scores over seeds, paired differences, extra metrics.
    ``unfinished``: the (row, args, seed) jobs --report found still training, named in a
    "Partial" line; a row with no finished run then reads "not finished", not "failed",
    and a pair with a row still training gets no verdict yet: the seeds it has so far are
    not the seeds the sweep will compare (two seeds that happen to agree would read as a
    gain)."""
    score = getattr(task, "score_label", task.metric_label)
    patience = getattr(opts, "patience", 0)
    lines = [f"Dev and test {score}: mean ± sd over seeds (sample sd), and the seed with the "
             f"best dev score with its dev / test. Epochs: trained per seed (cap "
             f"{opts.epochs}; {f'patience {patience}' if patience > 0 else 'no early stopping'}"
             f"). s/epoch: median train_wall.", "",
             "| configuration | dev mean ± sd | test mean ± sd | best seed: dev / test | "
             "dev per seed | test per seed | epochs per seed | s/epoch |",
             "|---|---|---|---|---|---|---|---|"]
    if unfinished:
        seeds_of = {}
        for name, _, seed in unfinished:
            seeds_of.setdefault(name, []).append(str(seed))
        n_jobs = len(unfinished) + sum(s.get("n_seeds", 0) for s in summary)
        lines[1:1] = ["", f"**Partial** (`--report`): {n_jobs - len(unfinished)} of {n_jobs} "
                      "runs finished; not yet: " + "; ".join(
                          f"{name} seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}"
                          for name, seeds in seeds_of.items()) + "."]
    training = {name for name, _, _ in unfinished}
    for s in summary:
        if s.get("failed"):
            status = "not finished" if s["name"] in training else "failed"
            lines.append(f"| {s['name']} | {status} | | | | | | |")
            continue
        per_seed = s["per_seed"]
        lines.append(
            f"| {s['name']} | {pm(s['dev_mean'], s['dev_sd'])} | "
            f"{pm(s['test_mean'], s['test_sd'])} | {s['best_seed']}: {fmt(s['dev'])} / "
            f"{fmt(s['test'])} | {', '.join(fmt(p['dev']) for p in per_seed)} | "
            f"{', '.join(fmt(p['test']) for p in per_seed)} | "
            f"{', '.join(str(p['epochs']) for p in per_seed)} | {fmt(s['s_per_epoch'], 0)} |")
    paired = [(s["name"], ref, p) for s in summary for ref, p in s.get("paired", {}).items()]
    if paired:
        lines += ["", "Paired differences, row − reference on the same seed: mean ± sd over "
                  "seeds; gain (loss): the mean exceeds its sd (is below minus its sd) on both "
                  "dev and test.", "",
                  "| configuration | against | seeds | Δ dev | Δ test | verdict |",
                  "|---|---|---|---|---|---|"]
        for name, ref, p in paired:
            verdict = ("n < 2" if p["n"] < 2 else
                       "not yet (still training)" if {name, ref} & training else
                       "gain" if p["gain"] else "loss" if p["loss"] else "")
            lines.append(f"| {name} | {ref} | {p['n']} | {pm(p['dev']['mean'], p['dev']['sd'])} "
                         f"| {pm(p['test']['mean'], p['test']['sd'])} | {verdict} |")
    metric_names = list(dict.fromkeys(k for s in summary for k in s.get("metrics", {})))
    if metric_names:
        lines += ["", "All scores of the evaluation, mean ± sd over seeds:", "",
                  "| configuration | " + " | ".join(metric_names) + " |",
                  "|---|" + "---|" * len(metric_names)]
        for s in summary:
            if s.get("failed"):
                continue
            lines.append(f"| {s['name']} | " + stat_cells(s["metrics"], metric_names))
    paired_metrics = [(name, ref, p) for name, ref, p in paired if p.get("metrics")]
    if metric_names and paired_metrics:
        lines += ["", "Paired differences of all scores, row − reference on the same seed, "
                  "mean ± sd; higher (lower) on dev and test: the scores X whose dev_X and "
                  "test_X differences both exceed their sd (are below minus it):", "",
                  "| configuration | against | " + " | ".join(metric_names)
                  + " | higher on dev and test | lower on dev and test |",
                  "|---|---|" + "---|" * (len(metric_names) + 2)]
        for name, ref, p in paired_metrics:
            verdicts = " | ".join("not yet" if {name, ref} & training else
                                  ", ".join(p.get(key, [])) for key in ("higher", "lower"))
            lines.append(f"| {name} | {ref} | " + stat_cells(p["metrics"], metric_names)
                         + f" {verdicts} |")
    return "\n".join(lines) + "\n"


def write_table(task, rows, results, opts, stem="table", json_name="results.json",
                unfinished=()):
    """WORK/<stem>.md and WORK/<json_name>: the summary and every run (and, from --report,
    the ``unfinished`` jobs, see ``markdown``)."""
    references = REFERENCE_ROWS + tuple(getattr(opts, "pair_with", None) or ())
    summary = summarize(rows, results, references)
    text = markdown(task, summary, opts, unfinished)
    with open(os.path.join(opts.work, f"{stem}.md"), "w") as f:
        f.write(text)
    row_args = getattr(opts, "row_args_of", {})
    record = {
        "table": opts.table, "epochs": opts.epochs, "max_epochs": opts.epochs,
        "seeds": getattr(opts, "seeds", None), "restarts": getattr(opts, "seeds", None),
        "protocol": {"max_epochs": opts.epochs, "patience": getattr(opts, "patience", 0),
                     "lr_shrink": getattr(opts, "lr_shrink", 1.0),
                     "lr_patience": getattr(opts, "lr_patience", 0),
                     "fairseq_args": protocol_args(opts)},
        "extra_args": opts.extra,
        "rows": [{"name": name, "args": list(args), "row_args": row_args.get(name, [])}
                 for name, args in rows],
        "row_settings": {name: a for name, a in row_args.items() if a},
        "score": getattr(task, "score_label", task.metric_label),
        "summary": summary, "runs": results,
        "unfinished": [{"name": name, "seed": seed} for name, _, seed in unfinished],
    }
    with open(os.path.join(opts.work, json_name), "w") as f:
        json.dump(record, f, indent=1)
    print(text)
    return summary


PANELS = (("dev", "dev {label} (validation)"), ("tf_prob", "tf_prob (gold probability)"),
          ("alpha", "alpha"), ("model_fed", "model_fed (share fed from the model)"),
          ("gnorm", "gnorm (before clipping)"), ("clip", "clipped updates (%)"),
          ("credit_gnorm", "credit_gnorm"), ("lr", "learning rate"),
          ("fed_nll_loss", "dev NLL, always model-fed greedy inputs"))


def plot_curves(task, rows, results, opts, name="curves.png"):
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(3, 3, figsize=(16, 12))
    axes = axes.ravel()
    positive = {key: False for key, _ in PANELS}
    colors = plt.get_cmap("tab20").colors
    for index, (row_name, _) in enumerate(rows):
        runs = [r for r in results if r["name"] == row_name]
        if not runs:
            continue
        best = max(runs, key=lambda r: (r["dev"], -seed_of(r)))
        style = {"marker": "o", "ms": 3, "color": colors[index % len(colors)],
                 "linestyle": "-" if index < len(colors) else "--"}
        for ax, (key, _) in zip(axes, PANELS):
            points = [(p["epoch"], p.get(key)) for p in best["curve"] if p.get(key) is not None]
            if points:  # a diagnostic a row does not log (alpha of CE, ...) is left out
                ax.plot(*zip(*points), label=row_name, **style)
                positive[key] |= all(v > 0 for _, v in points)
    for ax, (key, label) in zip(axes, PANELS):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label.format(label=task.metric_label))
        if key in ("alpha", "lr") and positive[key]:
            ax.set_yscale("log")
    if axes[0].get_legend_handles_labels()[0]:  # none before the first run finishes
        axes[0].legend(fontsize=7)  # colours are the rows' in every panel
    fig.suptitle(f"{opts.table}: best seed of each configuration (CPU-scale)")
    fig.tight_layout()
    fig.savefig(os.path.join(opts.work, name), dpi=100)
    plt.close(fig)


# -- tasks -----------------------------------------------------------------------------------


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


# every (split, beam) of a cascade evaluation in one process: fairseq-generate's main, each
# writing WORK/.../generate.<split>.beam<B>/generate-<split>.txt; then scripts/recovery.py's
# main (argv: generation jobs, the scripts folder, recovery's arguments) in the same process:
# one fairseq import a run, not two (5-9 s of a cascade run's ~200, measured under load)
GENERATE_ALL = """
import json, sys
from fairseq import options
from fairseq_cli.generate import main
for args in json.loads(sys.argv[1]):
    main(options.parse_args_and_arch(options.get_generation_parser(), input_args=args))
sys.path.insert(0, sys.argv[2])
import recovery
recovery.main(json.loads(sys.argv[3]))
"""
BLEU_LINE = re.compile(r"BLEU4 = ([0-9.]+)")


def generation_pairs(text: str):
    """{sentence id: hypothesis} and {sentence id: reference} of fairseq-generate output
    (its H- and T- lines); an error unless every reference has its hypothesis."""
    hyps, refs = {}, {}
    for line in text.splitlines():
        if line.startswith("H-"):
            fields = line.split("\t")
            hyps[fields[0][2:]] = fields[2] if len(fields) > 2 else ""
        elif line.startswith("T-"):
            fields = line.split("\t")
            refs[fields[0][2:]] = fields[1] if len(fields) > 1 else ""
    if not refs or set(hyps) != set(refs):
        raise ValueError(f"generation output has {len(hyps)} hypotheses for {len(refs)} "
                         f"references")
    return hyps, refs


def exact_match(hyps, refs, longer_than=0):
    """Exact match (%) over the references longer than ``longer_than`` tokens: a
    hypothesis matches when it equals its reference token for token (None: no such
    reference)."""
    ids = [i for i in refs if len(refs[i].split()) > longer_than]
    return 100.0 * sum(hyps[i].split() == refs[i].split() for i in ids) / len(ids) if ids else None


def bleu4(text: str):
    """The BLEU4 that fairseq-generate printed (None: none printed)."""
    match = BLEU_LINE.search(text)
    return float(match.group(1)) if match else None


class CascadeTask:
    """Running sums of digits mod 10 (scripts/make_cascade_data.py): the paper's NER model
    (fixed-position attention), dev score = greedy exact match on valid."""

    metric = "bleu"  # fairseq's validation during training (greedy BLEU)
    metric_label = "BLEU"
    score_label = "exact match (greedy, %)"

    def __init__(self, opts):
        self.opts = opts
        self.data = os.path.join(opts.work, "data")
        self.bin = os.path.join(self.data, "bin")
        self.sizes = {"train": opts.cascade_train, "valid": opts.cascade_valid,
                      "test": opts.cascade_test, "min_len": opts.cascade_min_len,
                      "max_len": opts.cascade_max_len, "seed": opts.cascade_data_seed}
        # kept out otherwise: data made before the option still matches
        if getattr(opts, "cascade_eval_max_len", None):
            self.sizes["eval_max_len"] = opts.cascade_eval_max_len

    def prepare(self):
        params_path = os.path.join(self.data, "params.json")
        if os.path.exists(os.path.join(self.bin, "dict.tgt.txt")):
            with open(params_path) as f:
                made = json.load(f)
            if made != self.sizes:
                raise SystemExit(f"{self.data} holds cascade data made with {made}, not "
                                 f"{self.sizes}: use another --work")
            return
        raw = os.path.join(self.data, "raw")
        s = self.sizes
        os.makedirs(self.data, exist_ok=True)
        log = os.path.join(self.data, "prepare.log")
        say(f"cascade data: {s} -> {self.data} (log: {log})")
        run([sys.executable, os.path.join(ROOT, "scripts", "make_cascade_data.py"), raw,
             "--train", str(s["train"]), "--valid", str(s["valid"]), "--test", str(s["test"]),
             "--min-len", str(s["min_len"]), "--max-len", str(s["max_len"]),
             "--eval-max-len", str(s.get("eval_max_len", s["max_len"])),
             "--seed", str(s["seed"])], log)
        run([sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", "src",
             "--target-lang", "tgt", "--joined-dictionary", "--trainpref", f"{raw}/train",
             "--validpref", f"{raw}/valid", "--testpref", f"{raw}/test", "--destdir", self.bin,
             "--workers", "1"], log)
        with open(params_path, "w") as f:
            json.dump(self.sizes, f)

    def updates_per_epoch(self) -> int:
        """fairseq's batches per epoch on the training data (see batches_per_epoch)."""
        with open(os.path.join(self.data, "raw", "train.src")) as f:
            lengths = [len(line.split()) + 1 for line in f]  # + eos
        return batches_per_epoch(lengths, self.opts.cascade_max_tokens)

    def train_command(self, save_dir, args):
        return [sys.executable, "-m", "fairseq_cli.train", self.bin,
                "--user-dir", os.path.join(ROOT, "relaxss_fairseq"), "--task", "translation",
                "--source-lang", "src", "--target-lang", "tgt",
                "--arch", "lstm_relaxed_paper_ner", "--criterion", "relaxed_scheduled_sampling",
                "--optimizer", "adam", "--lr", f"{self.opts.cascade_lr:g}", "--clip-norm", "5",
                "--max-tokens", str(self.opts.cascade_max_tokens), "--cpu",
                "--required-batch-size-multiple", "1", "--eval-bleu",
                "--eval-bleu-args", '{"beam": 1}', "--best-checkpoint-metric", "bleu",
                "--maximize-best-checkpoint-metric", "--save-dir", save_dir,
                "--no-epoch-checkpoints", "--log-interval", "1000", *args]

    def evaluate(self, save_dir):
        """Greedy and beam-5 search with the best checkpoint on valid and test: exact
        match and BLEU4 of fairseq-generate; dev/test = greedy exact match. With valid and
        test longer than training (--cascade-eval-max-len), also the exact match over
        the sequences longer than any in training (``*_longer``), where one early error
        has the most positions to cascade through."""
        jobs, outputs = [], {}
        for split in ("valid", "test"):
            for beam in (1, 5):
                results = os.path.join(save_dir, f"generate.{split}.beam{beam}")
                outputs[split, beam] = os.path.join(results, f"generate-{split}.txt")
                jobs.append([self.bin, "--user-dir", os.path.join(ROOT, "relaxss_fairseq"),
                             "--task", "translation", "--source-lang", "src",
                             "--target-lang", "tgt",
                             "--path", os.path.join(save_dir, "checkpoint_best.pt"), "--cpu",
                             "--required-batch-size-multiple", "1", "--gen-subset", split,
                             "--beam", str(beam), "--max-tokens", "8000",
                             # a target is as long as its source: longer output is wrong
                             "--max-len-a", "1", "--max-len-b", "5",
                             "--results-path", results])
        # then greedy search after one forced error in the prefix (scripts/recovery.py):
        # dev_recovered, dev_followed, ...
        recovery_path = os.path.join(save_dir, "recovery.json")
        recovery_args = ["--path", os.path.join(save_dir, "checkpoint_best.pt"),
                         "--data", self.bin, "--subset", "valid", "test",
                         "--json", recovery_path]
        with open(os.path.join(save_dir, "generate.log"), "w") as log:
            subprocess.run([sys.executable, "-c", GENERATE_ALL, json.dumps(jobs),
                            os.path.join(ROOT, "scripts"), json.dumps(recovery_args)],
                           check=True, stdout=log, stderr=subprocess.STDOUT,
                           env={**os.environ, "OMP_NUM_THREADS":
                                os.environ.get("OMP_NUM_THREADS", "1")})
        metrics = {}
        longest_trained = self.sizes["max_len"]
        for (split, beam), path in outputs.items():
            with open(path, encoding="utf-8") as f:
                text = f.read()
            hyps, refs = generation_pairs(text)
            name = "dev" if split == "valid" else "test"
            metrics[f"{name}_exact_beam{beam}"] = exact_match(hyps, refs)
            metrics[f"{name}_bleu_beam{beam}"] = bleu4(text)
            if self.sizes.get("eval_max_len", longest_trained) > longest_trained:
                metrics[f"{name}_exact_beam{beam}_longer"] = exact_match(
                    hyps, refs, longer_than=longest_trained)
        with open(recovery_path) as f:
            scores = json.load(f)
        for split in ("valid", "test"):
            name = "dev" if split == "valid" else "test"
            metrics.update({f"{name}_{score}": scores[split][score] for score in RECOVERY_SCORES})
        return {"dev": metrics["dev_exact_beam1"], "test": metrics["test_exact_beam1"],
                "metrics": metrics}


# -- the sweep -------------------------------------------------------------------------------


def parse_row_args(values, row_names):
    """--row-args NAME=ARGS (repeatable): {name: [args]}; NAME is matched against the rows'
    names (which may hold '='), the longest one that fits."""
    out = {}
    for value in values or []:
        names = [n for n in row_names if value.startswith(n + "=")]
        if not names:
            raise SystemExit(f"--row-args {value!r}: no row of that name; rows: {row_names}")
        name = max(names, key=len)
        out[name] = out.get(name, []) + shlex.split(value[len(name) + 1:])
    return out


def load_row_settings(path, row_names):
    """--row-settings FILE.json: {"row name": "args" or ["arg", ...]} -> {name: [args]}."""
    with open(path) as f:
        settings = json.load(f)
    unknown = sorted(set(settings) - set(row_names))
    if unknown:
        raise SystemExit(f"--row-settings {path}: no rows {unknown}; rows: {row_names}")
    return {name: shlex.split(a) if isinstance(a, str) else [str(x) for x in a]
            for name, a in settings.items()}


def grid_rows(row, grid_specs, base_row_args):
    """--grid OPTION=V1,V2 ... (OPTION with or without its leading --: ``--grid alpha=1,10``):
    one row per combination, named 'NAME [--option v ...]'; its grid arguments come after
    the row's own settings. Returns (rows, row_args_of)."""
    axes = []
    for spec in grid_specs:
        option, _, values = spec.partition("=")
        option = option if option.startswith("--") else f"--{option}"
        if option == "--" or not values or "" in values.split(","):
            raise SystemExit(f"--grid {spec!r}: expected option=value1,value2,...")
        axes.append([(option, v) for v in values.split(",")])
    rows, row_args_of = [], {}
    name, args = row
    for combination in itertools.product(*axes):
        point = [x for pair in combination for x in pair]
        point_name = f"{name} [{' '.join(point)}]"
        rows.append((point_name, args))
        row_args_of[point_name] = [*base_row_args, *point]
    return rows, row_args_of


def best_grid_point(summary):
    """The grid point (a summary entry) with the best mean dev score; None if all failed."""
    scored = [s for s in summary if not s.get("failed")]
    return max(scored, key=lambda s: s["dev_mean"]) if scored else None


def finished_results(opts, jobs):
    """--report: each job's finished result, or None (not finished, or made with other
    arguments: said so); trains and scores nothing, so it can run beside the sweep that
    is training the same work folder."""
    results = []
    for name, args, seed, row_args in jobs:
        try:
            result = finished_result(opts, name, args, seed, row_args)
        except ChangedArguments as error:
            say(f"not reported: {error}")
            result = None
        else:
            if result is None:
                say(f"{name} seed {seed}: not finished")
        results.append(result)
    return results


def run_sweep(task, rows, opts):
    """Runs every (row, seed) -- with --report, reads the finished ones only --, writes the
    table(s) and curves; returns the failed jobs."""
    row_args_of = getattr(opts, "row_args_of", {})
    seeds = range(1, opts.seeds + 1)
    jobs = [(name, args, seed, row_args_of.get(name, [])) for seed in seeds
            for name, args in rows]
    if getattr(opts, "read_back_from", None):
        say(f"--read-back-from: {read_back_from(opts.read_back_from, jobs, opts.work)} "
            f"finished runs put in {opts.work}")
    if getattr(opts, "report", False):
        results = finished_results(opts, jobs)
        unfinished = [job[:3] for job, result in zip(jobs, results) if result is None]
        failed = []
    else:
        positions = [f"{i}/{len(jobs)}" for i in range(1, len(jobs) + 1)]
        with ThreadPoolExecutor(opts.parallel) as pool:
            try:
                results = list(pool.map(
                    lambda job, pos: run_or_report(task, opts, *job, position=pos), jobs,
                    positions))
            except BaseException:  # Ctrl-C or SIGTERM: no run left behind (pool.map
                stop_commands()     # cancels the runs not started; stop_commands refuses
                raise               # a late one)
        failed = [job[:3] for job, result in zip(jobs, results) if result is None]
        unfinished = []  # a failed run is a failure, not a run still training
    results = [r for r in results if r is not None]
    if getattr(opts, "grid_mode", False):
        summary = write_table(task, rows, results, opts, stem="grid", json_name="grid.json",
                              unfinished=unfinished)
        best = best_grid_point(summary)
        if best:
            base = opts.grid_row
            with open(os.path.join(opts.work, "grid_best.json"), "w") as f:
                json.dump({base: shlex.join(row_args_of[best["name"]])}, f, indent=1)
            say(f"best on dev (mean over seeds): {best['name']}: written to "
                f"{os.path.join(opts.work, 'grid_best.json')} (a --row-settings file)")
        plot_curves(task, rows, results, opts, name="grid_curves.png")
    else:
        write_table(task, rows, results, opts, unfinished=unfinished)
        plot_curves(task, rows, results, opts)
    return failed


SCHEDULE_OPTIONS = ("--teacher-forcing-final", "--teacher-forcing-k")


def say_own_schedule(name, row_args):
    """Says which rows state their own schedule in their settings: theirs comes last on the
    command line, so fairseq takes it over the sweep's printed above."""
    own = [f"{option} {last_value(row_args, option)}" for option in SCHEDULE_OPTIONS
           if last_value(row_args, option) is not None]
    if own:
        say(f"schedule of {name!r}: its own {', '.join(own)}")


def schedule_args(opts, task, parser):
    """The schedule arguments of the rows: --k as given, or derived from --final-tf (the
    gold probability at the end of the cap: t = --epochs - 1 completed epochs, or for the
    cascade table's schedule by update --epochs x the batches per epoch), or with
    --plugin-final-tf the plugin's --teacher-forcing-final."""
    cascade = opts.table == "cascade"
    by_update = cascade and opts.cascade_schedule_unit == "update"
    final = opts.final_tf if opts.final_tf is not None else (0.15 if cascade and opts.k is None
                                                             else None)
    if final is None:
        return ["--teacher-forcing-k", str(opts.k if opts.k is not None else 10.0)]
    if opts.k is not None:
        parser.error("give --k or --final-tf, not both")
    if by_update:
        per_epoch = task.updates_per_epoch()
        t_end = opts.epochs * per_epoch
        where = f"update {t_end} ({opts.epochs} epochs x {per_epoch} updates)"
    else:
        t_end = opts.epochs - 1
        where = f"epoch {opts.epochs} (t = {t_end} completed epochs)"
    if opts.plugin_final_tf:
        final_at = last_value(getattr(opts, "extra", []), "--teacher-forcing-final-at")
        if final_at is not None:  # the plugin holds the schedule's end there, not at the cap
            where = f"{'update' if by_update else 'epoch'} {final_at} (--teacher-forcing-final-at)"
        say(f"schedule: --teacher-forcing-final {final:g} at {where}")
        return (["--teacher-forcing-final", f"{final:g}"]
                + (["--max-update", str(t_end)] if by_update else []))
    if t_end <= 0:
        parser.error(f"--final-tf needs time to decay: --epochs {opts.epochs}")
    k = inverse_sigmoid_k_for(final, t_end)
    say(f"schedule: inverse sigmoid k = {k:.4g}: tf_prob {final:g} at {where}")
    return ["--teacher-forcing-k", f"{k:.6g}"]


def main(argv=None):
    # no abbreviations: the arguments it does not know go to fairseq-train, and some of those
    # are prefixes of its own (--seed of --seeds, --lr of --lr-shrink, --credit-scale of
    # --credit-scale-bounded), which argparse would otherwise take for them
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("table", choices=["ner-table1", "ner-table2", "mt-table1", "cascade"])
    parser.add_argument("--work", required=True)
    parser.add_argument("--conll", help="CoNLL directory (NER tables)")
    parser.add_argument("--mt-data", help="prepared examples/multi30k data directory (MT table)")
    protocol = parser.add_argument_group("protocol")
    protocol.add_argument("--epochs", "--max-epochs", "--max-epoch", dest="epochs", type=int,
                          default=None,
                          help="the cap on epochs of every run (fairseq's --max-epoch; "
                          "default 30, cascade 12)")
    protocol.add_argument("--patience", type=int, default=3,
                          help="stop a run when its dev metric has not improved for this many "
                          "validations (fairseq's --patience); 0: train to --epochs")
    protocol.add_argument("--lr-shrink", type=float, default=0.5,
                          help="multiply the learning rate by this when the dev metric did not "
                          "improve (reduce_lr_on_plateau); 1: fixed learning rate")
    protocol.add_argument("--lr-patience", type=int, default=1,
                          help="validations without improvement before the learning rate "
                          "shrinks (1: the first epoch fed from the model, which often scores "
                          "lower on dev, does not halve it at once)")
    protocol.add_argument("--seeds", "--restarts", dest="seeds", type=int, default=3,
                          help="seeds 1..N of every row")
    protocol.add_argument("--parallel", type=int, default=2)
    protocol.add_argument("--read-back-from", action="append", metavar="PATH",
                          help="finished runs to read back instead of training them: an "
                          "earlier sweep's results.json or a folder of its runs' result "
                          "files (e.g. a committed results/*/runs/); only runs of this sweep's "
                          "rows and seeds made with the same arguments, the others are trained "
                          "(repeatable)")
    row_group = parser.add_argument_group("rows")
    row_group.add_argument("--k", type=float, default=None,
                           help="inverse-sigmoid k of the schedule (default 10; cascade: derived "
                           "from --final-tf)")
    row_group.add_argument("--final-tf", type=float, default=None,
                           help="derive k so that tf_prob reaches this at the end of the cap "
                           "(cascade default 0.15)")
    row_group.add_argument("--plugin-final-tf", action="store_true",
                           help="with --final-tf: pass the plugin's --teacher-forcing-final "
                           "instead of deriving k here")
    row_group.add_argument("--alpha", type=float, default=10.0, help="fixed alpha of Table 1")
    row_group.add_argument("--alpha0", type=float, default=1.0, help="initial annealed alpha")
    row_group.add_argument("--alpha-rate", type=float, default=1.5, help="alpha annealing rate")
    row_group.add_argument("--credit-scale-bounded", type=float, default=0.5,
                           help="--credit-scale of the 'bounded credit' rows")
    row_group.add_argument("--only", nargs="+", metavar="NAME",
                           help="run only these rows of the table (their names as printed)")
    row_group.add_argument("--pair-with", action="append", metavar="NAME",
                           help="also pair every row with this one, seed by seed (repeatable; "
                           "CE and the Bengio et al. rows always are), e.g. a relaxed row "
                           "with its detached twin")
    row_group.add_argument("--row-args", action="append", metavar="NAME=ARGS",
                           help="extra fairseq-train arguments of one row, after all others "
                           "(repeatable), e.g. --row-args 'soft greedy=--alpha 3'")
    row_group.add_argument("--row-settings", metavar="FILE.json",
                           help='per-row extra arguments: {"row name": "--alpha 3 ...", ...}')
    row_group.add_argument("--grid-row", metavar="NAME",
                           help="tuning mode: run only this row, once per combination of --grid "
                           "values; writes grid.md, grid.json, grid_best.json")
    row_group.add_argument("--grid", action="append", metavar="OPTION=V1,V2",
                           help="values of one fairseq option for --grid-row, e.g. "
                           "alpha=1,3,10 (repeatable)")
    cascade = parser.add_argument_group("cascade task")
    cascade.add_argument("--cascade-train", type=int, default=20000,
                         help="training sequences (20000: 96 updates an epoch)")
    cascade.add_argument("--cascade-valid", type=int, default=300)
    cascade.add_argument("--cascade-test", type=int, default=300)
    cascade.add_argument("--cascade-min-len", type=int, default=5)
    cascade.add_argument("--cascade-max-len", type=int, default=12)
    cascade.add_argument("--cascade-eval-max-len", type=int, default=None,
                         help="longest valid/test sequence, above --cascade-max-len to test "
                         "on longer sequences than training shows (default: the same)")
    cascade.add_argument("--cascade-data-seed", type=int, default=1)
    cascade.add_argument("--cascade-lr", type=float, default=0.003)
    cascade.add_argument("--cascade-max-tokens", type=int, default=2000)
    cascade.add_argument("--cascade-schedule-unit", choices=["update", "epoch"], default="update",
                         help="time of the roll-ins' schedule: updates (default; --final-tf "
                         "is reached after --epochs x the updates an epoch) or epochs, as the "
                         "demo (reached after --epochs - 1 completed epochs)")
    parser.add_argument("--report", action="store_true",
                        help="write the table, results.json and curves from the runs that "
                        "have finished (in --work, or read back with --read-back-from) and "
                        "train nothing: a partial table, which names the runs not finished, "
                        "while a sweep of the same --work is still training")
    parser.add_argument("--list", action="store_true",
                        help="print the rows with their arguments and exit (... stands for "
                        "the arguments of every run)")
    parser.add_argument("--continue-from", metavar="EARLIER_WORK",
                        help="start every run not yet in --work from the same run of this "
                        "earlier sweep (its last checkpoint and log), e.g. to train it for "
                        "more --epochs or a longer --patience (runs that stopped on a patience "
                        "no shorter than --patience, or that --patience stops at their last "
                        "validation, are scored, not trained on; one that --patience would "
                        "have stopped before its last validation is refused); the earlier "
                        "sweep is left as it is. A schedule stated by its end "
                        "(--teacher-forcing-final) would be derived again for the new cap: pass "
                        "--teacher-forcing-final-at EARLIER_CAP to keep it")
    opts, opts.extra = parser.parse_known_args(argv)  # the rest: fairseq-train args, every run
    if opts.extra and not opts.extra[0].startswith("-"):
        # fairseq-train's one positional argument (the data) is the sweep's to give: a stray
        # word here would fail every run after its start, e.g. a second NAME=ARGS after one
        # --row-args
        parser.error(f"unexpected argument {opts.extra[0]!r}: arguments passed on to "
                     "fairseq-train start with an option; for several rows' own arguments, "
                     "repeat --row-args before each NAME=ARGS")
    if any(arg == "--seed" or arg.startswith("--seed=") for arg in opts.extra):
        parser.error("--seed: the sweep gives each run its own (1 .. --seeds)")
    if opts.table.startswith("ner") and not opts.conll:
        parser.error("--conll is required for the NER tables")
    if opts.table.startswith("mt") and not opts.mt_data:
        parser.error("--mt-data is required for the MT table")
    if opts.epochs is None:
        opts.epochs = 12 if opts.table == "cascade" else 30
    if bool(opts.grid_row) != bool(opts.grid):
        parser.error("--grid-row and --grid go together")
    os.makedirs(opts.work, exist_ok=True)

    task = {"ner": NerTask, "mt": MtTask, "cascade": CascadeTask}[opts.table.split("-")[0]](opts)
    if not opts.list or opts.table == "cascade":  # the cascade schedule needs the data
        task.prepare()
    if opts.table == "ner-table2":
        table = table2(opts.alpha0, opts.alpha_rate)
    elif opts.table == "cascade":
        table = cascade_rows(schedule_args(opts, task, parser), opts.alpha,
                             opts.credit_scale_bounded, opts.cascade_schedule_unit)
    else:
        table = table1(schedule_args(opts, task, parser), opts.alpha, opts.alpha0,
                       opts.alpha_rate, opts.credit_scale_bounded)
    names = [name for name, _ in table]
    row_args_of = load_row_settings(opts.row_settings, names) if opts.row_settings else {}
    for name, args in parse_row_args(opts.row_args, names).items():
        row_args_of[name] = row_args_of.get(name, []) + args
    if opts.grid_row:
        if opts.grid_row not in names:
            parser.error(f"--grid-row: no row {opts.grid_row!r}; rows: {names}")
        row = next(r for r in table if r[0] == opts.grid_row)
        table, row_args_of = grid_rows(row, opts.grid, row_args_of.get(opts.grid_row, []))
        opts.grid_mode = True
    elif opts.only:
        unknown = set(opts.only) - set(names)
        if unknown:
            parser.error(f"--only: no such rows {sorted(unknown)}; rows: {names}")
        table = [row for row in table if row[0] in opts.only]
    unpaired = sorted(set(opts.pair_with or ()) - {name for name, _ in table})
    if unpaired:
        parser.error(f"--pair-with: no such rows among those run {unpaired}; "
                     f"rows: {[name for name, _ in table]}")
    opts.row_args_of = row_args_of
    for name, _ in table:
        say_own_schedule(name, row_args_of.get(name, []))
    if opts.list:
        for name, args in table:
            print(f"{name}: {shlex.join([*args, '...', *row_args_of.get(name, [])])}")
        print(f"every run: {shlex.join(['--seed', 'S', '--max-epoch', str(opts.epochs)])} "
              f"{shlex.join([*protocol_args(opts), *opts.extra])}; seeds 1..{opts.seeds}")
        return 0
    failed = run_sweep(task, table, opts)
    if failed:
        print(f"{len(failed)} runs failed (see their run.log); run the same command again to retry")
        return 1
    return 0


if __name__ == "__main__":
    exit_on_sigterm()
    sys.exit(main())

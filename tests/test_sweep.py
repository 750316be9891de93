"""scripts/sweep.py: the protocol (resume, per-row arguments, early stopping and learning-rate
decay passed on), the statistics over seeds, and learning curves that survive a run that is
interrupted and resumed. Training is faked: a command that prints fairseq's log records."""
import argparse
import json
import os
import statistics
import subprocess

import pytest
from conftest import load_script

EARLY_STOP = "early stop since valid performance hasn't improved"  # fairseq-train's words
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def sweep():
    return load_script("sweep")


def epoch_lines(epoch: int, dev: float, **train_extra) -> str:
    """What fairseq-train logs at the end of an epoch with --log-format json."""
    train = {"epoch": epoch, "train_tf_prob": "0.9", "train_alpha": "1", "train_train_wall": "5",
             **{f"train_{k}": str(v) for k, v in train_extra.items()}}
    valid = {"epoch": epoch, "valid_bleu": str(dev)}
    return (f"2026-11-25 10:00:00 | INFO | train | {json.dumps(train)}\n"
            f"2026-11-25 10:00:00 | INFO | valid | {json.dumps(valid)}\n")


class FakeTask:
    """A training command that logs the given epochs, then succeeds or fails; training a
    run with no attempt left is an error (a finished run must be read back)."""

    metric = "bleu"
    metric_label = "BLEU"

    def __init__(self, attempts=(), default=None, scores=None):
        self.attempts = list(attempts)  # (epochs as (epoch, dev), exit status[, stopped]) per call
        self.default = default  # the attempt of every call once attempts are used up
        self.scores = scores or {}  # run folder name -> {"dev": .., "test": ..}
        self.trained, self.evaluated = [], []  # (run folder, args) / run folder per call

    def train_command(self, save_dir, args):
        self.trained.append((os.path.basename(save_dir), list(args)))
        if self.attempts:
            epochs, status, *stopped = self.attempts.pop(0)
        elif self.default is not None:
            epochs, status, *stopped = self.default
        else:
            raise AssertionError(f"{save_dir} trained again")
        text = "".join(epoch_lines(e, dev) for e, dev in epochs)
        if stopped:  # a third item, True: fairseq stopped it on patience
            text += f"2026-11-25 10:00:00 | INFO | fairseq_cli.train | {EARLY_STOP} for last 3 runs\n"
        quoted = text.replace("'", "'\\''")  # fairseq's "hasn't", inside '...'
        return ["bash", "-c", f"printf '%s' '{quoted}'; exit {status}"]

    def evaluate(self, save_dir):
        name = os.path.basename(save_dir)
        self.evaluated.append(name)
        return dict(self.scores.get(name, {"dev": 3.0, "test": 2.5}))


def options(work, **kw):
    defaults = dict(work=str(work), epochs=3, extra=[], continue_from=None, seeds=2, parallel=1,
                    patience=0, lr_shrink=1.0, lr_patience=0, table="test", row_args_of={})
    return argparse.Namespace(**{**defaults, **kw})


def test_a_resumed_run_keeps_the_epochs_before_the_interruption(sweep, tmp_path):
    opts = argparse.Namespace(work=str(tmp_path), epochs=3, extra=[], continue_from=None)
    task = FakeTask([([(1, 1.0), (2, 2.0)], 1), ([(2, 2.5), (3, 3.0)], 0)])
    with pytest.raises(subprocess.CalledProcessError):
        sweep.one_run(task, opts, "CE", [], restart=1)
    result = sweep.one_run(task, opts, "CE", [], restart=1)
    # epoch 2 was interrupted and run again: its last record counts
    assert [(p["epoch"], p["dev"]) for p in result["curve"]] == [(1, 1.0), (2, 2.5), (3, 3.0)]
    assert result["epochs"] == 3 and result["best_epoch"] == 3 and not result["stopped_early"]
    # a finished run is read back, not trained (nor scored) again
    assert sweep.one_run(task, opts, "CE", [], restart=1) == result
    assert len(task.trained) == 2 and len(task.evaluated) == 1


def test_a_run_trained_but_not_scored_is_scored_without_training_again(sweep, tmp_path):
    class FailsToScoreOnce(FakeTask):
        def evaluate(self, save_dir):
            if not self.evaluated:
                self.evaluated.append("failed")
                raise OSError("generation died")
            return super().evaluate(save_dir)

    task = FailsToScoreOnce([([(1, 1.0)], 0)])
    opts = options(tmp_path)
    with pytest.raises(OSError):
        sweep.one_run(task, opts, "CE", [], seed=1)
    result = sweep.one_run(task, opts, "CE", [], seed=1)  # no attempt left: would raise
    assert result["dev"] == 3.0 and len(task.trained) == 1


def test_continuing_an_earlier_sweep_keeps_its_epochs_and_leaves_it_alone(sweep, tmp_path):
    task = FakeTask([([(1, 1.0), (2, 2.0)], 0), ([(3, 3.0), (4, 4.0)], 0)])
    earlier = argparse.Namespace(work=str(tmp_path / "short"), epochs=2, extra=[],
                                 continue_from=None)
    short = sweep.one_run(task, earlier, "CE", [], restart=1)
    longer = argparse.Namespace(work=str(tmp_path / "long"), epochs=4, extra=[],
                                continue_from=earlier.work)
    result = sweep.one_run(task, longer, "CE", [], restart=1)  # trained on: not 'trained' yet
    assert [p["epoch"] for p in result["curve"]] == [1, 2, 3, 4]
    assert sweep.one_run(task, earlier, "CE", [], restart=1) == short  # still its own result
    missing = argparse.Namespace(work=str(tmp_path / "other"), epochs=4, extra=[],
                                 continue_from=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="no earlier run"):
        sweep.one_run(task, missing, "CE", [], restart=1)


def test_continuing_a_run_that_stopped_on_patience_trains_it_on_only_with_a_longer_one(
        sweep, tmp_path):
    """A run that stopped on patience is finished at any cap (fairseq, resumed with its
    patience count, would train it one more epoch before stopping again); with a longer
    patience it goes on, as a run with that patience would have."""
    task = FakeTask([([(1, 1.0), (2, 2.0)], 0), ([(1, 1.5), (2, 2.5)], 0, True)])
    earlier = options(tmp_path / "short", epochs=4, patience=3)
    sweep.one_run(task, earlier, "CE", [], seed=1)
    stopped = sweep.one_run(task, earlier, "CE", [], seed=2)
    assert stopped["stopped_early"]
    task.attempts = [([(3, 3.0)], 0)]  # one more training: seed 1's, which hit the cap
    longer = options(tmp_path / "long", epochs=8, patience=3, continue_from=earlier.work)
    assert [p["epoch"] for p in sweep.one_run(task, longer, "CE", [], seed=1)["curve"]] == [
        1, 2, 3]
    result = sweep.one_run(task, longer, "CE", [], seed=2)  # another training would raise
    assert result["stopped_early"] and result["curve"] == stopped["curve"]
    assert [name for name, _ in task.trained] == ["ce.seed1", "ce.seed2", "ce.seed1"]
    assert task.evaluated[-1] == "ce.seed2"  # scored in the new folder
    task.attempts = [([(3, 2.7)], 0)]
    patient = options(tmp_path / "patient", epochs=8, patience=5, continue_from=earlier.work)
    result = sweep.one_run(task, patient, "CE", [], seed=2)
    assert [p["epoch"] for p in result["curve"]] == [1, 2, 3]
    assert task.trained[-1][0] == "ce.seed2" and "--patience" in task.trained[-1][1]
    assert not result["stopped_early"]  # the earlier stop in its log is not its end


def test_patience_replays_fairseqs_count_of_validations_without_improvement(sweep):
    def curve(*devs):
        return [{"epoch": e, "dev": d} for e, d in enumerate(devs, 1)]

    scores = curve(1.0, 2.0, 1.5, 2.0, 2.5, 2.4, 2.3)  # a tie (epoch 4) does not improve
    assert sweep.patience_stop(scores, 2) == 4
    assert sweep.patience_stop(scores, 3) is None  # epochs 6-7: two in a row
    assert sweep.patience_stop(scores, 0) is None  # no patience: never
    assert sweep.patience_stop(curve(1.0, None, 0.5), 1) == 3  # an epoch not validated


def test_continuing_with_a_shorter_patience_refuses_runs_it_would_have_stopped_earlier(
        sweep, tmp_path):
    """A run of an earlier sweep with no patience (or a longer one) is taken on only where
    the new patience would not have stopped it before its last validation: only its last
    and best checkpoints are kept, so it cannot go back. One stopped exactly at its end
    is scored as trained."""
    task = FakeTask([([(1, 1.0), (2, 2.0), (3, 1.0), (4, 1.5), (5, 3.0)], 0),
                     ([(1, 1.0), (2, 2.0), (3, 3.0), (4, 1.0)], 0)])
    earlier = options(tmp_path / "earlier", epochs=5, patience=0)
    sweep.one_run(task, earlier, "CE", [], seed=1)  # patience 2 would stop it at epoch 4
    sweep.one_run(task, earlier, "CE", [], seed=2)  # patience 1 stops it at its epoch 4
    shorter = options(tmp_path / "p2", epochs=8, patience=2, continue_from=earlier.work)
    with pytest.raises(ValueError, match="past epoch 4 where --patience 2 stops it"):
        sweep.one_run(task, shorter, "CE", [], seed=1)
    assert not os.path.exists(tmp_path / "p2" / "runs" / "ce.seed1")  # nothing copied
    ended = sweep.one_run(task, options(tmp_path / "p1", epochs=8, patience=1,
                                        continue_from=earlier.work), "CE", [], seed=2)
    assert [p["epoch"] for p in ended["curve"]] == [1, 2, 3, 4]  # scored, not trained on
    assert ended["stopped_early"]  # by this patience, although its log has no early stop
    assert len(task.trained) == 2
    task.attempts = [([(5, 3.5)], 0)]  # patience 2 has not stopped seed 2: it trains on
    longer = sweep.one_run(task, options(tmp_path / "p2b", epochs=8, patience=2,
                                         continue_from=earlier.work), "CE", [], seed=2)
    assert [p["epoch"] for p in longer["curve"]] == [1, 2, 3, 4, 5]
    assert not longer["stopped_early"]


def test_the_protocol_reaches_fairseq_and_row_args_come_last(sweep, tmp_path):
    task = FakeTask(default=([(1, 1.0)], 0))
    opts = options(tmp_path, epochs=7, patience=3, lr_shrink=0.5, extra=["--lr", "0.01"])
    sweep.one_run(task, opts, "soft", ["--rollin", "soft_greedy"], seed=2,
                  row_args=["--alpha", "3"])
    args = task.trained[0][1]
    assert args[:2] == ["--rollin", "soft_greedy"] and args[-2:] == ["--alpha", "3"]
    joined = " ".join(args)
    for piece in ("--seed 2", "--max-epoch 7", "--patience 3", "--lr 0.01",
                  "--lr-scheduler reduce_lr_on_plateau --lr-shrink 0.5 --lr-patience 0"):
        assert piece in joined
    assert joined.index("--lr 0.01") < joined.index("--alpha 3")  # the row's own settings win
    task.trained.clear()
    sweep.one_run(task, options(tmp_path / "plain"), "soft", [], seed=1)
    assert "--patience" not in task.trained[0][1] and "--lr-scheduler" not in task.trained[0][1]


def test_curves_keep_the_diagnostics_and_none_where_not_logged(sweep, tmp_path):
    log = tmp_path / "run.log"
    log.write_text(epoch_lines(1, 1.0, gnorm=0.5, clip=12.5, model_fed=0.3, credit_gnorm=0.02,
                               lr=0.003)
                   + epoch_lines(2, 2.0).replace('"train_alpha": "1", ', ""))
    first, second = sweep.learning_curve(str(log), "bleu")
    assert (first["gnorm"], first["clip"], first["model_fed"], first["credit_gnorm"],
            first["lr"]) == (0.5, 12.5, 0.3, 0.02, 0.003)
    assert second["alpha"] is None and second["gnorm"] is None and second["credit_gnorm"] is None
    assert second["dev"] == 2.0 and second["seconds"] == 5.0


def hand_made_results():
    """Three seeds of CE, Bengio greedy and two relaxed rows, with known differences."""
    scores = {
        "Baseline CE": {1: (80.0, 70.0), 2: (82.0, 71.0), 3: (81.0, 72.0)},
        "Bengio et al. (2015) greedy": {1: (80.5, 70.5), 2: (82.1, 71.0), 3: (80.9, 72.2)},
        # better than CE by 1.0, 1.5, 2.0 on dev and 0.5, 0.6, 0.7 on test: gain
        "soft": {1: (81.0, 70.5), 2: (83.5, 71.6), 3: (83.0, 72.7)},
        # better on dev (+2, +2.5, +3), noisy on test (+3, -3, +0.5): no gain
        "noisy": {1: (82.0, 73.0), 2: (84.5, 68.0), 3: (84.0, 72.5)},
    }
    results = [{"name": name, "seed": seed, "dev": dev, "test": test, "args": [name],
                "epochs": 4 + seed, "curve": [{"epoch": 1, "dev": dev, "seconds": 2.0}]}
               for name, by_seed in scores.items() for seed, (dev, test) in by_seed.items()]
    return list(scores), results


def test_statistics_over_seeds(sweep):
    names, results = hand_made_results()
    summary = {s["name"]: s for s in sweep.summarize(names + ["missing"], results)}
    ce, soft = summary["Baseline CE"], summary["soft"]
    assert ce["dev_mean"] == pytest.approx(81.0) and ce["dev_sd"] == pytest.approx(1.0)
    assert ce["test_mean"] == pytest.approx(71.0)
    assert ce["test_sd"] == pytest.approx(statistics.stdev([70.0, 71.0, 72.0]))
    assert (ce["best_seed"], ce["dev"], ce["test"]) == (2, 82.0, 71.0)  # best dev, its test
    assert ce["best_restart"] == 2  # the name older readers of results.json use
    assert [p["epochs"] for p in ce["per_seed"]] == [5, 6, 7]
    assert summary["missing"]["failed"]
    # paired differences against CE, seed by seed
    vs_ce = soft["paired"]["Baseline CE"]
    assert vs_ce["dev"]["diffs"] == pytest.approx([1.0, 1.5, 2.0])
    assert vs_ce["dev"]["mean"] == pytest.approx(1.5) and vs_ce["dev"]["sd"] == pytest.approx(0.5)
    assert vs_ce["test"]["diffs"] == pytest.approx([0.5, 0.6, 0.7])
    assert vs_ce["gain"] and not vs_ce["loss"]
    # and against the hard scheduled-sampling row; never against itself
    assert set(soft["paired"]) == {"Baseline CE", "Bengio et al. (2015) greedy"}
    assert "Baseline CE" not in ce["paired"]
    assert ce["paired"]["Bengio et al. (2015) greedy"]["n"] == 3


def test_gain_needs_the_mean_above_its_sd_on_dev_and_test(sweep):
    names, results = hand_made_results()
    summary = {s["name"]: s for s in sweep.summarize(names, results)}
    noisy = summary["noisy"]["paired"]["Baseline CE"]
    assert noisy["dev"]["mean"] > noisy["dev"]["sd"]  # dev alone would say gain
    assert not noisy["gain"] and not noisy["loss"]
    ce_vs_soft = sweep.paired_difference([r for r in results if r["name"] == "Baseline CE"],
                                         [r for r in results if r["name"] == "soft"])
    assert ce_vs_soft["loss"] and not ce_vs_soft["gain"]
    # one seed: no sd, no verdict; only seeds both rows have are paired
    one = sweep.paired_difference([r for r in results if r["name"] == "soft" and r["seed"] == 1],
                                  [r for r in results if r["name"] == "Baseline CE"])
    assert one["n"] == 1 and one["dev"]["sd"] is None and not one["gain"]
    some = sweep.paired_difference([r for r in results if r["name"] == "soft"],
                                   [r for r in results if r["name"] == "Baseline CE"
                                    and r["seed"] != 2])
    assert some["seeds"] == [1, 3] and some["dev"]["diffs"] == pytest.approx([1.0, 2.0])


def test_paired_differences_of_every_extra_score(sweep, tmp_path):
    names, results = hand_made_results()
    for r in results:  # beam 5 one point above greedy dev, "soft" 2 more; CE lacks "longer"
        r["metrics"] = {"dev_exact_beam5": r["dev"] + 1 + 2 * (r["name"] == "soft") + r["seed"]}
        if r["name"] != "Baseline CE":
            r["metrics"]["dev_exact_beam1_longer"] = 10.0 * r["seed"]
    summary = {s["name"]: s for s in sweep.summarize(names, results)}
    vs_ce = summary["soft"]["paired"]["Baseline CE"]["metrics"]
    assert vs_ce["dev_exact_beam5"]["mean"] == pytest.approx(1.5 + 2)  # dev's 1.5, plus 2
    assert vs_ce["dev_exact_beam5"]["sd"] == pytest.approx(0.5)  # the same seed cancels
    assert "dev_exact_beam1_longer" not in vs_ce  # CE has none to pair with
    vs_noisy = sweep.paired_difference([r for r in results if r["name"] == "soft"],
                                       [r for r in results if r["name"] == "noisy"])
    assert vs_noisy["metrics"]["dev_exact_beam1_longer"] == {"mean": 0.0, "sd": 0.0}
    sweep.write_table(FakeTask(), [(n, [n]) for n in names], results,
                      options(tmp_path, table="ner-table1"))
    text = (tmp_path / "table.md").read_text()
    assert "| configuration | against | dev_exact_beam5 | dev_exact_beam1_longer |" in text
    assert "| soft | Baseline CE | 3.50 ± 0.50 | – |  |  |" in text


def test_verdicts_on_every_score_that_has_dev_and_test(sweep):
    names, results = hand_made_results()
    for r in results:
        soft = r["name"] == "soft"
        gain = (20.0 + r["seed"]) * soft  # recovered: +21, +22, +23 on dev and test
        noise = {1: -30.0, 2: 30.0, 3: 0.0}[r["seed"]] * soft  # followed, test: +-30
        r["metrics"] = {"dev_recovered": 50.0 + gain, "test_recovered": 40.0 + gain,
                        "dev_followed": 50.0 - gain, "test_followed": 50.0 + noise,
                        "dev_only": gain}
    soft = sweep.paired_difference([r for r in results if r["name"] == "soft"],
                                   [r for r in results if r["name"] == "Baseline CE"])
    # followed is lower on dev only (test: 0 ± 30); "only" has no test score
    assert soft["higher"] == ["recovered"] and soft["lower"] == []
    ce = sweep.paired_difference([r for r in results if r["name"] == "Baseline CE"],
                                 [r for r in results if r["name"] == "soft"])
    assert ce["higher"] == [] and ce["lower"] == ["recovered"]
    one = sweep.paired_difference([r for r in results if r["name"] == "soft" and r["seed"] == 1],
                                  [r for r in results if r["name"] == "Baseline CE"])
    assert one["higher"] == one["lower"] == []  # one seed: no sd, no verdict


def test_pair_with_adds_a_reference_row(sweep, tmp_path, capsys):
    names, results = hand_made_results()
    summary = {s["name"]: s for s in sweep.write_table(
        FakeTask(), [(n, [n]) for n in names], results,
        options(tmp_path, table="ner-table1", pair_with=["soft"]))}
    # noisy - soft: +1.0 on dev on every seed; soft is not paired with itself
    assert summary["noisy"]["paired"]["soft"]["dev"]["mean"] == pytest.approx(1.0)
    assert "soft" not in summary["soft"]["paired"]
    assert "| noisy | soft | 3 | 1.00 ± 0.00 |" in (tmp_path / "table.md").read_text()
    with pytest.raises(SystemExit):
        sweep.main(["mt-table1", "--work", str(tmp_path / "w"), "--mt-data", str(tmp_path),
                    "--list", "--only", "Baseline CE", "--pair-with", "straight-through greedy"])
    assert "--pair-with: no such rows among those run" in capsys.readouterr().err


def test_tables_say_mean_sd_best_seed_and_verdicts(sweep, tmp_path):
    names, results = hand_made_results()
    opts = options(tmp_path, table="ner-table1")
    summary = sweep.write_table(FakeTask(), [(n, [n]) for n in names], results, opts)
    text = (tmp_path / "table.md").read_text()
    assert "| Baseline CE | 81.00 ± 1.00 |" in text
    assert "| soft | Baseline CE | 3 | 1.50 ± 0.50 | 0.60 ± 0.10 | gain |" in text
    assert "| noisy | Baseline CE | 3 | 2.50 ± 0.50 | 0.17 ± 3.01 |  |" in text
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["summary"] == json.loads(json.dumps(summary))
    # what older readers use is still there
    for key in ("table", "epochs", "restarts", "extra_args", "summary", "runs"):
        assert key in record
    assert {"name", "dev", "test", "best_restart", "s_per_epoch"} <= set(record["summary"][0])
    # --report with soft seed 3 still training: seeds 1-2 agree (+1.0, +1.5 dev; +0.5, +0.6
    # test), but the sweep compares three: no verdict yet for soft, none withheld elsewhere
    partial = [{**r, "metrics": {"dev_x": r["dev"], "test_x": r["test"]}} for r in results
               if (r["name"], r["seed"]) != ("soft", 3)]
    sweep.write_table(FakeTask(), [(n, [n]) for n in names], partial, opts,
                      unfinished=[("soft", ["soft"], 3)])
    text = (tmp_path / "table.md").read_text()
    assert ("| soft | Baseline CE | 2 | 1.25 ± 0.35 | 0.55 ± 0.07 | not yet (still training) |"
            in text)
    assert "| soft | Baseline CE | 1.25 ± 0.35 | 0.55 ± 0.07 | not yet | not yet |" in text
    assert "| noisy | Baseline CE | 3 | 2.50 ± 0.50 | 0.17 ± 3.01 |  |" in text
    assert "| noisy | Baseline CE | 2.50 ± 0.50 | 0.17 ± 3.01 |  |  |" in text


def test_a_sweep_runs_every_seed_records_row_args_and_reads_finished_runs_back(
        sweep, tmp_path, capsys):
    task = FakeTask(default=([(1, 1.0), (2, 2.0)], 0),
                    scores={"soft.seed2": {"dev": 5.0, "test": 4.0}})
    rows = [("Baseline CE", ["--rollin", "teacher_forcing"]), ("soft", ["--rollin", "soft_greedy"])]
    opts = options(tmp_path, row_args_of={"soft": ["--alpha", "3"]})
    assert sweep.run_sweep(task, rows, opts) == []
    out = capsys.readouterr().out
    assert "run 1/4: Baseline CE seed 1" in out and "run 4/4: soft seed 2" in out
    assert "soft seed 2: epoch 2 dev 2.0" in out  # progress while the run goes
    assert sorted(name for name, _ in task.trained) == [
        "baseline_ce.seed1", "baseline_ce.seed2", "soft.seed1", "soft.seed2"]
    record = json.loads((tmp_path / "results.json").read_text())
    soft_runs = [r for r in record["runs"] if r["name"] == "soft"]
    assert all(r["row_args"] == ["--alpha", "3"] and r["train_args"][-2:] == ["--alpha", "3"]
               for r in soft_runs)
    assert record["row_settings"] == {"soft": ["--alpha", "3"]}
    assert {r["name"]: r["row_args"] for r in record["rows"]} == {"Baseline CE": [],
                                                                  "soft": ["--alpha", "3"]}
    soft = next(s for s in record["summary"] if s["name"] == "soft")
    assert (soft["best_seed"], soft["row_args"]) == (2, ["--alpha", "3"])
    assert (tmp_path / "table.md").exists() and (tmp_path / "curves.png").exists()
    # again: everything read back, nothing trained
    task.default = None
    assert sweep.run_sweep(task, rows, opts) == []
    assert "finished earlier, read back" in capsys.readouterr().out
    assert len(task.trained) == 4
    # other settings for a row: its finished runs are not silently reused
    opts.row_args_of = {"soft": ["--alpha", "30"]}
    failed = sweep.run_sweep(task, rows, opts)
    assert [(name, seed) for name, _, seed in failed] == [("soft", 1), ("soft", 2)]
    assert "made with args" in capsys.readouterr().out


def test_report_tables_the_finished_runs_names_the_others_and_trains_nothing(
        sweep, tmp_path, capsys):
    task = FakeTask(default=([(1, 1.0), (2, 2.0)], 0))
    rows = [("Baseline CE", ["--rollin", "teacher_forcing"]), ("soft", ["--rollin", "soft_greedy"])]
    opts = options(tmp_path)
    assert sweep.run_sweep(task, rows, opts) == []
    # soft seed 2 still training (no result yet), soft seed 1 gone too: nothing is trained
    os.remove(tmp_path / "runs" / "soft.seed2" / "result.json")
    task.default, trained = None, len(task.trained)
    opts.report = True
    assert sweep.run_sweep(task, rows, opts) == []
    assert len(task.trained) == trained and "soft seed 2: not finished" in capsys.readouterr().out
    table = (tmp_path / "table.md").read_text()
    assert "**Partial** (`--report`): 3 of 4 runs finished; not yet: soft seed 2." in table
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["unfinished"] == [{"name": "soft", "seed": 2}]
    assert [s["n_seeds"] for s in record["summary"]] == [2, 1]
    os.remove(tmp_path / "runs" / "soft.seed1" / "result.json")
    sweep.run_sweep(task, rows, opts)
    table = (tmp_path / "table.md").read_text()
    assert "not yet: soft seeds 1, 2." in table and "| soft | not finished |" in table
    # a run made with other arguments is not reported as this row's
    opts.row_args_of = {"Baseline CE": ["--alpha", "3"]}
    sweep.run_sweep(task, rows, opts)
    out = capsys.readouterr().out
    assert "not reported:" in out and "Baseline CE seed 1: not finished" not in out
    assert "| Baseline CE | not finished |" in (tmp_path / "table.md").read_text()
    # a full sweep writes no partial note
    opts.report, opts.row_args_of = False, {}
    task.default = ([(1, 1.0), (2, 2.0)], 0)
    assert sweep.run_sweep(task, rows, opts) == []
    assert "Partial" not in (tmp_path / "table.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["unfinished"] == []


def test_row_args_and_row_settings_files(sweep, tmp_path):
    names = ["Baseline CE", "k = 100", "soft greedy"]
    parsed = sweep.parse_row_args(["k = 100=--alpha 3 --eval-bleu-args '{\"beam\": 1}'",
                                   "soft greedy=--credit-scale 0.5"], names)
    assert parsed == {"k = 100": ["--alpha", "3", "--eval-bleu-args", '{"beam": 1}'],
                      "soft greedy": ["--credit-scale", "0.5"]}
    with pytest.raises(SystemExit, match="no row"):
        sweep.parse_row_args(["nope=--alpha 1"], names)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"soft greedy": "--alpha 3", "k = 100": ["--lr", 0.01]}))
    assert sweep.load_row_settings(str(settings), names) == {
        "soft greedy": ["--alpha", "3"], "k = 100": ["--lr", "0.01"]}
    settings.write_text(json.dumps({"soft greedyy": "--alpha 3"}))
    with pytest.raises(SystemExit, match="no rows"):
        sweep.load_row_settings(str(settings), names)


def test_a_second_name_after_one_row_args_is_refused_before_any_run(sweep, tmp_path, capsys):
    # argparse leaves it to the fairseq-train arguments, where every run would fail on it
    work = tmp_path / "w"
    with pytest.raises(SystemExit):
        sweep.main(["mt-table1", "--work", str(work), "--mt-data", str(tmp_path), "--list",
                    "--row-args", "alpha-soft fixed greedy=--alpha 3",
                    "alpha-soft fixed sample=--alpha 3"])
    assert "unexpected argument 'alpha-soft fixed sample=--alpha 3'" in capsys.readouterr().err
    # options (with their values) still pass through to every run
    assert sweep.main(["mt-table1", "--work", str(work), "--mt-data", str(tmp_path), "--list",
                       "--row-args", "alpha-soft fixed greedy=--alpha 3", "--lr", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "--lr 0.01" in out and "--lr-shrink 0.5" in out  # not taken for --lr-shrink
    with pytest.raises(SystemExit):
        sweep.main(["mt-table1", "--work", str(work), "--mt-data", str(tmp_path), "--list",
                    "--seed=3"])  # not --seeds 3
    assert "each run its own" in capsys.readouterr().err


def test_the_schedule_line_says_where_it_ends_and_which_rows_state_their_own(
        sweep, tmp_path, capsys):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"Baseline CE": "--clip-norm 1",
                                    "Bengio et al. (2015) greedy": "--teacher-forcing-final 0.9"}))
    assert sweep.main(["mt-table1", "--work", str(tmp_path / "w"), "--mt-data", str(tmp_path),
                       "--epochs", "32", "--final-tf", "0.75", "--plugin-final-tf",
                       "--row-settings", str(settings), "--teacher-forcing-final-at", "24",
                       "--list"]) == 0
    out = capsys.readouterr().out
    # the end the plugin holds, not the cap's
    assert "schedule: --teacher-forcing-final 0.75 at epoch 24 (--teacher-forcing-final-at)" in out
    assert "schedule of 'Bengio et al. (2015) greedy': its own --teacher-forcing-final 0.9" in out
    assert "schedule of 'Baseline CE'" not in out and "schedule of 'Bengio et al. (2015) sample'" \
        not in out
    sweep.main(["mt-table1", "--work", str(tmp_path / "w"), "--mt-data", str(tmp_path),
                "--epochs", "32", "--final-tf", "0.75", "--plugin-final-tf", "--list"])
    assert "schedule: --teacher-forcing-final 0.75 at epoch 32 (t = 31 completed epochs)" \
        in capsys.readouterr().out


def test_stopping_early_is_recorded(sweep, tmp_path):
    class StopsEarly(FakeTask):
        def train_command(self, save_dir, args):
            command = super().train_command(save_dir, args)
            command[-1] = command[-1].replace(
                "; exit", "; echo 'INFO | fairseq_cli.train | early stop since valid "
                "performance hasn'\"'\"'t improved for last 3 runs'; exit")
            return command

    task = StopsEarly([([(1, 1.0), (2, 3.0), (3, 2.0)], 0)])
    result = sweep.one_run(task, options(tmp_path, epochs=10), "CE", [], seed=1)
    assert result["stopped_early"] and result["epochs"] == 3 and result["best_epoch"] == 2


def test_table1_keeps_its_rows_and_adds_straight_through_and_credit_rows(sweep):
    rows = dict(sweep.table1(["--teacher-forcing-k", "10"], 10.0, 1.0, 1.5, bounded=0.25))
    old = ["Baseline CE", "Bengio et al. (2015) greedy", "Bengio et al. (2015) sample",
           "alpha-soft fixed greedy", "alpha-soft fixed sample", "alpha-soft annealed greedy",
           "alpha-soft annealed sample"]
    assert list(rows)[:7] == old
    assert rows["straight-through greedy"][:2] == ["--rollin", "st_greedy"]
    assert rows["straight-through sample"][:2] == ["--rollin", "st_sample"]
    assert rows["alpha-soft fixed greedy, bounded credit"] == [
        *rows["alpha-soft fixed greedy"], "--credit-scale", "0.25"]
    assert rows["alpha-soft fixed greedy, detached"] == [
        *rows["alpha-soft fixed greedy"], "--credit-scale", "0"]


def test_grid_mode_writes_the_best_setting_as_a_row_settings_file(sweep, tmp_path):
    rows, row_args_of = sweep.grid_rows(("soft", ["--rollin", "soft_greedy"]),
                                        ["alpha=1,10", "--credit-scale=0,1"], ["--lr", "0.01"])
    assert [name for name, _ in rows] == [
        "soft [--alpha 1 --credit-scale 0]", "soft [--alpha 1 --credit-scale 1]",
        "soft [--alpha 10 --credit-scale 0]", "soft [--alpha 10 --credit-scale 1]"]
    assert row_args_of["soft [--alpha 10 --credit-scale 0]"] == [
        "--lr", "0.01", "--alpha", "10", "--credit-scale", "0"]
    best = sweep.slug("soft [--alpha 10 --credit-scale 0]")
    task = FakeTask(default=([(1, 1.0)], 0), scores={f"{best}.seed1": {"dev": 9.0, "test": 1.0}})
    opts = options(tmp_path, seeds=1, row_args_of=row_args_of, grid_mode=True, grid_row="soft")
    assert sweep.run_sweep(task, rows, opts) == []
    assert json.loads((tmp_path / "grid_best.json").read_text()) == {
        "soft": "--lr 0.01 --alpha 10 --credit-scale 0"}
    assert (tmp_path / "grid.md").exists() and len(json.loads(
        (tmp_path / "grid.json").read_text())["runs"]) == 4
    for bad in ("alpha", "alpha=", "=1,2", "alpha=1,,2"):
        with pytest.raises(SystemExit, match="expected option"):
            sweep.grid_rows(("soft", []), [bad], [])


def test_batches_per_epoch_follows_fairseqs_batching(sweep):
    # fairseq's batches: length-sorted, a batch grows while (size + 1) x longest fits
    assert sweep.batches_per_epoch([3, 3, 3, 4, 4, 10], max_tokens=10) == 3  # 333 | 44 | 10
    assert sweep.batches_per_epoch([5] * 10, max_tokens=20) == 3  # 4 + 4 + 2


def test_table2_varies_k_and_has_cross_entropy_as_its_paired_reference(sweep):
    rows = sweep.table2(1.0, 1.5)
    assert [name for name, _ in rows] == ["Baseline CE", "k = 100", "k = 10", "k = 1", "always"]
    assert rows[0][1] == ["--rollin", "teacher_forcing"]
    assert rows[2][1][-2:] == ["--teacher-forcing-k", "10"]
    assert sweep.CE_ROW in sweep.REFERENCE_ROWS  # so every k row gets its paired difference


STOPPED_SWEEP = """
import argparse, importlib.util, os, sys
spec = importlib.util.spec_from_file_location("sweep", sys.argv[1])
sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sweep)
marks = sys.argv[2]

class Task:  # training: a recipe's bash waiting for a long child, as train.sh waits for python
    metric, metric_label = "bleu", "BLEU"
    def train_command(self, save_dir, args):
        mark = os.path.join(marks, os.path.basename(save_dir))
        return ["bash", "-c", f"sleep 300 & echo $! > {mark}; wait"]

sweep.exit_on_sigterm()
opts = argparse.Namespace(work=marks, epochs=3, extra=[], continue_from=None, seeds=1,
                          parallel=2, patience=0, lr_shrink=1.0, lr_patience=0, table="test")
sweep.run_sweep(Task(), [("A", []), ("B", []), ("C", [])], opts)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie no one reaped is gone
    except FileNotFoundError:
        return False


def test_a_stopped_sweep_stops_its_trainings_and_starts_no_other(tmp_path):
    """kill / timeout (SIGTERM) of a sweep stops every running command's whole process group
    (no fairseq-train left writing checkpoints that a rerun resumes) and starts no queued run."""
    import signal
    import time

    driver = tmp_path / "driver.py"
    driver.write_text(STOPPED_SWEEP)
    process = subprocess.Popen([os.sys.executable, str(driver), os.path.join(ROOT, "scripts", "sweep.py"),
                                str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    marks = lambda: sorted(p for p in os.listdir(tmp_path) if p.endswith(".seed1"))  # noqa: E731
    deadline = time.monotonic() + 60
    while len([m for m in marks() if (tmp_path / m).is_file() and (tmp_path / m).read_text()]) < 2:
        assert time.monotonic() < deadline and process.poll() is None, process.stdout.read()
        time.sleep(0.1)
    started = {m: int((tmp_path / m).read_text()) for m in marks() if (tmp_path / m).is_file()}
    assert len(started) == 2 and all(alive(pid) for pid in started.values())
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output
    assert not any(alive(pid) for pid in started.values()), output
    assert [m for m in marks() if (tmp_path / m).is_file()] == sorted(started)  # C never ran
    assert "FAILED" not in output and output.count("stopped") == 2, output

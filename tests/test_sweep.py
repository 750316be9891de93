"""scripts/sweep.py: learning curves survive a run that is interrupted and resumed."""
import argparse
import importlib.util
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("sweep", os.path.join(ROOT, "scripts", "sweep.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def epoch_lines(epoch: int, dev: float) -> str:
    """What fairseq-train logs at the end of an epoch with --log-format json."""
    train = {"epoch": epoch, "train_tf_prob": "0.9", "train_alpha": "1", "train_train_wall": "5"}
    valid = {"epoch": epoch, "valid_bleu": str(dev)}
    return (f"2026-11-25 10:00:00 | INFO | train | {json.dumps(train)}\n"
            f"2026-11-25 10:00:00 | INFO | valid | {json.dumps(valid)}\n")


class FakeTask:
    """A training command that logs the given epochs, then succeeds or fails."""

    metric = "bleu"

    def __init__(self):
        self.attempts = []  # (epochs as (epoch, dev), exit status) per call

    def train_command(self, save_dir, args):
        epochs, status = self.attempts.pop(0)
        text = "".join(epoch_lines(e, dev) for e, dev in epochs)
        return ["bash", "-c", f"printf '%s' '{text}'; exit {status}"]

    def evaluate(self, save_dir):
        return {"dev": 3.0, "test": 2.5}


def test_a_resumed_run_keeps_the_epochs_before_the_interruption(sweep, tmp_path):
    opts = argparse.Namespace(work=str(tmp_path), epochs=3, extra=[], continue_from=None)
    task = FakeTask()
    task.attempts = [([(1, 1.0), (2, 2.0)], 1), ([(2, 2.5), (3, 3.0)], 0)]
    with pytest.raises(subprocess.CalledProcessError):
        sweep.one_run(task, opts, "CE", [], restart=1)
    result = sweep.one_run(task, opts, "CE", [], restart=1)
    # epoch 2 was interrupted and run again: its last record counts
    assert [(p["epoch"], p["dev"]) for p in result["curve"]] == [(1, 1.0), (2, 2.5), (3, 3.0)]
    # a finished run is read back, not trained again
    assert sweep.one_run(task, opts, "CE", [], restart=1) == result


def test_continuing_an_earlier_sweep_keeps_its_epochs_and_leaves_it_alone(sweep, tmp_path):
    task = FakeTask()
    task.attempts = [([(1, 1.0), (2, 2.0)], 0), ([(3, 3.0), (4, 4.0)], 0)]
    earlier = argparse.Namespace(work=str(tmp_path / "short"), epochs=2, extra=[],
                                 continue_from=None)
    short = sweep.one_run(task, earlier, "CE", [], restart=1)
    longer = argparse.Namespace(work=str(tmp_path / "long"), epochs=4, extra=[],
                                continue_from=earlier.work)
    result = sweep.one_run(task, longer, "CE", [], restart=1)
    assert [p["epoch"] for p in result["curve"]] == [1, 2, 3, 4]
    assert sweep.one_run(task, earlier, "CE", [], restart=1) == short  # still its own result
    missing = argparse.Namespace(work=str(tmp_path / "other"), epochs=4, extra=[],
                                 continue_from=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="no earlier run"):
        sweep.one_run(task, missing, "CE", [], restart=1)

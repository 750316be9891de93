"""scripts/recovery.py: greedy search after one forced error on the cascade task.

The end-to-end test trains a tiny model for one epoch on 300 sequences (~10-20 s)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, USER_DIR, load_script, run_cli


@pytest.fixture(scope="module")
def recovery():
    return load_script("recovery")


def test_counts_tell_a_recovering_continuation_from_one_that_carries_the_error(recovery):
    truth, j, shift = [1, 4, 6, 9, 3], 1, 3  # the wrong token at 1 is 7
    recovering = recovery.continuation_counts([1, 7, 6, 9, 3], truth, j, shift)
    assert recovering == {"positions": 3, "recovered": 3, "followed": 0, "next_recovered": 1,
                          "rest_recovered": 1}
    carrying = recovery.continuation_counts([1, 7, 9, 2, 6], truth, j, shift)  # each + 3 mod 10
    assert carrying == {"positions": 3, "recovered": 0, "followed": 3, "next_recovered": 0,
                        "rest_recovered": 0}
    stopped_early = recovery.continuation_counts([1, 7, 6], truth, j, shift)
    assert stopped_early["recovered"] == 1 and stopped_early["rest_recovered"] == 0
    too_long = recovery.continuation_counts([1, 7, 6, 9, 3, 3], truth, j, shift)
    assert too_long["recovered"] == 3 and too_long["rest_recovered"] == 0
    scores = recovery.percentages([recovering, carrying, stopped_early])
    assert scores["recovered"] == pytest.approx(100 * 4 / 9)
    assert scores["followed"] == pytest.approx(100 * 3 / 9)
    assert scores["next_recovered"] == pytest.approx(100 * 2 / 3)
    assert scores["rest_recovered"] == pytest.approx(100 / 3) and scores["sequences"] == 3


def test_the_error_is_drawn_the_same_for_every_model_and_never_last(recovery):
    for length in range(2, 21):
        for sentence in range(50):
            j, shift = recovery.forced_error(sentence, length, seed=1)
            assert 0 <= j <= length - 2 and 1 <= shift <= 9
            assert recovery.forced_error(sentence, length, seed=1) == (j, shift)
    draws = lambda seed: [recovery.forced_error(s, 12, seed) for s in range(50)]  # noqa: E731
    assert draws(1) != draws(2)


@pytest.fixture(scope="module")
def cascade_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("cascade")
    raw, data_bin, save_dir = root / "raw", root / "bin", root / "ckpt"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_cascade_data.py"),
                    str(raw), "--train", "300", "--valid", "30", "--test", "20",
                    "--min-len", "1", "--max-len", "8"], check=True, capture_output=True)
    run_cli("preprocess", "--source-lang", "src", "--target-lang", "tgt",
            "--joined-dictionary", "--trainpref", str(raw / "train"),
            "--validpref", str(raw / "valid"), "--testpref", str(raw / "test"),
            "--destdir", str(data_bin), "--workers", "1")
    run_cli("train", str(data_bin), "--user-dir", USER_DIR, "--arch", "lstm_relaxed_paper_ner",
            "--encoder-embed-dim", "16", "--encoder-hidden-size", "16",
            "--decoder-embed-dim", "16", "--decoder-hidden-size", "16",
            "--decoder-out-embed-dim", "16", "--criterion", "relaxed_scheduled_sampling",
            "--optimizer", "adam", "--lr", "0.005", "--max-tokens", "500", "--max-epoch", "1",
            "--save-dir", str(save_dir), "--cpu", "--no-progress-bar",
            "--required-batch-size-multiple", "1")
    return data_bin, save_dir / "checkpoint_last.pt"


def test_search_keeps_the_forced_prefix_and_the_scores_count_what_follows(
        recovery, cascade_checkpoint):
    from fairseq import checkpoint_utils

    import relaxss_fairseq  # noqa: F401

    data_bin, checkpoint = cascade_checkpoint
    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data_bin)})
    details = []
    scores = recovery.recovery(models[0].eval(), task, "valid", seed=3, details=details)
    with open(os.path.join(data_bin.parent, "raw", "valid.tgt")) as f:
        lengths = [len(line.split()) for line in f]
    assert scores["sequences"] == len(details) == sum(n >= 2 for n in lengths) > 0
    for d in details:  # gold up to the error, then the wrong token: the search kept both
        j = d["j"]
        assert d["w"] != d["truth"][j] and d["hyp"][:j + 1] == d["truth"][:j] + [d["w"]]
        assert (d["j"], (d["w"] - d["truth"][j]) % 10) == recovery.forced_error(
            d["id"], len(d["truth"]), 3)
    again = recovery.percentages([recovery.continuation_counts(
        d["hyp"], d["truth"], d["j"], (d["w"] - d["truth"][d["j"]]) % 10) for d in details])
    assert again == scores


def test_command_line_writes_both_subsets(cascade_checkpoint, tmp_path):
    data_bin, checkpoint = cascade_checkpoint
    out = tmp_path / "recovery.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "recovery.py"), "--path", str(checkpoint),
         "--data", str(data_bin), "--subset", "valid", "test", "--json", str(out)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(out.read_text())
    assert set(scores) == {"valid", "test"} and "test: recovered" in result.stdout
    for split in scores.values():
        assert set(split) == {"recovered", "followed", "next_recovered", "rest_recovered",
                              "sequences"}
        assert all(0.0 <= split[s] <= 100.0 for s in ("recovered", "followed"))

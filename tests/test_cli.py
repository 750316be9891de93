"""End to end through fairseq's command lines on the generated toy task."""
import json
import math
import re

import pytest

from conftest import USER_DIR, run_cli

MODES = ["teacher_forcing", "hard_greedy", "hard_sample", "soft_greedy", "soft_sample"]
TINY_MODEL = [
    "--arch", "lstm_relaxed_paper_mt", "--encoder-embed-dim", "24", "--encoder-hidden-size", "24",
    "--decoder-embed-dim", "24", "--decoder-hidden-size", "24", "--decoder-out-embed-dim", "24",
    "--decoder-attention-dim", "24",
]


def train(data_bin, save_dir, *extra, max_epoch=2):
    return run_cli(
        "train", str(data_bin), "--user-dir", USER_DIR, *TINY_MODEL,
        "--criterion", "relaxed_scheduled_sampling", "--optimizer", "adam", "--lr", "0.005",
        "--max-tokens", "800", "--max-epoch", str(max_epoch), "--save-dir", str(save_dir),
        "--cpu", "--seed", "3", "--no-progress-bar", "--log-format", "json",
        "--log-interval", "1000", *extra,
    )


def epoch_stats(log: str):
    """The end-of-epoch ``train`` json records fairseq printed, by epoch."""
    stats = {}
    for line in log.splitlines():
        match = re.search(r"\| train \| (\{.*\})$", line)
        if match:
            record = json.loads(match.group(1))
            stats[int(record["epoch"])] = {k: float(v) for k, v in record.items()}
    return stats


@pytest.mark.parametrize("mode", MODES)
def test_train_every_mode_then_generate(toy_data_bin, tmp_path, mode):
    log = train(toy_data_bin, tmp_path, "--rollin", mode, "--teacher-forcing-k", "1")
    stats = epoch_stats(log)
    assert stats[1]["train_tf_prob"] == 1.0 and stats[1]["train_model_fed"] == 0.0
    if mode == "teacher_forcing":
        assert stats[2]["train_tf_prob"] == 1.0 and stats[2]["train_model_fed"] == 0.0
    else:
        assert stats[2]["train_tf_prob"] == pytest.approx(1 / (1 + math.e), abs=1e-4)
        assert 0.4 < stats[2]["train_model_fed"] < 0.9
    assert math.isfinite(stats[2]["train_loss"])
    if mode in ("teacher_forcing", "soft_sample"):
        out = run_cli(
            "generate", str(toy_data_bin), "--user-dir", USER_DIR,
            "--path", str(tmp_path / "checkpoint_last.pt"), "--beam", "3",
            "--batch-size", "16", "--cpu",
        )
        assert re.search(r"Generate test with beam=3: BLEU4 = \d", out)
        assert len(re.findall(r"^H-\d+\t", out, flags=re.M)) == 40


def test_resume_from_checkpoint_last_continues_the_schedule(toy_data_bin, tmp_path):
    settings = ["--rollin", "soft_greedy", "--teacher-forcing-k", "2",
                "--alpha", "2", "--alpha-anneal-rate", "2", "--alpha-max", "6"]
    straight = epoch_stats(train(toy_data_bin, tmp_path / "straight", *settings, max_epoch=4))
    train(toy_data_bin, tmp_path / "resumed", *settings, max_epoch=2)
    resumed = epoch_stats(train(toy_data_bin, tmp_path / "resumed", *settings, max_epoch=4))
    assert sorted(resumed) == [3, 4]  # it continued, it did not start over
    for epoch in (3, 4):
        t = epoch - 1
        assert resumed[epoch]["train_tf_prob"] == pytest.approx(2 / (2 + math.exp(t / 2)), abs=1e-4)
        assert resumed[epoch]["train_alpha"] == min(2 * 2**t, 6)
        # same batches, flips and noise (relaxss_fairseq.exact_resume): equal to the digit
        for key in ("train_tf_prob", "train_alpha", "train_model_fed", "train_loss"):
            assert resumed[epoch][key] == straight[epoch][key], key


def inner_records(log: str):
    """The per-interval ``train_inner`` json records fairseq printed, in order."""
    return [json.loads(m.group(1)) for m in re.finditer(r"\| train_inner \| (\{.*\})$", log, re.M)]


def test_teacher_forcing_final_by_update_ends_at_the_final_value(toy_data_bin, tmp_path):
    """--teacher-forcing-final 0.3 over --max-update 20 (5 updates an epoch, the first
    epoch gold): k derived and logged once, tf_prob falls after the warm-up along that
    k and ends at 0.3 (update 20 is trained at t = 19 completed updates)."""
    log = train(toy_data_bin, tmp_path, "--rollin", "soft_greedy", "--teacher-forcing-final",
                "0.3", "--schedule-unit", "update", "--max-update", "20", "--log-interval", "1",
                "--no-save", max_epoch=100)
    derived = re.findall(r"--teacher-forcing-final 0\.3 at update 20: inverse_sigmoid k = "
                         r"([0-9.]+)", log)
    assert len(derived) == 1
    k = float(derived[0])
    records = inner_records(log)
    updates = [int(r["num_updates"]) for r in records]
    tf_prob = [float(r["tf_prob"]) for r in records]
    assert updates == list(range(1, 21))
    gold = [p for r, p in zip(records, tf_prob) if int(r["epoch"]) == 1]
    decayed = [p for r, p in zip(records, tf_prob) if int(r["epoch"]) > 1]
    assert gold == [1.0] * len(gold) and len(decayed) >= 10
    assert all(a > b for a, b in zip(decayed, decayed[1:]))  # strictly decreasing
    for n, p in zip(updates[len(gold):], decayed):
        assert p == pytest.approx(k / (k + math.exp((n - 1) / k)), abs=1e-4)
    assert k / (k + math.exp(20 / k)) == pytest.approx(0.3, abs=1e-4)  # the end, t = 20
    assert 0.3 < decayed[-1] < 0.35  # one update short of the end


def test_teacher_forcing_final_without_a_run_length_stops_at_start_up(toy_data_bin, tmp_path):
    """Neither --max-update nor --max-epoch: fairseq-train would run forever; the
    criterion refuses before training starts."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "fairseq_cli.train", str(toy_data_bin), "--user-dir",
               USER_DIR, *TINY_MODEL, "--criterion", "relaxed_scheduled_sampling",
               "--optimizer", "adam", "--lr", "0.005", "--max-tokens", "800",
               "--save-dir", str(tmp_path), "--cpu", "--no-progress-bar",
               "--teacher-forcing-final", "0.3", "--schedule-unit", "update"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert ("--teacher-forcing-final needs the run length: with --schedule-unit update "
            "the end of training is --max-update, which is not set") in output
    assert "train_inner" not in output and "| train |" not in output


def test_a_stock_lstm_checkpoint_trains_on_with_dot_attention(toy_data_bin, tmp_path):
    """A model trained with fairseq's own lstm + cross_entropy continues as
    lstm_relaxed --decoder-attention-type dot with a roll-in (every parameter
    loads, strictly), then generates."""
    sizes = TINY_MODEL[2:-2]  # the paper's MT preset's sizes, without the additive attention's
    run_cli(
        "train", str(toy_data_bin), "--arch", "lstm", *sizes, "--encoder-bidirectional",
        "--criterion", "cross_entropy",
        "--optimizer", "adam", "--lr", "0.005", "--max-tokens", "800", "--max-epoch", "1",
        "--save-dir", str(tmp_path / "stock"), "--cpu", "--seed", "3", "--no-progress-bar",
    )
    log = train(toy_data_bin, tmp_path / "relaxed", "--decoder-attention-type", "dot",
                "--finetune-from-model", str(tmp_path / "stock" / "checkpoint_last.pt"),
                "--rollin", "soft_greedy", "--teacher-forcing-k", "1", "--gold-warmup-epochs", "0",
                max_epoch=1)
    assert re.search(r"Loaded checkpoint \S*stock/checkpoint_last.pt", log)
    stats = epoch_stats(log)
    assert stats[1]["train_model_fed"] > 0.2 and math.isfinite(stats[1]["train_loss"])
    out = run_cli("generate", str(toy_data_bin), "--user-dir", USER_DIR, "--path",
                  str(tmp_path / "relaxed" / "checkpoint_last.pt"), "--beam", "2",
                  "--batch-size", "16", "--cpu")
    assert len(re.findall(r"^H-\d+\t", out, flags=re.M)) == 40

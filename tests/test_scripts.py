"""scripts/figure1.py and scripts/benchmark.py end to end at toy sizes."""
import json
import os
import subprocess
import sys

import pytest
from conftest import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name, *args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name), *args],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def test_figure1_soft_objective_meets_the_hard_one_at_large_alpha(
    toy_checkpoint, toy_data_bin, tmp_path
):
    out = tmp_path / "made" / "figure1.png"  # a folder that does not exist yet: made
    run_script("figure1.py", "--path", str(toy_checkpoint), "--data", str(toy_data_bin),
               "--out", str(out), "--alphas", "1", "10000", "--points", "41")
    assert out.stat().st_size > 0
    with open(out.with_suffix(".json")) as f:
        record = json.load(f)
    curves = record["curves"]
    hard = curves["hard greedy (scheduled sampling)"]
    peaked, smooth = curves["soft greedy, alpha=10000"], curves["soft greedy, alpha=1"]
    assert len(record["t"]) == len(hard) == len(peaked) == 41
    # alpha -> inf: the relaxation becomes the argmax (all but the points near a flip),
    # while alpha = 1 feeds visibly different inputs (a toy model: small differences)
    assert sum(abs(p - h) <= 1e-5 for p, h in zip(peaked, hard)) >= 0.9 * len(hard)
    assert sum(abs(s - h) > 1e-4 for s, h in zip(smooth, hard)) >= 0.5 * len(hard)


def tiny_lstm_benchmark(tmp_path, *args):
    """scripts/benchmark.py at toy sizes, one update of each row: (printed, JSON record)."""
    out = tmp_path / "bench.json"
    printed = run_script("benchmark.py", "--vocab", "60", "--dim", "8", "--batch-size", "4",
                         "--length", "5", "--updates", "1", "--warmup", "0", "--repeats", "1",
                         "--threads", "1", *args, "--json", str(out))
    with open(out) as f:
        return printed, json.load(f)


def test_benchmark_prints_every_mode_at_every_tf_prob_against_the_reference(tmp_path):
    printed, result = tiny_lstm_benchmark(
        tmp_path, "--modes", "reference", "teacher_forcing", "hard_greedy", "soft_sample",
        "st_greedy")
    table = result["table"]
    rollins = ["hard_greedy", "soft_sample", "st_greedy"]
    expected = ([("reference", None), ("teacher_forcing", None)]
                + [(m, 0.0) for m in rollins] + [(m, 0.75) for m in rollins])
    assert [(row["mode"], row["tf_prob"]) for row in table] == expected
    assert all(f"| {mode} | {'-' if p is None else p} |" in printed for mode, p in expected)
    # the machine is named, so numbers from two machines are never mixed up
    assert "machine: " in printed and result["machine"]["torch"] and result["machine"]["blas"]
    reference = table[0]
    assert reference["time_ratio"] == 1.0 and reference["flop_floor"] == 1.0
    floors = {(row["mode"], row["tf_prob"]): row["flop_floor"] for row in table}
    # the mixture is made only where the model feeds itself: its cost scales with 1 - tf_prob
    soft_extra = floors["soft_sample", 0.0] - floors["hard_greedy", 0.0]
    assert soft_extra > 0
    assert floors["soft_sample", 0.75] - floors["hard_greedy", 0.75] == pytest.approx(soft_extra / 4)
    assert floors["hard_greedy", 0.75] == floors["hard_greedy", 0.0] > 0.9
    # straight-through feeds the hard choice: of the mixture's three products (forward,
    # backward into the weights and into E) it makes the backward two
    st_extra = floors["st_greedy", 0.0] - floors["hard_greedy", 0.0]
    assert st_extra == pytest.approx(soft_extra * 2 / 3)
    # by default lstm_relaxed attends as stock lstm does: teacher forcing is the reference model
    assert "lstm_relaxed with dot attention" in printed
    assert floors["teacher_forcing", None] == 1.0
    for row in table:
        assert row["min"] <= row["sec_per_update"] <= row["max"] and row["peak_mb"] > 0
        assert row["targets"] == "met" or row["targets"].startswith("MISSED")


def test_benchmark_with_the_papers_additive_attention_counts_its_flops(tmp_path):
    printed, result = tiny_lstm_benchmark(
        tmp_path, "--attention", "additive", "--modes", "reference", "teacher_forcing")
    table = result["table"]
    assert "lstm_relaxed with additive attention" in printed
    assert table[1]["mode"] == "teacher_forcing" and table[1]["flop_floor"] > 1.0


def test_benchmark_transformer_rows_with_and_without_first_pass_gradient(tmp_path):
    out = tmp_path / "bench.json"
    run_script("benchmark.py", "--model", "transformer", "--vocab", "60", "--dim", "8",
               "--ffn", "16", "--layers", "1", "--heads", "2", "--batch-size", "4",
               "--length", "5", "--updates", "1", "--warmup", "0", "--repeats", "1",
               "--threads", "1", "--tf-prob", "0", "--modes", "reference", "hard_greedy",
               "soft_greedy", "--json", str(out))
    with open(out) as f:
        table = json.load(f)["table"]
    assert [row["mode"] for row in table] == [
        "reference", "hard_greedy", "soft_greedy", "soft_greedy/no-grad"]
    floors = {row["mode"]: row["flop_floor"] for row in table}
    # one more decoder pass, its backward only with first-pass gradient
    assert 1.0 < floors["hard_greedy"] < floors["soft_greedy/no-grad"] < floors["soft_greedy"]
    assert floors["soft_greedy"] < 2.5


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_flop_floors_count_the_top_k_mixture(model):
    """With --relax-top-k K the mixture is K rows wide in either model: its three
    products (the straight-through forward included: it gathers the K rows) scale with K."""
    import argparse

    benchmark = load_script("benchmark")

    def floor(mode, top_k):
        opts = argparse.Namespace(model=model, dim=8, ffn=16, vocab=60, layers=1, length=5,
                                  attention="dot", relax_top_k=top_k)
        return benchmark.flops_per_target_token(opts, mode, tf_prob=0.5)

    per_k_row = 3 * 2 * 8 * 0.5  # 3 products of K x 8, for half the positions
    for mode in ("soft_greedy", "st_greedy"):
        assert floor(mode, 8) - floor(mode, 4) == pytest.approx(4 * per_k_row)
        assert floor(mode, 4) < floor(mode, 0)
    assert floor("hard_greedy", 4) == floor("hard_greedy", 0)


def test_benchmark_profile_names_the_operators_of_each_row():
    printed = run_script("benchmark.py", "--vocab", "60", "--dim", "8", "--batch-size", "4",
                         "--length", "5", "--threads", "1", "--tf-prob", "0",
                         "--profile", "reference", "soft_greedy")
    assert "reference (tf_prob 0.0 where it applies), 3 updates:" in printed
    assert "soft_greedy (tf_prob 0.0 where it applies), 3 updates:" in printed
    assert printed.count("Self CPU time total") == 2 and "aten::mm" in printed

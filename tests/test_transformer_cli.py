"""transformer_relaxed through fairseq's command lines: train, resume, generate and
interactive with beam search, shared embeddings, label smoothing, bad settings."""
import math
import subprocess
import sys

import pytest

from conftest import ROOT, USER_DIR, run_cli
from test_cli import epoch_stats

TINY_TRANSFORMER = [
    "--arch", "transformer_relaxed", "--encoder-embed-dim", "16", "--encoder-ffn-embed-dim", "32",
    "--encoder-layers", "2", "--encoder-attention-heads", "2", "--decoder-embed-dim", "16",
    "--decoder-ffn-embed-dim", "32", "--decoder-layers", "2", "--decoder-attention-heads", "2",
]


def train(data_bin, save_dir, *extra, max_epoch=2):
    return run_cli(
        "train", str(data_bin), "--user-dir", USER_DIR, *TINY_TRANSFORMER,
        "--criterion", "relaxed_scheduled_sampling", "--label-smoothing", "0.1",
        "--optimizer", "adam", "--lr", "0.005", "--max-tokens", "800",
        "--max-epoch", str(max_epoch), "--save-dir", str(save_dir), "--cpu", "--seed", "3",
        "--no-progress-bar", "--log-format", "json", "--log-interval", "1000", *extra,
    )


@pytest.fixture(scope="module")
def joined_data_bin(tmp_path_factory):
    """The toy task binarised with one dictionary for both sides (--share-all-embeddings)."""
    root = tmp_path_factory.mktemp("toy_joined")
    raw = root / "raw"
    subprocess.run([sys.executable, f"{ROOT}/scripts/make_toy_data.py", str(raw), "--train",
                    "400", "--valid", "40", "--test", "40"], check=True, capture_output=True)
    run_cli("preprocess", "--source-lang", "src", "--target-lang", "tgt",
            "--trainpref", str(raw / "train"), "--validpref", str(raw / "valid"),
            "--testpref", str(raw / "test"), "--destdir", str(root / "bin"),
            "--joined-dictionary", "--workers", "1")
    return root / "bin"


def assert_rolled_in(stats):
    assert stats[1]["train_tf_prob"] == 1.0 and stats[1]["train_model_fed"] == 0.0
    assert stats[2]["train_tf_prob"] == pytest.approx(1 / (1 + math.e), abs=1e-4)
    assert 0.4 < stats[2]["train_model_fed"] < 0.9
    assert math.isfinite(stats[2]["train_loss"])


def generate(data_bin, checkpoint):
    out = run_cli("generate", str(data_bin), "--user-dir", USER_DIR, "--path", str(checkpoint),
                  "--beam", "3", "--batch-size", "16", "--cpu")
    assert "Generate test with beam=3: BLEU4 = " in out
    assert out.count("\nH-") == 40
    return out


def test_train_with_a_roll_in_then_generate_and_interactive(toy_data_bin, tmp_path):
    log = train(toy_data_bin, tmp_path, "--rollin", "soft_greedy", "--teacher-forcing-k", "1",
                "--share-decoder-input-output-embed")
    assert_rolled_in(epoch_stats(log))
    checkpoint = tmp_path / "checkpoint_last.pt"
    generate(toy_data_bin, checkpoint)
    sources = (toy_data_bin / ".." / "raw" / "test.src").read_text().splitlines()[:3]
    result = subprocess.run(
        [sys.executable, "-m", "fairseq_cli.interactive", str(toy_data_bin), "--user-dir",
         USER_DIR, "--path", str(checkpoint), "--beam", "3", "--source-lang", "src",
         "--target-lang", "tgt", "--cpu"],
        input="\n".join(sources) + "\n", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("\nH-") + result.stdout.startswith("H-") == 3
    # from Python, without --user-dir: importing the plugin registers the model (a fresh
    # interpreter: this test session has imported every module of the plugin)
    load = ("import relaxss_fairseq, sys; from fairseq import checkpoint_utils; "
            "models, _, _ = checkpoint_utils.load_model_ensemble_and_task([sys.argv[1]]); "
            "print(type(models[0]).__name__)")
    result = subprocess.run([sys.executable, "-c", load, str(checkpoint)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == "RelaxedTransformerModel"


@pytest.mark.parametrize("mode", ["st_sample", "hard_greedy"])
def test_shared_embeddings_train_and_generate(joined_data_bin, tmp_path, mode):
    log = train(joined_data_bin, tmp_path, "--rollin", mode, "--teacher-forcing-k", "1",
                "--share-all-embeddings", "--rollin-passes", "3", "--first-pass-grad", "False")
    assert_rolled_in(epoch_stats(log))
    generate(joined_data_bin, tmp_path / "checkpoint_last.pt")


def test_resume_continues_the_schedule(toy_data_bin, tmp_path):
    settings = ["--rollin", "soft_sample", "--teacher-forcing-k", "2", "--alpha", "2",
                "--alpha-anneal-rate", "2"]
    straight = epoch_stats(train(toy_data_bin, tmp_path / "straight", *settings, max_epoch=3))
    train(toy_data_bin, tmp_path / "resumed", *settings, max_epoch=2)
    resumed = epoch_stats(train(toy_data_bin, tmp_path / "resumed", *settings, max_epoch=3))
    assert sorted(resumed) == [3]
    # same batches, flips and noise (relaxss_fairseq.exact_resume): equal to the digit
    for key in ("train_tf_prob", "train_alpha", "train_model_fed", "train_loss"):
        assert resumed[3][key] == straight[3][key], key
    assert resumed[3]["train_tf_prob"] == pytest.approx(2 / (2 + math.exp(1.0)), abs=1e-4)


def test_rollin_passes_zero_stops_naming_the_option(toy_data_bin, tmp_path):
    with pytest.raises(AssertionError, match="--rollin-passes must be >= 2"):
        train(toy_data_bin, tmp_path, "--rollin", "soft_greedy", "--rollin-passes", "0")

"""Shared fixtures: a small generated translation task, binarised once per session."""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_DIR = os.path.join(ROOT, "relaxss_fairseq")


def load_script(name: str):
    """scripts/<name>.py as a module (the scripts are no package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(module: str, *args: str, cwd=None) -> str:
    """Run a fairseq command line (``python -m fairseq_cli.<module>``); return its output."""
    command = [sys.executable, "-m", f"fairseq_cli.{module}", *args]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-5000:]}"
        )
    return result.stdout + result.stderr


@pytest.fixture(scope="session")
def toy_data_bin(tmp_path_factory):
    """fairseq-preprocess output of scripts/make_toy_data.py (400 training pairs)."""
    root = tmp_path_factory.mktemp("toy")
    raw, data_bin = root / "raw", root / "bin"
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "make_toy_data.py"), str(raw),
         "--train", "400", "--valid", "40", "--test", "40"],
        check=True, capture_output=True,
    )
    run_cli(
        "preprocess", "--source-lang", "src", "--target-lang", "tgt",
        "--trainpref", str(raw / "train"), "--validpref", str(raw / "valid"),
        "--testpref", str(raw / "test"), "--destdir", str(data_bin), "--workers", "1",
    )
    return data_bin


@pytest.fixture(scope="session")
def toy_checkpoint(toy_data_bin, tmp_path_factory):
    """checkpoint_last.pt of a one-epoch fairseq-train run of a tiny lstm_relaxed,
    with --eval-bleu (whose metrics put numpy arrays into the checkpoint)."""
    save_dir = tmp_path_factory.mktemp("toy_ckpt")
    run_cli(
        "train", str(toy_data_bin), "--user-dir", USER_DIR, "--arch", "lstm_relaxed_paper_mt",
        "--encoder-embed-dim", "16", "--encoder-hidden-size", "16", "--decoder-embed-dim", "16",
        "--decoder-hidden-size", "16", "--decoder-out-embed-dim", "16",
        "--criterion", "relaxed_scheduled_sampling", "--optimizer", "adam", "--lr", "0.005",
        "--max-tokens", "800", "--max-epoch", "1", "--save-dir", str(save_dir), "--cpu",
        "--no-progress-bar", "--eval-bleu", "--eval-bleu-args", '{"beam": 1}',
    )
    return save_dir / "checkpoint_last.pt"

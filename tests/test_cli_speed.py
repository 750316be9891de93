"""scripts/cli_speed.py end to end on the toy data: fairseq-train's own speed records, read
per mode, and the machine they were measured on, so that tables from two machines are never
mixed up."""
import json
import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cli_speed_reads_fairseqs_records_and_names_the_machine(toy_data_bin, tmp_path):
    out = tmp_path / "speed.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "cli_speed.py"), str(toy_data_bin),
         "--updates", "3", "--log-interval", "1", "--max-tokens", "800", "--threads", "1",
         "--modes", "reference", "st_greedy", "--json", str(out)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [row["mode"] for row in report["rows"]] == ["reference", "st_greedy"]
    for row in report["rows"]:
        assert row["records"] == 2  # updates 2 and 3: the first record is the warm-up
        assert row["sec_per_update"] > 0 and row["words_per_sec"] > 0
    assert report["rows"][0]["time_ratio"] == 1.0
    assert report["machine"]["torch"] == torch.__version__
    assert report["machine"]["cores"] == os.cpu_count()
    assert f"machine: {report['machine']['cpu']}" in result.stdout
    assert "| lstm_relaxed_paper_mt, --rollin st_greedy |" in result.stdout

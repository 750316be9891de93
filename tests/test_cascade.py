"""The cascade task: scripts/make_cascade_data.py and the `cascade` table of scripts/sweep.py.

The end-to-end sweep (2 rows x 2 seeds x 1 epoch on 200 sequences, then read back) takes
40-90 s on 2 shared CPU cores."""
import argparse
import json
import os
import subprocess
import sys

import pytest
from conftest import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAKE = os.path.join(ROOT, "scripts", "make_cascade_data.py")


@pytest.fixture(scope="module")
def sweep():
    return load_script("sweep")


@pytest.fixture(scope="module")
def make():
    return load_script("make_cascade_data")


def read_split(folder, split):
    def lines(suffix):
        with open(os.path.join(folder, f"{split}.{suffix}")) as f:
            return [line.split() for line in f]

    return lines("src"), lines("tgt")


def test_targets_are_running_sums_mod_10_of_sources_of_the_asked_lengths(make, tmp_path):
    make.main([str(tmp_path), "--train", "300", "--valid", "20", "--test", "30",
               "--min-len", "3", "--max-len", "7", "--seed", "4"])
    lengths = set()
    for split, n in (("train", 300), ("valid", 20), ("test", 30)):
        sources, targets = read_split(tmp_path, split)
        assert len(sources) == len(targets) == n
        for src, tgt in zip(sources, targets):
            assert 3 <= len(src) <= 7 and len(tgt) == len(src)
            assert set(src) <= set("0123456789")
            total = 0
            for d, y in zip(src, tgt):
                total = (total + int(d)) % 10
                assert int(y) == total  # y_i = (y_{i-1} + d_i) mod 10
            lengths.add(len(src))
    assert lengths == {3, 4, 5, 6, 7}
    assert make.running_sums(["7", "5", "9", "0"]) == ["7", "2", "1", "1"]


def test_the_same_seed_gives_the_same_files_another_seed_others(tmp_path):
    def files(folder, seed):
        subprocess.run([sys.executable, MAKE, str(folder), "--train", "50", "--valid", "5",
                        "--test", "5", "--seed", str(seed)], check=True, capture_output=True)
        return {name: (folder / name).read_text() for name in sorted(os.listdir(folder))}

    first, again = files(tmp_path / "a", 1), files(tmp_path / "b", 1)
    other = files(tmp_path / "c", 2)
    assert len(first) == 6 and first == again and first != other
    assert first["valid.src"] != first["test.src"]  # the splits are not copies of each other


def test_exact_match_and_bleu_of_generate_output(sweep):
    text = ("S-1\t1 2 3\nT-1\t1 3 6\nH-1\t-0.1\t1 3 6\nD-1\t-0.1\t1 3 6\n"
            "S-0\t4 4\nT-0\t4 8\nH-0\t-0.9\t4 9\nP-0\t-0.1 -0.2\n"
            "S-2\t5\nT-2\t5\nH-2\t-0.3\t\n"
            "Generate valid with beam=5: BLEU4 = 41.23, 80.0/50.0/0.0/0.0 (BP=1.000)\n")
    hyps, refs = sweep.generation_pairs(text)
    assert hyps == {"1": "1 3 6", "0": "4 9", "2": ""} and len(refs) == 3
    assert sweep.exact_match(hyps, refs) == pytest.approx(100 / 3)
    assert sweep.bleu4(text) == 41.23 and sweep.bleu4("no score printed") is None
    # over the references longer than training's longest (here 1 and 2 tokens)
    assert sweep.exact_match(hyps, refs, longer_than=1) == pytest.approx(50.0)  # "1 3 6", "4 8"
    assert sweep.exact_match(hyps, refs, longer_than=2) == pytest.approx(100.0)  # "1 3 6"
    assert sweep.exact_match(hyps, refs, longer_than=3) is None  # none that long
    with pytest.raises(ValueError, match="hypotheses"):
        sweep.generation_pairs("T-0\t1 2\nT-1\t3\nH-0\t-1\t1 2\n")


def cascade_options(work, **kw):
    defaults = dict(work=str(work), cascade_train=60, cascade_valid=8, cascade_test=8,
                    cascade_min_len=5, cascade_max_len=12, cascade_data_seed=1,
                    cascade_lr=0.003, cascade_max_tokens=2000, table="cascade", epochs=12,
                    k=None, final_tf=None, plugin_final_tf=False, cascade_schedule_unit="update")
    return argparse.Namespace(**{**defaults, **kw})


def test_the_cascade_rows_and_their_schedule_by_update(sweep, make, tmp_path):
    opts = cascade_options(tmp_path)
    task = sweep.CascadeTask(opts)
    make.main([os.path.join(task.data, "raw"), "--train", "60", "--valid", "8", "--test", "8"])
    per_epoch = task.updates_per_epoch()
    assert 1 <= per_epoch <= 3  # 60 sequences of at most 13 tokens, 2000 tokens a batch
    schedule = sweep.schedule_args(opts, task, argparse.ArgumentParser())
    k = float(schedule[1])
    assert schedule[0] == "--teacher-forcing-k"
    # default: tf_prob 0.15 after the cap of 12 epochs
    t_end = 12 * per_epoch
    assert k / (k + 2.718281828459045 ** (t_end / k)) == pytest.approx(0.15, rel=1e-4)
    plugin = sweep.schedule_args(cascade_options(tmp_path, final_tf=0.2, plugin_final_tf=True),
                                 task, argparse.ArgumentParser())
    assert plugin == ["--teacher-forcing-final", "0.2", "--max-update", str(t_end)]
    rows = dict(sweep.cascade_rows(schedule, 10.0, 0.5))
    assert list(rows) == ["Baseline CE", "Bengio et al. (2015) greedy",
                          "Bengio et al. (2015) sample", "soft greedy",
                          "soft greedy, bounded credit", "soft greedy, detached",
                          "straight-through greedy", "soft sample", "soft sample, bounded credit",
                          "straight-through sample"]
    for name, args in rows.items():
        if name != "Baseline CE":
            assert "--schedule-unit update" in " ".join(args) and schedule[1] in args
    for bounded in ("soft greedy, bounded credit", "soft sample, bounded credit"):
        assert rows[bounded][-2:] == ["--credit-scale", "0.5"]
    assert rows["soft sample, bounded credit"][:2] == ["--rollin", "soft_sample"]
    assert rows["soft greedy, detached"][-2:] == ["--credit-scale", "0"]
    assert rows["straight-through sample"][:2] == ["--rollin", "st_sample"]
    command = " ".join(task.train_command("SAVE", ["--rollin", "soft_greedy"]))
    for piece in ("--arch lstm_relaxed_paper_ner", "--criterion relaxed_scheduled_sampling",
                  "--optimizer adam --lr 0.003 --clip-norm 5 --max-tokens 2000 --cpu",
                  "--required-batch-size-multiple 1 --eval-bleu", "--best-checkpoint-metric bleu",
                  "--maximize-best-checkpoint-metric", "--save-dir SAVE"):
        assert piece in command
    assert command.endswith("--rollin soft_greedy")


def test_the_cascade_schedule_by_epoch_is_the_demos(sweep, make, tmp_path):
    """--cascade-schedule-unit epoch: k derived over --epochs - 1 completed epochs (the
    demo's --teacher-forcing-final 0.25 at epoch 12 is k = 4.3011), every roll-in by epoch,
    and the plugin's own --teacher-forcing-final without an update budget."""
    opts = cascade_options(tmp_path, final_tf=0.25, cascade_schedule_unit="epoch")
    task = sweep.CascadeTask(opts)
    make.main([os.path.join(task.data, "raw"), "--train", "60", "--valid", "8", "--test", "8"])
    schedule = sweep.schedule_args(opts, task, argparse.ArgumentParser())
    assert schedule == ["--teacher-forcing-k", "4.3011"]
    rows = dict(sweep.cascade_rows(schedule, 10.0, 0.5, "epoch"))
    for name, args in rows.items():
        if name != "Baseline CE":
            assert " ".join(args).count("--schedule-unit") == 1
            assert "--schedule-unit epoch --teacher-forcing-k 4.3011" in " ".join(args)
    plugin = sweep.schedule_args(
        cascade_options(tmp_path, final_tf=0.25, plugin_final_tf=True,
                        cascade_schedule_unit="epoch"), task, argparse.ArgumentParser())
    assert plugin == ["--teacher-forcing-final", "0.25"]


def test_prepared_data_is_reused_only_when_made_the_same_way(sweep, tmp_path):
    opts = cascade_options(tmp_path)
    task = sweep.CascadeTask(opts)
    task.prepare()  # generator + fairseq-preprocess (a few seconds)
    assert all(os.path.exists(os.path.join(task.bin, f"{split}.src-tgt.{lang}.bin"))
               for split in ("train", "valid", "test") for lang in ("src", "tgt"))
    dictionary = open(os.path.join(task.bin, "dict.src.txt")).read().split()[::2]
    assert sorted(dictionary)[:10] == [str(d) for d in range(10)]
    task.prepare()  # same sizes: nothing to do
    with pytest.raises(SystemExit, match="another --work"):
        sweep.CascadeTask(cascade_options(tmp_path, cascade_train=61)).prepare()


def test_sweep_cascade_end_to_end_and_read_back(tmp_path):
    work = tmp_path / "work"
    command = [sys.executable, os.path.join(ROOT, "scripts", "sweep.py"), "cascade",
               "--work", str(work), "--epochs", "1", "--seeds", "2", "--parallel", "2",
               "--cascade-train", "200", "--cascade-valid", "30", "--cascade-test", "30",
               "--cascade-max-len", "8", "--cascade-eval-max-len", "12",
               "--only", "Baseline CE", "soft greedy", "--gold-warmup-epochs", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "run 4/4" in out.stdout and "epoch 1 dev" in out.stdout
    record = json.loads((work / "results.json").read_text())
    assert len(record["runs"]) == 4 and (work / "curves.png").exists()
    for run in record["runs"]:
        assert 0.0 <= run["dev"] <= 100.0 and set(run["metrics"]) == {
            f"{split}_{score}_beam{beam}" for split in ("dev", "test")
            for score in ("exact", "bleu") for beam in (1, 5)} | {
            f"{split}_exact_beam{beam}_longer" for split in ("dev", "test") for beam in (1, 5)} | {
            f"{split}_{score}" for split in ("dev", "test")
            for score in ("recovered", "followed", "next_recovered", "rest_recovered")}
        assert run["epochs"] == 1 and run["curve"][0]["gnorm"] is not None
    soft = [r for r in record["runs"] if r["name"] == "soft greedy"]
    assert all(r["curve"][0]["model_fed"] > 0 for r in soft)  # it did feed itself
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and again.stdout.count("finished earlier, read back") == 4

    # the results alone, without the work folder, read back into a new one: from the
    # sweep's results.json, or from a folder of one file a run (as committed under results/)
    folder = tmp_path / "committed"
    folder.mkdir()
    for run in record["runs"]:
        (folder / f"{run['name'].replace(' ', '_')}.seed{run['seed']}.json").write_text(
            json.dumps(run))
    for source in (work / "results.json", folder):
        elsewhere = tmp_path / f"from_{source.name}"
        moved = [str(elsewhere) if arg == str(work) else arg for arg in command]
        out = subprocess.run([*moved, "--read-back-from", str(source)],
                             capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "4 finished runs put in" in out.stdout
        assert out.stdout.count("finished earlier, read back") == 4
        assert "epoch 1 dev" not in out.stdout  # nothing trained
    # a row given another setting: its runs are not read back but trained, the others are
    other = [str(tmp_path / "other") if arg == str(work) else arg for arg in command]
    changed = subprocess.run([*other, "--row-args", "soft greedy=--alpha 3",
                              "--read-back-from", str(folder)],
                             capture_output=True, text=True, env=env)
    assert changed.returncode == 0, changed.stdout[-3000:] + changed.stderr[-3000:]
    assert "2 finished runs put in" in changed.stdout
    for seed in (1, 2):
        assert f"not soft greedy seed {seed}, made with args" in changed.stdout
        assert f"Baseline CE seed {seed}: finished earlier, read back" in changed.stdout
        assert f"soft greedy seed {seed}: epoch 1 dev" in changed.stdout


def test_valid_and_test_can_hold_longer_sequences_than_training(tmp_path, make):
    make.main([str(tmp_path), "--train", "200", "--valid", "50", "--test", "50",
               "--min-len", "3", "--max-len", "6", "--eval-max-len", "15"])
    lengths = {split: [len(src) for src in read_split(tmp_path, split)[0]]
               for split in ("train", "valid", "test")}
    assert max(lengths["train"]) <= 6
    assert max(lengths["valid"] + lengths["test"]) > 6
    assert max(lengths["valid"] + lengths["test"]) <= 15

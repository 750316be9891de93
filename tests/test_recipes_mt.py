"""The MT recipes (examples/multi30k, examples/iwslt14, examples/mt_common.sh) end to end
on tiny raw data written by the tests, plus 2-process CPU (gloo) data-parallel training."""
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

EXAMPLES = os.path.join(ROOT, "examples")
TINY_MODEL = [
    "--encoder-embed-dim", "16", "--encoder-hidden-size", "16", "--decoder-embed-dim", "16",
    "--decoder-hidden-size", "16", "--decoder-out-embed-dim", "16",
    "--decoder-attention-dim", "16", "--max-tokens", "1000",
]

# -- tiny German/English-looking parallel text --------------------------------------------

SUBJECTS = [("Ein Mann", "A man"), ("Eine Frau", "A woman"), ("Ein Kind", "A child"),
            ("Ein Hund", "A dog"), ("Zwei Männer", "Two men"), ("Ein Mädchen", "A girl")]
VERBS = [("spielt", "plays"), ("sieht", "sees"), ("trägt", "carries"), ("hält", "holds"),
         ("sucht", "looks for")]
OBJECTS = [("einen Ball", "a ball"), ("ein rotes Auto", "a red car"), ("eine Gitarre", "a guitar"),
           ("einen Hut", "a hat"), ("ein großes Buch", "a big book"), ("eine Katze", "a cat")]
PLACES = [("", ""), (" im Park", " in the park"), (" auf der Straße", " on the street"),
          (" am Strand", " at the beach")]


def sentence_pairs(n, seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        (sd, se), (vd, ve), (od, oe), (pd, pe) = (
            rng.choice(x) for x in (SUBJECTS, VERBS, OBJECTS, PLACES))
        if sd.startswith("Zwei"):  # plural agreement, so the task is not word-for-word
            vd, ve = {"spielt": ("spielen", "play"), "sieht": ("sehen", "see"),
                      "trägt": ("tragen", "carry"), "hält": ("halten", "hold"),
                      "sucht": ("suchen", "look for")}[vd]
        pairs.append((f"{sd} {vd} {od}{pd}.", f"{se} {ve} {oe}{pe}."))
    return pairs


# valid/test sizes that are not multiples of 8: fairseq's default
# --required-batch-size-multiple 8 would silently drop the last sentences (issue #5036)
SIZES = {"train": 300, "valid": 43, "test": 37}


def write_multi30k_raw(raw_dir):
    """train/val/test.{de,en} as Multi30k names them."""
    os.makedirs(raw_dir, exist_ok=True)
    sizes = (("train", SIZES["train"]), ("val", SIZES["valid"]), ("test", SIZES["test"]))
    for i, (split, n) in enumerate(sizes):
        pairs = sentence_pairs(n, seed=i)
        for lang, k in (("de", 0), ("en", 1)):
            with open(os.path.join(raw_dir, f"{split}.{lang}"), "w", encoding="utf-8") as f:
                f.writelines(p[k] + "\n" for p in pairs)


def run_in_own_group(command, timeout, **kwargs):
    """``subprocess.run`` in a new process group that is killed whole on a timeout:
    a recipe or torchrun's workers would otherwise outlive it (a rank waiting for a
    peer that is gone waits forever)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, **kwargs)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_recipe(script, *args, env=None, timeout=300):
    """Run a recipe step with this interpreter; return its output (stdout + stderr)."""
    full_env = dict(os.environ)
    full_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full_env.get("PATH", "")
    # one thread per process: 2-core machines running other jobs slow OpenMP down a lot
    full_env.update({"PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"})
    full_env.update(env or {})
    command = ["bash", os.path.join(EXAMPLES, script), *map(str, args)]
    result = run_in_own_group(command, timeout, env=full_env)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{output[-6000:]}")
    return output


def count_lines(path):
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


@pytest.fixture(scope="module")
def multi30k_data(tmp_path_factory):
    """examples/multi30k/prepare.sh on 300/43/37 generated pairs, spm vocab 120."""
    root = tmp_path_factory.mktemp("multi30k")
    write_multi30k_raw(root / "raw")
    out = run_recipe("multi30k/prepare.sh", root / "data", root / "raw", env={"SPM_VOCAB": "120"})
    return root / "data", out


# -- (a) Multi30k: prepare -> train -> generate -> sacreBLEU ------------------------------


def test_multi30k_recipe_end_to_end(multi30k_data, tmp_path):
    data, prepare_out = multi30k_data
    assert re.search(r"counted tokens with: (sacremoses|whitespace)", prepare_out)
    for split, n in SIZES.items():
        for lang in ("de", "en"):
            assert count_lines(data / "text" / f"{split}.{lang}") == n
            assert (data / "bin" / f"{split}.de-en.{lang}.bin").is_file()
    assert (data / "bin" / "dict.de.txt").read_text() == (data / "bin" / "dict.en.txt").read_text()
    # untokenized, cased text in, pieces out
    assert "ä" in (data / "text" / "train.de").read_text(encoding="utf-8")
    assert "\u2581" in (data / "spm" / "train.en").read_text()

    save = tmp_path / "ckpt"
    train_out = run_recipe(
        "multi30k/train.sh", data, save, "--max-epoch", "1", *TINY_MODEL, "--lr", "0.01",
        env={"ROLLIN": "soft_sample", "K": "1", "ALPHA": "2"},
    )
    assert "no GPU: --cpu" in train_out
    assert re.search(r"\| valid \| epoch 001 \|", train_out)
    assert (save / "checkpoint_last.pt").is_file() and (save / "checkpoint_best.pt").is_file()
    stats = json.loads((save / "train_stats.json").read_text())
    assert stats["epochs"] == [1] and "seconds_per_epoch" in stats

    for split in ("valid", "test"):
        n = SIZES[split]
        gen_out = run_recipe("multi30k/generate.sh", data, save / "checkpoint_best.pt", split)
        assert re.search(rf"{split}: BLEU = \d+\.\d+", gen_out)
        assert re.search(r"sacreBLEU signature: nrefs:1\|case:mixed\|eff:no\|tok:13a\|"
                         r"smooth:exp\|version:\d", gen_out)
        hyps = (save / f"checkpoint_best.{split}.hyp").read_text(encoding="utf-8").splitlines()
        assert len(hyps) == n
        assert not any("\u2581" in h for h in hyps)  # sentencepiece decoded
    scores = json.loads((save / "checkpoint_best.bleu.json").read_text())
    assert set(scores) >= {"valid", "test", "run", "checkpoint"}
    assert 0.0 <= scores["test"]["bleu"] <= 100.0

    table = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bleu_table.py"),
                            str(save), "--names", "tiny"], capture_output=True, text=True,
                           check=True).stdout
    assert "| run | valid BLEU | test BLEU | s/epoch | epochs |" in table
    assert re.search(rf"\| tiny \| {scores['valid']['bleu']:.2f} \| {scores['test']['bleu']:.2f} \|"
                     r" \d+\.\d \| 1 \|", table)


# -- (b) IWSLT14: prepare from a local raw release ----------------------------------------


def write_iwslt_release(folder, n_sentences=100):
    """A miniature de-en release: train.tags.de-en.{de,en} with the tag lines of the real
    files, and the five dev/test xml files. Returns the expected sizes."""
    os.makedirs(folder, exist_ok=True)
    pairs = sentence_pairs(n_sentences, seed=7)
    # two pairs the length filter must drop: ratio > 1.5, and > 175 tokens
    pairs.insert(10, ("Ja.", "Yes, yes, yes, I really do think so."))
    pairs.insert(50, (" ".join(["Wort"] * 180) + ".", " ".join(["word"] * 180) + "."))
    talks = [pairs[:60], pairs[60:]]
    for lang, k in (("de", 0), ("en", 1)):
        with open(os.path.join(folder, f"train.tags.de-en.{lang}"), "w", encoding="utf-8") as f:
            for t, talk in enumerate(talks):
                f.write(f"<url>http://www.ted.com/talks/talk{t}.html</url>\n")
                f.write(f"<keywords>talks, {lang}</keywords>\n")
                f.write(f"<talkid>{t}</talkid>\n")
                title = ("Der Titel eines Vortrags", "The title of a talk")[k]
                f.write(f"<title>{title}</title>\n")
                desc = ("Eine kurze Beschreibung des Vortrags.",
                        "A short description of the talk.")[k]
                f.write(f"<description>{desc}</description>\n")
                f.writelines(p[k] + "\n" for p in talk)
    # raw training lines kept by the tag cleaning: per talk, title + description + sentences
    raw_train = 2 * 2 + len(pairs)
    kept = raw_train - 2
    test_sets = {"IWSLT14.TED.dev2010": 5, "IWSLT14.TEDX.dev2012": 4, "IWSLT14.TED.tst2010": 6,
                 "IWSLT14.TED.tst2011": 3, "IWSLT14.TED.tst2012": 7}
    for s, (name, n) in enumerate(test_sets.items()):
        seg_pairs = sentence_pairs(n, seed=100 + s)
        for lang, k in (("de", 0), ("en", 1)):
            with open(os.path.join(folder, f"{name}.de-en.{lang}.xml"), "w", encoding="utf-8") as f:
                f.write('<?xml version="1.0" encoding="UTF-8"?>\n<mteval>\n')
                f.write(f'<srcset setid="{name}" srclang="german">\n')
                f.write('<doc docid="1" genre="lectures">\n')
                f.write("<url>http://www.ted.com/talks/x.html</url>\n<talkid>1</talkid>\n")
                for i, p in enumerate(seg_pairs, start=1):
                    text = p[k].replace("'", "\u2019")
                    f.write(f'<seg id="{i}"> {text} </seg>\n')
                f.write("</doc>\n</srcset>\n</mteval>\n")
    # the cleaned training text, in order: per talk, title, description, kept sentences
    cleaned = []
    for talk in talks:
        cleaned += [("der titel eines vortrags", "the title of a talk"),
                    ("eine kurze beschreibung des vortrags.", "a short description of the talk.")]
        cleaned += [(d.lower(), e.lower()) for d, e in talk if not d.startswith(("Ja.", "Wort"))]
    assert len(cleaned) == kept
    return {"raw": raw_train, "kept": kept, "valid": kept // 23, "train": kept - kept // 23,
            "cleaned": cleaned, "test": sum(test_sets.values()),
            "first_test": sentence_pairs(5, seed=100)[0]}


@pytest.mark.parametrize("layout", ["folder", "tgz"])
def test_iwslt14_prepare_from_local_release(tmp_path, layout):
    expected = write_iwslt_release(tmp_path / "release" / "de-en")
    raw = tmp_path / "release" / "de-en"
    if layout == "tgz":  # the downloaded archive, as DATA_DIR/orig/de-en.tgz would hold it
        shutil.make_archive(str(tmp_path / "archive" / "de-en"), "gztar",
                            tmp_path / "release", "de-en")
        os.rename(tmp_path / "archive" / "de-en.tar.gz", tmp_path / "archive" / "de-en.tgz")
        raw = tmp_path / "archive"
    data = tmp_path / "data"
    out = run_recipe("iwslt14/prepare.sh", data, raw, env={"SPM_VOCAB": "150"})
    assert f"using the local release at {raw} (not downloading)" in out
    assert not (data / "orig").exists()
    text = data / "text"
    for lang in ("de", "en"):
        assert count_lines(text / f"train.{lang}") == expected["train"]
        assert count_lines(text / f"valid.{lang}") == expected["valid"]
        assert count_lines(text / f"test.{lang}") == expected["test"]
    report = json.loads((text / "prepare.json").read_text())
    assert report["sizes"]["raw training pairs"] == expected["raw"]
    assert report["sizes"]["kept by the length filter"] == expected["kept"]
    assert report["lowercase"] is True
    train_de = (text / "train.de").read_text(encoding="utf-8")
    assert "<" not in train_de and "talks," not in train_de  # tag lines dropped
    assert "der titel eines vortrags" in train_de  # <title> text kept (as fairseq), lowercased
    assert "wort wort" not in train_de and "yes, yes" not in (text / "train.en").read_text()
    # valid = every 23rd line (23rd, 46th, ...) of the cleaned training text, train = the rest
    cleaned = expected["cleaned"]
    for lang, k in (("de", 0), ("en", 1)):
        valid_lines = (text / f"valid.{lang}").read_text(encoding="utf-8").splitlines()
        train_lines = (text / f"train.{lang}").read_text(encoding="utf-8").splitlines()
        assert valid_lines == [p[k] for p in cleaned[22::23]]
        assert train_lines == [p[k] for i, p in enumerate(cleaned, start=1) if i % 23]
    # test starts with dev2010, apostrophes made ASCII, lowercased
    assert (text / "test.en").read_text(encoding="utf-8").splitlines()[0] == \
        expected["first_test"][1].lower()
    assert "\u2019" not in (text / "test.en").read_text(encoding="utf-8")
    for split in ("train", "valid", "test"):
        for lang in ("de", "en"):
            assert (data / "bin" / f"{split}.de-en.{lang}.bin").is_file()
            assert (data / "bin" / f"{split}.de-en.{lang}.idx").is_file()
    assert (data / "spm" / "spm.model").is_file()


def test_iwslt14_prepare_without_network_or_raw_dir_says_so(tmp_path):
    """No RAW_DIR and an unreachable URL: a clear message naming RAW_DIR, no traceback hunt."""
    env = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "no_proxy": "", "NO_PROXY": ""}
    with pytest.raises(AssertionError, match="pass the raw release as RAW_DIR"):
        run_recipe("iwslt14/prepare.sh", tmp_path / "data", env=env, timeout=120)


# -- (c) 2 CPU processes, gloo ------------------------------------------------------------


def test_two_process_gloo_cpu_training(multi30k_data, tmp_path):
    data, _ = multi30k_data
    save = tmp_path / "ckpt"
    out = run_recipe(
        "multi30k/train.sh", data, save, "--max-epoch", "2", *TINY_MODEL, "--log-format", "json",
        env={"CPU_PROCS": "2", "ROLLIN": "soft_sample", "K": "1"},
    )
    assert "no GPU: 2 CPU processes (gloo, torchrun)" in out
    assert "distributed init (rank 0)" in out and "distributed init (rank 1)" in out
    assert "training on 2 devices" in out
    valid = [json.loads(m) for m in re.findall(r"\| valid \| (\{.*\})", out)]
    train = [json.loads(m) for m in re.findall(r"\| train \| (\{.*\})", out)]
    assert [int(v["epoch"]) for v in valid] == [1, 2]
    assert [int(t["epoch"]) for t in train] == [1, 2]
    assert float(train[1]["train_tf_prob"]) == pytest.approx(1 / (1 + math.e), abs=1e-3)
    assert float(train[1]["train_model_fed"]) > 0
    assert (save / "checkpoint_last.pt").is_file() and (save / "checkpoint_best.pt").is_file()
    # the checkpoint rank 0 wrote is an ordinary one: generate.sh loads and scores it
    gen_out = run_recipe("multi30k/generate.sh", data, save / "checkpoint_last.pt", "test")
    assert re.search(r"test: BLEU = \d+\.\d+", gen_out)


TINY_TRANSFORMER = [
    "--encoder-embed-dim", "16", "--encoder-ffn-embed-dim", "32", "--encoder-layers", "1",
    "--encoder-attention-heads", "2", "--decoder-embed-dim", "16", "--decoder-ffn-embed-dim", "32",
    "--decoder-layers", "1", "--decoder-attention-heads", "2", "--max-tokens", "1000",
]


def test_two_process_gloo_cpu_training_of_the_transformer(multi30k_data, tmp_path):
    """ARCH=transformer_relaxed_*: the recipe's Transformer settings, 2 gloo processes."""
    data, _ = multi30k_data
    save = tmp_path / "ckpt"
    out = run_recipe(
        "multi30k/train.sh", data, save, "--max-epoch", "2", *TINY_TRANSFORMER,
        "--log-format", "json",
        env={"CPU_PROCS": "2", "ROLLIN": "soft_greedy", "K": "1",
             "ARCH": "transformer_relaxed_iwslt_de_en", "WARMUP_UPDATES": "10"},
    )
    assert "training on 2 devices" in out
    assert "--lr-scheduler inverse_sqrt --warmup-updates 10" in out
    assert "--share-decoder-input-output-embed" in out and "--label-smoothing 0.1" in out
    train = [json.loads(m) for m in re.findall(r"\| train \| (\{.*\})", out)]
    assert [int(t["epoch"]) for t in train] == [1, 2]
    assert float(train[1]["train_tf_prob"]) == pytest.approx(1 / (1 + math.e), abs=1e-3)
    assert float(train[1]["train_model_fed"]) > 0
    gen_out = run_recipe("multi30k/generate.sh", data, save / "checkpoint_last.pt", "test")
    assert re.search(r"test: BLEU = \d+\.\d+", gen_out)


def test_transformer_comparison_picks_the_best_relaxed_rollin_on_dev(multi30k_data, tmp_path):
    """examples/multi30k/transformer_compare.sh: five roll-ins on dev with seed 1, then CE
    against the relaxed one with the best dev BLEU over SEEDS seeds, the seed-1 runs read
    back, not trained again."""
    data, _ = multi30k_data
    work = tmp_path / "compare"
    size = " ".join(TINY_TRANSFORMER[:-2])  # without --max-tokens: the recipe's own
    out = run_recipe("multi30k/transformer_compare.sh", data, work, timeout=900,
                     env={"SIZE": size, "SEEDS": "2", "EPOCHS": "2", "WARMUP_UPDATES": "10",
                          "MAX_TOKENS": "1000", "ALPHA": "3"})
    modes = json.loads((work / "modes.json").read_text())
    relaxed = ["alpha-soft fixed greedy", "alpha-soft fixed greedy, detached",
               "straight-through greedy"]
    assert sorted(s["name"] for s in modes["summary"]) == sorted(
        ["Baseline CE", "Bengio et al. (2015) greedy", *relaxed])
    best = max((s for s in modes["summary"] if s["name"] in relaxed), key=lambda s: s["dev_mean"])
    assert f"best relaxed roll-in on dev (seed 1): {best['name']}" in out
    comparison = json.loads((work / "comparison.json").read_text())
    assert {s["name"]: s["n_seeds"] for s in comparison["summary"]} == {
        "Baseline CE": 2, best["name"]: 2}
    assert out.count("finished earlier, read back") == 2  # CE and the best row, seed 1
    run_log = (work / "runs" / "runs" / "baseline_ce.seed2" / "run.log").read_text()
    # the protocol's plateau decay comes last (fairseq's reduce_lr_on_plateau, with the
    # recipe's linear warm-up), then the sizes
    assert re.search(r"--arch transformer_relaxed .*--warmup-updates 10 .*--seed 2 .*"
                     r"--lr-scheduler reduce_lr_on_plateau .*--encoder-layers 1 ", run_log)
    assert (work / "comparison.md").read_text().count("| Baseline CE |") >= 1
    soft_log = (work / "runs" / "runs" / "alpha_soft_fixed_greedy.seed1" / "run.log").read_text()
    arguments = re.search(r"arguments \(later ones win\): (.*)", soft_log).group(1)
    assert float(re.findall(r"--alpha (\S+)", arguments)[-1]) == 3.0  # ALPHA sets the rows' alpha


RANK_SCRIPT = textwrap.dedent("""
    import json, sys
    import torch
    import torch.distributed as dist
    sys.path.insert(0, sys.argv[1])  # tests/, for helpers.py
    from helpers import TinyTask, criterion_for
    from relaxss import draw_model_feed, gumbel_noise

    dist.init_process_group("gloo")
    crit = criterion_for(TinyTask(), rollin="soft_sample", teacher_forcing_k=2.0,
                         alpha=2.0, alpha_anneal_rate=1.5)
    epoch, num_updates = 3, 17
    rollin = crit.rollin_at(epoch, num_updates, crit.rollin_generator(torch.device("cpu"), num_updates))
    flips = draw_model_feed(4, 6, rollin.tf_prob, rollin.generator)
    noise = gumbel_noise(torch.zeros(3, 5), rollin.generator)
    record = {"rank": dist.get_rank(), "tf_prob": rollin.tf_prob, "alpha": rollin.alpha,
              "flips": flips.int().tolist(), "noise": noise.tolist()}
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, record)
    if dist.get_rank() == 0:
        with open(sys.argv[2], "w") as f:
            json.dump(gathered, f)
    dist.destroy_process_group()
""")


def test_ranks_share_the_schedule_but_not_the_noise(tmp_path):
    script, out = tmp_path / "ranks.py", tmp_path / "ranks.json"
    script.write_text(RANK_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    # generous: two processes importing torch and fairseq on a loaded 2-core machine
    result = run_in_own_group(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), os.path.join(ROOT, "tests"), str(out)], timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    r0, r1 = json.loads(out.read_text())
    assert (r0["rank"], r1["rank"]) == (0, 1)
    assert r0["tf_prob"] == r1["tf_prob"] == pytest.approx(2 / (2 + math.exp(2 / 2)))
    assert r0["alpha"] == r1["alpha"] == pytest.approx(2.0 * 1.5 ** 2)
    assert r0["flips"] != r1["flips"]
    assert r0["noise"] != r1["noise"]


def test_tuned_mt_table_searches_coordinates_and_shares_counterparts(multi30k_data, tmp_path):
    """examples/multi30k/table1_tuned.sh with one value per grid: soft greedy's warm-up, alpha
    and clip grids and straight-through greedy's alpha grid start from the earlier grid's best, the sample and annealed rows take their
    greedy counterpart's settings (the annealed ones without its alpha), and every tuned
    row's seed-1 run in the table is its tuning run, read back."""
    data, _ = multi30k_data
    work = tmp_path / "t1"
    out = run_recipe("multi30k/table1_tuned.sh", data, work, timeout=1500,
                     env={"UNITS": "16", "EPOCHS": "2", "SEEDS": "1", "MAX_TOKENS": "1000",
                          "FINALS": "0.5", "WARMUPS": "0", "ALPHAS": "1", "CE_CLIPS": "25", "CLIPS": "1",
                          "CREDIT_SCALES": "0.25"})
    settings = json.loads((work / "settings.json").read_text())
    soft = settings["alpha-soft fixed greedy"].split()
    assert soft[:2] == ["--teacher-forcing-final", "0.5"]
    # the clip grid ran from the alpha grid's best, so it is in every later row
    best_alpha = json.loads((work / "tune" / "soft_greedy_alpha_best.json").read_text())
    if "--clip-norm" in soft:
        assert " ".join(soft[:-2]) == best_alpha["alpha-soft fixed greedy"]
    assert settings["alpha-soft fixed sample"] == settings["alpha-soft fixed greedy"]
    assert settings["alpha-soft fixed greedy, detached"] == settings["alpha-soft fixed greedy"]
    assert settings["alpha-soft fixed greedy, bounded credit"] == (
        settings["alpha-soft fixed greedy"] + " --credit-scale 0.25")
    # the warm-up grid ran for each greedy row, from its share grid's best
    for row in ("soft_greedy", "bengio_greedy", "st_greedy"):
        (share,) = json.loads((work / "tune" / row / "grid_best.json").read_text()).values()
        warmup = json.loads((work / "tune" / f"{row}_warmup" / "grid.json").read_text())
        assert [point["row_args"] for point in warmup["summary"]] == [
            [*share.split(), "--gold-warmup-epochs", "0"]]
    # straight-through greedy's alpha grid ran from its schedule grids' best
    (st_best,) = json.loads((work / "tune" / "st_greedy_best.json").read_text()).values()
    st_alpha = json.loads((work / "tune" / "st_greedy_alpha" / "grid.json").read_text())
    assert [point["row_args"] for point in st_alpha["summary"]] == [
        [*st_best.split(), "--alpha", "1"]]
    assert settings["straight-through sample"] == settings["straight-through greedy"]
    assert settings["alpha-soft annealed greedy"] == re.sub(
        r"--alpha \S+ ?", "", settings["alpha-soft fixed greedy"]).strip()
    assert settings["alpha-soft annealed sample"] == settings["alpha-soft annealed greedy"]
    assert settings["Bengio et al. (2015) sample"] == settings["Bengio et al. (2015) greedy"]
    assert settings["Baseline CE"] == "--clip-norm 25"
    table = json.loads((work / "table" / "results.json").read_text())
    assert len(table["summary"]) == 11 and not any(s.get("failed") for s in table["summary"])
    # CE, Bengio greedy, straight-through greedy, soft greedy and bounded: read back
    assert out.count("finished earlier, read back") == 5
    run_log = (work / "table" / "runs" / "alpha_soft_fixed_sample.seed1" / "run.log").read_text()
    # the base --clip-norm 5 and the sizes, then the row's borrowed settings
    assert re.search(r"--rollin soft_sample .*--max-tokens 1000 --clip-norm 5 "
                     r".*--decoder-attention-dim 16 .*--teacher-forcing-final 0.5", run_log)


BEST_OF = """
source "$1/examples/table1_tuning.sh"
ROOT=$1
WORK=$2
best_of "$WORK/best.json" "row" first second
"""


def test_best_of_takes_the_best_dev_score_over_several_grids(tmp_path):
    """A coordinate search's best may be in an earlier grid than the last one."""
    for grid, points in (("first", [("a", 70.0), ("b", 72.5)]),
                         ("second", [("c", 71.0), ("d", 90.0, True)])):  # d failed
        os.makedirs(tmp_path / "tune" / grid)
        summary = [{"name": f"row [{p[0]}]", "row_args": ["--x", p[0]], "dev_mean": p[1],
                    **({"failed": True} if len(p) > 2 else {})} for p in points]
        (tmp_path / "tune" / grid / "grid.json").write_text(json.dumps({"summary": summary}))
    result = subprocess.run(["bash", "-c", BEST_OF, "-", ROOT, str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "best.json").read_text()) == {"row": "--x b"}


CONVERGENCE_CHECK = """
source "$1/examples/table1_tuning.sh"
ROOT=$1
WORK=$2
TABLE=mt-table1
SEEDS=3
SWEEP=(--mt-data "$2/data" --epochs 12 --final-tf 0.75 --plugin-final-tf --list)
convergence_check 24
"""


def test_convergence_check_retrains_ce_bengio_and_the_best_relaxed_row(tmp_path):
    """Stage 4 of both tuned-table recipes: CE, Bengio greedy and the relaxed row with the
    best mean dev score (a failed row is not a candidate, however high its partial mean),
    with the table's settings, at the longer cap; no candidate: an error, nothing run."""
    def check(summary):
        os.makedirs(tmp_path / "table", exist_ok=True)
        (tmp_path / "table" / "results.json").write_text(json.dumps({"summary": summary}))
        return subprocess.run(["bash", "-c", CONVERGENCE_CHECK, "-", ROOT, str(tmp_path)],
                              capture_output=True, text=True, timeout=120)

    (tmp_path / "settings.json").write_text(json.dumps(
        {"Baseline CE": "--clip-norm 1", "straight-through greedy": "--alpha 1"}))
    rows = [("Baseline CE", 35.5), ("Bengio et al. (2015) greedy", 35.9),
            ("Bengio et al. (2015) sample", 36.5), ("alpha-soft fixed greedy", 35.2),
            ("straight-through greedy", 35.6), ("alpha-soft fixed sample", 40.0, True)]
    result = check([{"name": r[0], "dev_mean": r[1], **({"failed": True} if len(r) > 2 else {})}
                    for r in rows])
    assert result.returncode == 0, result.stderr
    listed = [line.split(":")[0] for line in result.stdout.splitlines()
              if line.startswith(("Baseline", "Bengio", "alpha", "straight"))]
    assert listed == ["Baseline CE", "Bengio et al. (2015) greedy", "straight-through greedy"]
    assert "--max-epoch 24" in result.stdout and "seeds 1..3" in result.stdout
    assert re.search(r"straight-through greedy: .*--alpha 1$", result.stdout, re.M)

    result = check([{"name": "Baseline CE", "dev_mean": 35.5}])
    assert result.returncode != 0 and "no rows for the convergence check" in result.stderr

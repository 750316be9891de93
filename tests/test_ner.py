"""NER as sequence-to-sequence: CoNLL reader, fixed attention, exact-length
tagging, span F1, and the recipe end to end."""
import os
import random
import subprocess
import sys

import pytest
import torch
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from relaxss import Rollin
from relaxss_fairseq.models.attention import FixedPositionAttention
from relaxss_fairseq.tasks.conll import ConllFormatError, iob1_to_iob2, read_conll
from relaxss_fairseq.tasks.ner_tagging import ExactLengthTagger
from relaxss_fairseq.tasks.span_f1 import precision_recall_f1, scores_by_type, span_counts

from conftest import ROOT, USER_DIR
from helpers import TinyTask, random_batch


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


# -- reader --------------------------------------------------------------------------


def test_reads_english_and_german_layouts(tmp_path):
    english = write(tmp_path, "en.txt", "-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nPeter B-PER\n")
    german = write(
        tmp_path, "de.txt",
        "-DOCSTART- -X- -X- -X- O\n\nDüsseldorf Düsseldorf NE I-NC I-LOC\nliegt liegen VVFIN I-VC O\n\n",
        encoding="latin-1",
    )
    assert [(s.tokens, s.tags, s.line) for s in read_conll(english)] == [
        (["EU", "rejects"], ["B-ORG", "O"], 3), (["Peter"], ["B-PER"], 6)
    ]
    (sentence,) = read_conll(german, encoding="latin-1")
    assert sentence.tokens == ["Düsseldorf", "liegt"] and sentence.tags == ["I-LOC", "O"]


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("EU B-ORG\nrejects\n", 2, "expected at least 2 columns"),
        ("EU NNP B-ORG\nrejects O\n", 2, "counts would differ"),
        ("EU B-ORG\n\nfoo O\nbar PERSON\n", 4, "not O, B-TYPE or I-TYPE"),
        ("EU B-ORG\n-DOCSTART- O\n", 2, "-DOCSTART- inside a sentence"),
    ],
)
def test_malformed_input_is_reported_with_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(ConllFormatError, match=f"{path}:{line}: .*{message}"):
        read_conll(path)


def test_prepare_script_reports_errors_and_wrong_encodings(tmp_path):
    bad = write(tmp_path, "bad.txt", "EU B-ORG\nrejects O O\n")
    latin = write(tmp_path, "latin.txt", "Düsseldorf B-LOC\n", encoding="latin-1")
    script = os.path.join(ROOT, "scripts", "prepare_conll.py")
    for path, expected in ((bad, f"{bad}:2:"), (latin, "--encoding latin-1")):
        result = subprocess.run(
            [sys.executable, script, "--train", path, "--valid", path, "--out-dir", str(tmp_path / "o")],
            capture_output=True, text=True,
        )
        assert result.returncode != 0 and expected in result.stderr


def test_iob1_becomes_iob2():
    tags = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-ORG"]
    assert iob1_to_iob2(tags) == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG"]
    assert iob1_to_iob2(["B-PER", "I-PER", "O"]) == ["B-PER", "I-PER", "O"]


# -- span F1 ----------------------------------------------------------------------------

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-MISC", "I-MISC", "O"], ["I-LOC", "O"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "B-MISC", "O", "O"], ["B-LOC", "O"]]


def test_span_f1_agrees_with_seqeval():
    counts = span_counts(GOLD, PRED)
    p, r, f = precision_recall_f1(counts["correct"], counts["predicted"], counts["gold"])
    assert p == pytest.approx(100 * precision_score(GOLD, PRED))
    assert r == pytest.approx(100 * recall_score(GOLD, PRED))
    assert f == pytest.approx(100 * f1_score(GOLD, PRED))
    assert 0 < f < 100
    report = classification_report(GOLD, PRED, output_dict=True)
    for entity, (tp, tr, tf, support) in scores_by_type(counts).items():
        if entity != "micro":
            assert tf == pytest.approx(100 * report[entity]["f1-score"])
            assert support == report[entity]["support"]


def test_span_counts_add_up_over_batches():
    whole = span_counts(GOLD, PRED)
    parts = span_counts(GOLD[:1], PRED[:1]) + span_counts(GOLD[1:], PRED[1:])
    assert whole == parts


# -- fixed-position attention and exact-length tagging -----------------------------------


def test_fixed_attention_step_i_reads_encoder_state_i_only():
    torch.manual_seed(0)
    layer = FixedPositionAttention(4, 6, 4)
    outs = torch.randn(5, 3, 6, requires_grad=True)
    query = torch.randn(3, 4)
    for step in range(5):
        out, _ = layer(query, layer.prepare(outs, None), step)
        (grad,) = torch.autograd.grad(out.sum(), outs)
        touched = grad.abs().sum(dim=(1, 2)).nonzero().flatten().tolist()
        assert touched == [step]


def ner_model(task, seed=0):
    from relaxss_fairseq.models.lstm_relaxed import RelaxedLSTMModel, lstm_relaxed_paper_ner
    import argparse

    torch.manual_seed(seed)
    args = argparse.Namespace(encoder_embed_dim=8, encoder_hidden_size=8, decoder_embed_dim=8,
                              decoder_hidden_size=8, decoder_out_embed_dim=8, dropout=0.0)
    lstm_relaxed_paper_ner(args)
    model = RelaxedLSTMModel.build_model(args, task)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model.eval()


@pytest.mark.parametrize("mode", [None, "hard_greedy", "soft_greedy", "soft_sample"])
def test_changing_encoder_state_j_leaves_earlier_steps_alone(mode):
    """Decoder steps before j never see encoder state j; step j does."""
    task = TinyTask()
    model = ner_model(task)
    batch = random_batch(task, batch_size=4, src_len=8, tgt_len=6)
    net_input = batch["net_input"]
    encoder_out = model.encoder(net_input["src_tokens"], src_lengths=net_input["src_lengths"])
    prev = net_input["prev_output_tokens"]

    def decode(enc):
        if mode is None:
            return model.decoder(prev, encoder_out=enc)[0]
        rollin = Rollin(mode, tf_prob=0.0, alpha=5.0, generator=torch.Generator().manual_seed(1))
        return model.decoder(prev, encoder_out=enc, rollin=rollin)[0]

    base = decode(encoder_out)
    j = 3
    outs = encoder_out[0].clone()
    outs[j] += 1.0
    changed = decode((outs, *encoder_out[1:]))
    torch.testing.assert_close(changed[:, :j], base[:, :j])
    assert (changed[:, j] - base[:, j]).abs().max() > 1e-3


def test_tagger_emits_exactly_one_tag_per_token():
    task = TinyTask()
    model = ner_model(task)
    # make EOS the model's favourite everywhere: the tagger must still fill the length
    with torch.no_grad():
        model.decoder.fc_out.bias[task.target_dictionary.eos()] = 100.0
    batch = random_batch(task, batch_size=6, src_len=9)
    hypos = ExactLengthTagger(task.target_dictionary).generate([model], batch)
    eos = task.target_dictionary.eos()
    for hypo, n_src in zip(hypos, batch["net_input"]["src_lengths"].tolist()):
        tokens = hypo[0]["tokens"].tolist()
        assert len(tokens) == n_src and tokens[-1] == eos and eos not in tokens[:-1]


def test_an_ensemble_averages_the_models_probabilities():
    task = TinyTask()
    models = [ner_model(task, seed=0), ner_model(task, seed=1)]
    batch = random_batch(task, batch_size=4, src_len=7)
    net_input = batch["net_input"]
    tokens = net_input["src_tokens"].new_full((4, 1), task.target_dictionary.eos())
    probs = []
    for model in models:
        encoder_out = model.encoder(net_input["src_tokens"], src_lengths=net_input["src_lengths"])
        logits, _ = model.decoder(tokens, encoder_out)
        probs.append(torch.softmax(logits[:, -1], dim=-1))
    mean = (probs[0] + probs[1]) / 2
    mean[:, ExactLengthTagger(task.target_dictionary).never + [task.target_dictionary.eos()]] = 0
    first = [h[0] for h in ExactLengthTagger(task.target_dictionary).generate(models, batch)]
    choices = torch.stack([h["tokens"][0] for h in first])  # step 0: no sentence ends there
    assert choices.equal(mean.argmax(-1))
    torch.testing.assert_close(torch.stack([h["positional_scores"][0] for h in first]).exp(),
                               mean.gather(1, choices.unsqueeze(1)).squeeze(1))
    assert (probs[0] - probs[1]).abs().max() > 1e-2  # two different models
    single, twice = (ExactLengthTagger(task.target_dictionary).generate(m, batch)
                     for m in ([models[0]], [models[0], models[0]]))
    for a, b in zip(single, twice):
        assert a[0]["tokens"].equal(b[0]["tokens"])
        torch.testing.assert_close(a[0]["positional_scores"], b[0]["positional_scores"])


# -- the recipe, end to end -----------------------------------------------------------------

NAMES = ["Anna", "Peter", "Maria", "Jan"]
PLACES = ["Berlin", "Paris", "Rom", "Wien"]
WORDS = ["the", "went", "to", "saw", "in", "and", "said", "today", "a", "house"]


def toy_conll(path, n, seed):
    """Sentences where names are PER (B-PER I-PER for 'Anna Maria'), places are LOC."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            for _ in range(rng.randint(3, 9)):
                r = rng.random()
                if r < 0.15:
                    f.write(f"{rng.choice(NAMES)} B-PER\n")
                    if rng.random() < 0.3:
                        f.write(f"{rng.choice(NAMES)} I-PER\n")
                elif r < 0.3:
                    f.write(f"{rng.choice(PLACES)} B-LOC\n")
                else:
                    f.write(f"{rng.choice(WORDS)} O\n")
            f.write("\n")


def test_no_sentence_is_dropped_whatever_the_batch_size_multiple(tmp_path):
    """fairseq's batch_by_size drops sentences that do not fill a multiple of
    --required-batch-size-multiple (fairseq #5036); ner_tagging keeps every one."""
    from fairseq import options, tasks
    from fairseq.tasks.translation import TranslationTask

    conll = tmp_path / "conll"
    conll.mkdir()
    for name, n, seed in (("train.txt", 50, 0), ("dev.txt", 30, 1), ("test.txt", 30, 2)):
        toy_conll(conll / name, n, seed)
    subprocess.run(["bash", os.path.join(ROOT, "examples", "ner", "prepare.sh"), str(conll),
                    str(tmp_path / "work")], check=True, capture_output=True)
    args = options.parse_args_and_arch(options.get_generation_parser(), [
        str(tmp_path / "work" / "bin"), "--user-dir", USER_DIR, "--task", "ner_tagging"])
    task = tasks.setup_task(args)
    task.load_dataset("test")

    def sentences(get_batch_iterator):
        batches = get_batch_iterator(task.dataset("test"), max_tokens=200,
                                     required_batch_size_multiple=8,
                                     disable_iterator_cache=True)
        return sum(len(batch) for batch in batches.frozen_batches)

    assert sentences(lambda *a, **k: TranslationTask.get_batch_iterator(task, *a, **k)) < 30
    assert sentences(task.get_batch_iterator) == 30


def test_ner_recipe_prepare_train_evaluate(tmp_path):
    conll = tmp_path / "conll"
    conll.mkdir()
    for name, n, seed in (("train.txt", 300, 0), ("dev.txt", 40, 1), ("test.txt", 40, 2)):
        toy_conll(conll / name, n, seed)
    work = tmp_path / "work"
    env = {**os.environ, "EPOCHS": "5"}

    def sh(script, *args):
        result = subprocess.run(["bash", os.path.join(ROOT, "examples", "ner", script), *args],
                                capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        return result.stdout + result.stderr

    sh("prepare.sh", str(conll), str(work))
    log = sh("train.sh", str(work), str(work / "ck"), "--rollin", "soft_greedy",
             "--teacher-forcing-k", "1", "--alpha", "2", "--lr", "0.01", "--max-tokens", "300")
    assert "| f1 " in log and "best_f1" in log
    report = sh("evaluate.sh", str(conll), str(work), str(work / "ck"))
    micro = [line for line in report.splitlines() if line.startswith("micro")]
    assert len(micro) == 2 and float(micro[1].split()[3]) > 50.0  # test F1 on an easy task
    predicted = (work / "ck" / "test.pred.conll").read_text().splitlines()
    gold = (conll / "test.txt").read_text().splitlines()
    assert len(predicted) == len(gold)
    assert all(len(p.split()) == 3 and p.split()[:2] == g.split() for p, g in zip(predicted, gold) if g)

    def generate(*extra):
        return subprocess.run(
            [sys.executable, "-m", "fairseq_cli.generate", str(work / "bin"), "--user-dir",
             USER_DIR, "--task", "ner_tagging", "--path", str(work / "ck" / "checkpoint_best.pt"),
             "--gen-subset", "test", "--required-batch-size-multiple", "1", "--cpu", *extra],
            capture_output=True, text=True)

    # --score-reference scores the gold tags (fairseq's scorer), it does not tag
    scored = generate("--score-reference")
    assert scored.returncode == 0, scored.stderr[-3000:]
    hyps = {line.split("\t")[0][2:]: line.split("\t")[2] for line in scored.stdout.splitlines()
            if line.startswith("H-")}
    refs = {line.split("\t")[0][2:]: line.split("\t")[1] for line in scored.stdout.splitlines()
            if line.startswith("T-")}
    assert len(hyps) == 40 and hyps == refs
    refused = generate("--nbest", "2")
    assert refused.returncode != 0 and "--nbest 2 is not supported" in refused.stderr

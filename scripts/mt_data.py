#!/usr/bin/env python
"""Python steps of the MT recipes (examples/iwslt14, examples/multi30k).

    python scripts/mt_data.py download URL DEST
    python scripts/mt_data.py fetch-multi30k DEST [--base-url URL] [--checksums FILE.json]
    python scripts/mt_data.py iwslt14 RAW OUT_DIR [--lowercase] [--tokenizer auto]
    python scripts/mt_data.py multi30k RAW_DIR OUT_DIR [--lowercase] [--tokenizer auto]
    python scripts/mt_data.py spm TEXT_DIR SPM_DIR --vocab-size 8000 [--src de --tgt en]
    python scripts/mt_data.py hyps GENERATE_OUTPUT HYP_FILE
    python scripts/mt_data.py score HYP REF --split test --json CKPT_STEM.bleu.json
    python scripts/mt_data.py train-stats TRAIN_LOG OUT_JSON

``iwslt14`` and ``multi30k`` write OUT_DIR/{train,valid,test}.{de,en}: untokenized,
whitespace-normalised text, one sentence a line. These files are both what
sentencepiece is trained on and the references BLEU is computed against, so the
pipeline never needs a detokenizer: the model's sentencepiece output is decoded
back to plain text and scored with sacreBLEU's own tokenization.
"""
import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
import zlib

# -- the length filter of Moses' clean-corpus-n.perl -------------------------------------


def make_counter(kind: str, lang: str):
    """Return (name, function text -> number of tokens) for the length filter.

    ``sacremoses`` is the Python port of the Moses tokenizer that fairseq's
    prepare-iwslt14.sh runs before cleaning, so token counts (and therefore the
    sentences kept) match it; ``whitespace`` counts whitespace-separated words
    (a little fewer tokens: punctuation stays attached)."""
    if kind == "auto":
        try:
            import sacremoses  # noqa: F401

            kind = "sacremoses"
        except ImportError:
            kind = "whitespace"
    if kind == "sacremoses":
        from sacremoses import MosesTokenizer

        tokenizer = MosesTokenizer(lang=lang)
        return kind, lambda text: len(tokenizer.tokenize(text, escape=False))
    if kind == "whitespace":
        return kind, lambda text: len(text.split())
    raise ValueError(f"unknown tokenizer {kind!r}")


def normalise(line: str) -> str:
    """Collapse runs of whitespace and strip, as clean-corpus-n.perl does."""
    return re.sub(r"\s+", " ", line).strip()


def length_filter(src_lines, tgt_lines, count_src, count_tgt, ratio=1.5, min_len=1, max_len=175,
                  max_word_chars=1000):
    """Keep the pairs Moses' ``clean-corpus-n.perl -ratio RATIO ... MIN MAX`` keeps:
    both sides non-empty, MIN <= tokens <= MAX on each side, token-count ratio at
    most RATIO either way, no token longer than MAX_WORD_CHARS characters.
    Returns the kept (untokenized) pairs."""
    if len(src_lines) != len(tgt_lines):
        raise SystemExit(f"parallel files differ in length: {len(src_lines)} vs {len(tgt_lines)}")
    kept = []
    for src, tgt in zip(src_lines, tgt_lines):
        src, tgt = normalise(src), normalise(tgt)
        if not src or not tgt:
            continue
        if any(len(w) > max_word_chars for w in src.split() + tgt.split()):
            continue
        ns, nt = count_src(src), count_tgt(tgt)
        if not (min_len <= ns <= max_len and min_len <= nt <= max_len):
            continue
        if ns / nt > ratio or nt / ns > ratio:
            continue
        kept.append((src, tgt))
    return kept


# -- IWSLT14 de-en -------------------------------------------------------------------------

IWSLT14_URL = "http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz"
# test = these five files concatenated, in this order, as in fairseq's
# examples/translation/prepare-iwslt14.sh (itself adapted from Ranzato et al.'s
# MIXER prepareData.sh); 6,750 sentences on the real release.
IWSLT14_TEST_SETS = [
    "IWSLT14.TED.dev2010",
    "IWSLT14.TEDX.dev2012",
    "IWSLT14.TED.tst2010",
    "IWSLT14.TED.tst2011",
    "IWSLT14.TED.tst2012",
]
VALID_EVERY = 23  # every 23rd training line (1-based: lines 23, 46, ...) is held out


class ReleaseReader:
    """Read files of the raw IWSLT14 de-en release from an extracted ``de-en``
    folder, a folder holding it or ``de-en.tgz``, or the ``.tgz`` itself."""

    def __init__(self, raw: str):
        self.raw = raw
        self.dir = None
        self.tar = None
        candidates = [raw, os.path.join(raw, "de-en")]
        for c in candidates:
            if os.path.isfile(os.path.join(c, "train.tags.de-en.de")):
                self.dir = c
                return
        tgz = raw if os.path.isfile(raw) else os.path.join(raw, "de-en.tgz")
        if os.path.isfile(tgz):
            self.tar = tarfile.open(tgz)
            self.members = {
                os.path.basename(m.name): m for m in self.tar.getmembers() if m.isfile()
            }
            return
        raise SystemExit(
            f"{raw}: no IWSLT14 release found (expected train.tags.de-en.de in it or in "
            f"its de-en/ folder, or de-en.tgz)"
        )

    def lines(self, name: str):
        if self.dir is not None:
            with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                return f.read().splitlines()
        if name not in self.members:
            raise SystemExit(f"{self.raw}: {name} is not in the archive")
        data = self.tar.extractfile(self.members[name]).read()
        return data.decode("utf-8").splitlines()


TRAIN_DROP = ("<url>", "<talkid>", "<keywords>")
TRAIN_STRIP = re.compile(r"</?(title|description)>")
SEG = re.compile(r'<seg id="?\d+"?>\s*(.*?)\s*</seg>')


def iwslt_train_lines(lines):
    """The sentences of a ``train.tags.de-en.*`` file, cleaned as fairseq's script
    does: drop the <url>, <talkid> and <keywords> lines, remove the <title> and
    <description> tags but keep their text (talk titles and descriptions are
    sentence pairs too)."""
    return [TRAIN_STRIP.sub("", ln) for ln in lines if not any(t in ln for t in TRAIN_DROP)]


def iwslt_xml_segments(lines):
    """The text of the ``<seg id="N">...</seg>`` lines of a dev/test xml file,
    with the typographic apostrophe made ASCII (as fairseq's script does for
    dev/test only)."""
    out = []
    for ln in lines:
        if "<seg id" not in ln:
            continue
        match = SEG.search(ln)
        out.append((match.group(1) if match else re.sub(r"<[^>]+>", "", ln)).replace("\u2019", "'"))
    return out


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        for ln in lines:
            f.write(ln + "\n")


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def cmd_iwslt14(args):
    reader = ReleaseReader(args.raw)
    src, tgt = "de", "en"
    tok_name, count_src = make_counter(args.tokenizer, src)
    _, count_tgt = make_counter(args.tokenizer, tgt)
    train_src = iwslt_train_lines(reader.lines(f"train.tags.de-en.{src}"))
    train_tgt = iwslt_train_lines(reader.lines(f"train.tags.de-en.{tgt}"))
    pairs = length_filter(train_src, train_tgt, count_src, count_tgt,
                          args.ratio, args.min_len, args.max_len)
    lower = (lambda s: s.lower()) if args.lowercase else (lambda s: s)
    pairs = [(lower(s), lower(t)) for s, t in pairs]
    valid = [p for i, p in enumerate(pairs, start=1) if i % VALID_EVERY == 0]
    train = [p for i, p in enumerate(pairs, start=1) if i % VALID_EVERY != 0]
    test = {lang: [] for lang in (src, tgt)}
    for name in IWSLT14_TEST_SETS:
        for lang in (src, tgt):
            segs = iwslt_xml_segments(reader.lines(f"{name}.de-en.{lang}.xml"))
            test[lang].extend(normalise(lower(s)) for s in segs)
    if len(test[src]) != len(test[tgt]):
        raise SystemExit(f"test sides differ in length: {len(test[src])} vs {len(test[tgt])}")
    os.makedirs(args.out_dir, exist_ok=True)
    for split, split_pairs in (("train", train), ("valid", valid)):
        write_lines(os.path.join(args.out_dir, f"{split}.{src}"), [s for s, _ in split_pairs])
        write_lines(os.path.join(args.out_dir, f"{split}.{tgt}"), [t for _, t in split_pairs])
    for lang in (src, tgt):
        write_lines(os.path.join(args.out_dir, f"test.{lang}"), test[lang])
    report(args.out_dir, tok_name, args, {
        "raw training pairs": len(train_src), "kept by the length filter": len(pairs),
        "train": len(train), "valid": len(valid), "test": len(test[src]),
    })


def cmd_multi30k(args):
    src, tgt = args.src, args.tgt
    tok_name, count_src = make_counter(args.tokenizer, src)
    _, count_tgt = make_counter(args.tokenizer, tgt)
    lower = (lambda s: s.lower()) if args.lowercase else (lambda s: s)
    os.makedirs(args.out_dir, exist_ok=True)
    sizes = {}
    for raw_split, split in (("train", "train"), ("val", "valid"), ("test", "test")):
        s_lines = read_lines(os.path.join(args.raw, f"{raw_split}.{src}"))
        t_lines = read_lines(os.path.join(args.raw, f"{raw_split}.{tgt}"))
        if split == "train":  # only training pairs are length-filtered (as for IWSLT14)
            pairs = length_filter(s_lines, t_lines, count_src, count_tgt,
                                  args.ratio, args.min_len, args.max_len)
            sizes["raw training pairs"] = len(s_lines)
        else:
            if len(s_lines) != len(t_lines):
                raise SystemExit(f"{raw_split}: sides differ in length")
            pairs = [(normalise(s), normalise(t)) for s, t in zip(s_lines, t_lines)]
        write_lines(os.path.join(args.out_dir, f"{split}.{src}"), [lower(s) for s, _ in pairs])
        write_lines(os.path.join(args.out_dir, f"{split}.{tgt}"), [lower(t) for _, t in pairs])
        sizes[split] = len(pairs)
    report(args.out_dir, tok_name, args, sizes)


def report(out_dir, tok_name, args, sizes):
    print(f"length filter (ratio {args.ratio}, {args.min_len}-{args.max_len} tokens) counted "
          f"tokens with: {tok_name}" + ("" if tok_name == "sacremoses" else
                                        " (sacremoses is not installed)"))
    print(f"lowercased: {'yes' if args.lowercase else 'no'}")
    for name, n in sizes.items():
        print(f"  {name}: {n}")
    with open(os.path.join(out_dir, "prepare.json"), "w") as f:
        json.dump({"length_tokenizer": tok_name, "lowercase": args.lowercase,
                   "ratio": args.ratio, "max_len": args.max_len, "sizes": sizes}, f, indent=1)


# -- downloads ---------------------------------------------------------------------------


class DownloadError(Exception):
    """A download that failed or did not verify; the message says which file and why."""


def download(url, dest, timeout=30, gunzip=False, sha256=None):
    """Download URL to DEST, decompressing it on the fly with ``gunzip``; with
    ``sha256``, keep it only if what was written has that checksum.

    The bytes go to DEST.part, renamed to DEST only once complete and verified, so an
    interrupted or wrong download never leaves a file that looks finished: on any
    failure the .part file is removed and DownloadError says why."""
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    tmp = dest + ".part"
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            source = gzip.GzipFile(fileobj=response) if gunzip else response
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
                f.write(chunk)
    # OSError: URLError/HTTPError, timeouts, refused connections, not gzip at all;
    # EOFError: a gzip stream cut short (the connection dropped mid-file);
    # zlib.error: a damaged gzip stream
    except (OSError, EOFError, zlib.error) as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise DownloadError(f"download of {url} failed: {error}") from error
    if sha256 is not None and digest.hexdigest() != sha256:
        os.unlink(tmp)
        raise DownloadError(
            f"{os.path.basename(dest)}: checksum mismatch for {url}: expected sha256 {sha256}, "
            f"got {digest.hexdigest()} (the download was deleted)")
    os.replace(tmp, dest)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_verified(url, dest, expected_sha256, timeout=30, gunzip=False):
    """DEST with the sha256 EXPECTED_SHA256: the file already there if it matches
    (nothing is downloaded), else a fresh download of URL, kept only if it matches
    (DownloadError names the file and both checksums if not)."""
    if os.path.isfile(dest):
        actual = sha256_of(dest)
        if actual == expected_sha256:
            print(f"using the cached {dest} (sha256 verified)")
            return
        # an older release, a hand-edited or otherwise damaged copy: fetch it again
        print(f"the cached {dest} has sha256 {actual}, not {expected_sha256}: downloading it again")
        os.unlink(dest)
    print(f"downloading {url} -> {dest}" + (" (decompressed)" if gunzip else ""))
    download(url, dest, timeout, gunzip, sha256=expected_sha256)


def cmd_download(args):
    print(f"downloading {args.url} -> {args.dest}")
    try:
        download(args.url, args.dest, args.timeout)
    except DownloadError as error:
        raise SystemExit(str(error))


# -- Multi30k (task 1) raw files ----------------------------------------------------------

MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
# local name -> file in the official repository (gzipped there; stored decompressed)
MULTI30K_FILES = {
    "train.de": "train.de.gz", "train.en": "train.en.gz",
    "val.de": "val.de.gz", "val.en": "val.en.gz",
    "test.de": "test_2016_flickr.de.gz", "test.en": "test_2016_flickr.en.gz",
}
# sha256 of the DECOMPRESSED files (29,000 / 1,014 / 1,000 lines). Measured on a copy of
# the task-1 raw files, not on a download (the machine that wrote this had no network):
# if the repository's files differ, fetch-multi30k stops with both checksums and the
# demo falls back to its generated cascade task, so a change never goes unnoticed.
MULTI30K_SHA256 = {
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "val.de": "366863c09b91e91c100bc87501a85fe1ce49270c2301de46d39075aee5ce8021",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "test.de": "c1d2f544471a7387e37d15f1adf075ff7d6fe57a30840bb969281ae102d24cb1",
    "test.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
}


def load_checksums(path):
    """The expected sha256 per local file name: MULTI30K_SHA256, or a JSON object
    ``{"train.de": "<sha256>", ...}`` covering the same six names (tests serve a
    generated miniature with checksums of its own)."""
    if not path:
        return dict(MULTI30K_SHA256)
    with open(path) as f:
        checksums = json.load(f)
    missing = sorted(set(MULTI30K_FILES) - set(checksums))
    if missing:
        raise SystemExit(f"{path}: no checksum for {', '.join(missing)}")
    return checksums


def cmd_fetch_multi30k(args):
    """Multi30k's task-1 raw train/val/test_2016_flickr de+en files, decompressed into
    DEST as train/val/test.{de,en}, each verified against its sha256. Files already in
    DEST that verify are reused, so DEST works as a cache."""
    checksums = load_checksums(args.checksums)
    base = args.base_url.rstrip("/") + "/"
    print(f"Multi30k task-1 raw files: {base} -> {args.dest}")
    for name, remote in MULTI30K_FILES.items():
        try:
            fetch_verified(base + remote, os.path.join(args.dest, name), checksums[name],
                           args.timeout, gunzip=True)
        except DownloadError as error:
            raise SystemExit(str(error))
    sizes = {name: len(read_lines(os.path.join(args.dest, name))) for name in MULTI30K_FILES}
    print("Multi30k in " + args.dest + ": " + ", ".join(f"{n} {k} lines" for n, k in sizes.items()))


# -- sentencepiece ----------------------------------------------------------------------


def cmd_spm(args):
    import sentencepiece as spm

    os.makedirs(args.spm_dir, exist_ok=True)
    prefix = os.path.join(args.spm_dir, "spm")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as joint:
        for lang in (args.src, args.tgt):  # one joint model for both languages
            with open(os.path.join(args.text_dir, f"train.{lang}"), encoding="utf-8") as f:
                shutil.copyfileobj(f, joint)
    try:
        spm.SentencePieceTrainer.train(
            input=joint.name, model_prefix=prefix, vocab_size=args.vocab_size,
            model_type=args.model_type, character_coverage=1.0,
            # a soft limit: small corpora (tests) may not support the requested size
            hard_vocab_limit=False, input_sentence_size=args.input_sentence_size,
            shuffle_input_sentence=True, num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    finally:
        os.unlink(joint.name)
    model = spm.SentencePieceProcessor(model_file=prefix + ".model")
    print(f"sentencepiece: {args.model_type}, {model.get_piece_size()} pieces "
          f"(asked for {args.vocab_size}) -> {prefix}.model")
    for split in ("train", "valid", "test"):
        for lang in (args.src, args.tgt):
            path = os.path.join(args.text_dir, f"{split}.{lang}")
            lines = read_lines(path)
            pieces = model.encode(lines, out_type=str)
            write_lines(os.path.join(args.spm_dir, f"{split}.{lang}"),
                        [" ".join(p) for p in pieces])


# -- generation output, BLEU ------------------------------------------------------------


def cmd_hyps(args):
    """Hypotheses of ``fairseq-generate`` output (``H-<id>\\t<score>\\t<text>``), in
    the order of the input (fairseq prints them in batch order)."""
    hyps = {}
    with open(args.generate_output, encoding="utf-8") as f:
        for line in f:
            if line.startswith("H-"):
                parts = line.rstrip("\n").split("\t", 2)
                hyps[int(parts[0][2:])] = parts[2] if len(parts) > 2 else ""  # empty hypothesis
    missing = sorted(set(range(max(hyps, default=-1) + 1)) - set(hyps))
    if missing:
        raise SystemExit(
            f"{args.generate_output}: fairseq-generate left out sentences {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''} (with --required-batch-size-multiple > 1 "
            f"fairseq drops a last batch of the wrong size, fairseq issue #5036)"
        )
    write_lines(args.hyp_file, [hyps[i] for i in range(len(hyps))])
    print(f"{len(hyps)} hypotheses -> {args.hyp_file}")


def cmd_score(args):
    from sacrebleu.metrics import BLEU

    hyps, refs = read_lines(args.hyp), read_lines(args.ref)
    if len(hyps) != len(refs):
        raise SystemExit(f"{len(hyps)} hypotheses but {len(refs)} references ({args.ref})")
    bleu = BLEU()
    score = bleu.corpus_score(hyps, [refs])
    signature = str(bleu.get_signature())
    print(f"{args.split}: {score}")
    print(f"sacreBLEU signature: {signature}")
    record = {}
    if os.path.isfile(args.json):
        with open(args.json) as f:
            record = json.load(f)
    record.update({"run": args.run or os.path.basename(os.path.dirname(os.path.abspath(args.json))),
                   "checkpoint": args.checkpoint})
    record[args.split] = {"bleu": round(score.score, 2), "score": str(score),
                          "signature": signature, "sentences": len(hyps),
                          "hypotheses": os.path.abspath(args.hyp),
                          "references": os.path.abspath(args.ref)}
    with open(args.json, "w") as f:
        json.dump(record, f, indent=1)
    print(f"-> {args.json}")


# -- training log ------------------------------------------------------------------------

def epoch_records(log_text, kind="train"):
    """End-of-epoch ``kind`` records (``train`` or ``valid``) of a fairseq-train
    log in simple or json format: ``{epoch: {key: value}}`` with keys as in the
    simple format (``loss``, ``tf_prob``, ``bleu``, ...).  An epoch logged twice
    (run again after an interruption) keeps its last record."""
    json_line = re.compile(rf"\| {kind} \| (\{{.*\}})\s*$")
    simple_line = re.compile(rf"\| {kind} \| epoch (\d+) \|(.*)$")
    records = {}
    for line in log_text.splitlines():
        m = json_line.search(line)
        if m:
            rec = json.loads(m.group(1))
            records[int(rec["epoch"])] = {k.replace(f"{kind}_", "", 1): v for k, v in rec.items()}
            continue
        m = simple_line.search(line)
        if m:
            rec = {"epoch": int(m.group(1))}
            for field in m.group(2).split("|"):
                parts = field.split()
                if len(parts) == 2:
                    rec[parts[0]] = parts[1]
            records[rec["epoch"]] = rec
    return records


def cmd_train_stats(args):
    """Seconds per epoch = fairseq's per-epoch ``train_wall`` (time in training
    steps, without validation or checkpointing), averaged over the logged epochs."""
    with open(args.log, encoding="utf-8", errors="replace") as f:
        records = epoch_records(f.read())
    stats = {"epochs": sorted(records)}
    walls = [float(r["train_wall"]) for r in records.values() if "train_wall" in r]
    if walls:
        stats["seconds_per_epoch"] = round(sum(walls) / len(walls), 1)
    if records:
        last = records[max(records)]
        for key in ("loss", "nll_loss", "tf_prob", "alpha", "model_fed", "num_updates"):
            if key in last:
                stats[f"last_{key}"] = float(last[key])
    with open(args.out_json, "w") as f:
        json.dump(stats, f, indent=1)
    print(f"train stats: {stats} -> {args.out_json}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add_clean_options(p):
        p.add_argument("--tokenizer", default="auto", choices=["auto", "sacremoses", "whitespace"],
                       help="how the length filter counts tokens (auto: sacremoses if installed)")
        p.add_argument("--ratio", type=float, default=1.5)
        p.add_argument("--min-len", type=int, default=1)
        p.add_argument("--max-len", type=int, default=175)
        p.add_argument("--lowercase", action="store_true")

    p = sub.add_parser("download")
    p.add_argument("url")
    p.add_argument("dest")
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("fetch-multi30k", help="download Multi30k's task-1 raw de/en files, "
                       "verified, into a folder that doubles as a cache")
    p.add_argument("dest", help="folder for train/val/test.{de,en}")
    p.add_argument("--base-url", default=os.environ.get("MULTI30K_URL") or MULTI30K_URL,
                   help="where train.de.gz ... test_2016_flickr.en.gz are (default: "
                   "$MULTI30K_URL, else the official repository)")
    p.add_argument("--checksums", default=os.environ.get("MULTI30K_CHECKSUMS"),
                   help="JSON {file: sha256} of the decompressed files (default: "
                   "$MULTI30K_CHECKSUMS, else the checksums of the official release)")
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(func=cmd_fetch_multi30k)

    p = sub.add_parser("iwslt14")
    p.add_argument("raw", help="the extracted de-en folder, a folder holding it or de-en.tgz, "
                   "or the .tgz")
    p.add_argument("out_dir")
    add_clean_options(p)
    p.set_defaults(func=cmd_iwslt14)

    p = sub.add_parser("multi30k")
    p.add_argument("raw", help="folder with train/val/test.{de,en}")
    p.add_argument("out_dir")
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    add_clean_options(p)
    p.set_defaults(func=cmd_multi30k)

    p = sub.add_parser("spm")
    p.add_argument("text_dir")
    p.add_argument("spm_dir")
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--model-type", default="unigram", choices=["unigram", "bpe", "char", "word"])
    p.add_argument("--input-sentence-size", type=int, default=2_000_000)
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    p.set_defaults(func=cmd_spm)

    p = sub.add_parser("hyps")
    p.add_argument("generate_output")
    p.add_argument("hyp_file")
    p.set_defaults(func=cmd_hyps)

    p = sub.add_parser("score")
    p.add_argument("hyp")
    p.add_argument("ref")
    p.add_argument("--split", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--run", default=None)
    p.add_argument("--checkpoint", default=None)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("train-stats")
    p.add_argument("log")
    p.add_argument("out_json")
    p.set_defaults(func=cmd_train_stats)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

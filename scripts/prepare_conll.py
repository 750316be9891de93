#!/usr/bin/env python
"""Turn CoNLL NER files into fairseq-preprocess input for the ner_tagging task.

    python scripts/prepare_conll.py --train train.txt --valid dev.txt --test test.txt \
        --out-dir OUT [--encoding latin-1] [--tag-scheme keep|iob2]

writes OUT/{train,valid,test}.tok (tokens) and .tag (tags), one sentence a line,
then binarise with
    fairseq-preprocess --source-lang tok --target-lang tag --trainpref OUT/train ...
Malformed input stops with the file and line number of the problem.
"""
import argparse
import os
import sys

from relaxss_fairseq.tasks.conll import TAG_SCHEMES, ConllFormatError, apply_tag_scheme, read_conll


def write_split(sentences, out_dir: str, split: str) -> None:
    with open(os.path.join(out_dir, f"{split}.tok"), "w", encoding="utf-8") as tok, open(
        os.path.join(out_dir, f"{split}.tag"), "w", encoding="utf-8"
    ) as tag:
        for sentence in sentences:
            tok.write(" ".join(sentence.tokens) + "\n")
            tag.write(" ".join(sentence.tags) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for split in ("train", "valid", "test"):
        parser.add_argument(f"--{split}", required=split != "test", help=f"CoNLL file of {split}")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--encoding", default="utf-8",
                        help="input encoding (German CoNLL-2003: latin-1)")
    parser.add_argument("--tag-scheme", choices=TAG_SCHEMES, default="keep",
                        help="keep tags as written (the paper) or convert IOB1 to iob2")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    for split in ("train", "valid", "test"):
        path = getattr(args, split)
        if path is None:
            continue
        try:
            sentences = apply_tag_scheme(read_conll(path, args.encoding), args.tag_scheme)
        except ConllFormatError as error:
            sys.exit(f"prepare_conll: {error}")
        except UnicodeDecodeError as error:
            sys.exit(f"prepare_conll: {path} is not {args.encoding} ({error}); "
                     f"the German CoNLL-2003 files need --encoding latin-1")
        write_split(sentences, args.out_dir, split)
        tokens = sum(len(s.tokens) for s in sentences)
        print(f"{split}: {len(sentences)} sentences, {tokens} tokens from {path}")


if __name__ == "__main__":
    main()

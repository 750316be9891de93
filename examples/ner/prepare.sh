#!/usr/bin/env bash
# Prepare CoNLL NER data for the ner_tagging task: CoNLL -> token/tag lines -> fairseq-preprocess.
#
#   bash examples/ner/prepare.sh CONLL_DIR OUT_DIR
#
# CONLL_DIR holds train/dev/test in CoNLL format. Recognised names:
#   English (as shipped here): train.txt dev.txt test.txt            (UTF-8, BIO)
#   German CoNLL-2003 (the paper's): deu.train deu.testa deu.testb   (Latin-1, IOB1, 5 columns)
# Override with TRAIN=... VALID=... TEST=... ENCODING=... TAG_SCHEME=keep|iob2.
set -euo pipefail
CONLL=${1:?usage: prepare.sh CONLL_DIR OUT_DIR}
OUT=${2:?usage: prepare.sh CONLL_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

if [ -f "$CONLL/deu.train" ]; then
  TRAIN=${TRAIN:-deu.train} VALID=${VALID:-deu.testa} TEST=${TEST:-deu.testb}
  ENCODING=${ENCODING:-latin-1}
else
  TRAIN=${TRAIN:-train.txt} VALID=${VALID:-dev.txt} TEST=${TEST:-test.txt}
  ENCODING=${ENCODING:-utf-8}
fi
TAG_SCHEME=${TAG_SCHEME:-keep}

python "$ROOT/scripts/prepare_conll.py" --train "$CONLL/$TRAIN" --valid "$CONLL/$VALID" \
  --test "$CONLL/$TEST" --out-dir "$OUT/text" --encoding "$ENCODING" --tag-scheme "$TAG_SCHEME"
rm -rf "$OUT/bin"
# --padding-factor 1: the tag vocabulary is the tags and fairseq's 4 specials, nothing more
fairseq-preprocess --source-lang tok --target-lang tag \
  --trainpref "$OUT/text/train" --validpref "$OUT/text/valid" --testpref "$OUT/text/test" \
  --destdir "$OUT/bin" --padding-factor 1 --workers 2 2>&1 | tail -n 1
echo "tags: $(cut -d' ' -f1 "$OUT/bin/dict.tag.txt" | tr '\n' ' ')"

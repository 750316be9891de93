#!/usr/bin/env bash
# Tag the dev and test CoNLL files with the best checkpoint and print span F1 (seqeval, micro)
# and per-type scores; writes SAVE_DIR/{dev,test}.pred.conll (token gold predicted) and .json.
#
#   bash examples/ner/evaluate.sh CONLL_DIR OUT_DIR SAVE_DIR
set -euo pipefail
CONLL=${1:?usage: evaluate.sh CONLL_DIR OUT_DIR SAVE_DIR}
OUT=${2:?usage: evaluate.sh CONLL_DIR OUT_DIR SAVE_DIR}
SAVE=${3:?usage: evaluate.sh CONLL_DIR OUT_DIR SAVE_DIR}
if [ -f "$CONLL/deu.train" ]; then
  VALID=${VALID:-deu.testa} TEST=${TEST:-deu.testb} ENCODING=${ENCODING:-latin-1}
else
  VALID=${VALID:-dev.txt} TEST=${TEST:-test.txt} ENCODING=${ENCODING:-utf-8}
fi
for split in dev test; do
  file=$VALID; [ "$split" = test ] && file=$TEST
  echo "== $split ($CONLL/$file)"
  python -m relaxss_fairseq.tag_conll "$CONLL/$file" --path "$SAVE/checkpoint_best.pt" \
    --data "$OUT/bin" --encoding "$ENCODING" --tag-scheme "${TAG_SCHEME:-keep}" \
    --output "$SAVE/$split.pred.conll" --json "$SAVE/$split.scores.json"
done

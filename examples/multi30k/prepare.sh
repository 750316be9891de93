#!/usr/bin/env bash
# Multi30k German-English (29,000 / 1,014 / 1,000 image-caption pairs), the same
# pipeline as examples/iwslt14 on local raw files:
#
#   bash examples/multi30k/prepare.sh DATA_DIR RAW_DIR
#
# RAW_DIR holds train.{de,en}, val.{de,en}, test.{de,en} (untokenized, cased, UTF-8).
# Training pairs go through the same length filter as IWSLT14 (ratio 1.5, 1..175 tokens,
# counted with sacremoses when installed, else whitespace): on Multi30k it keeps 28,332
# of 29,000 pairs (the ratio test; FILTER_RATIO=100 keeps all but empty ones). val
# (-> valid) and test are kept whole. Case is kept (LOWERCASE=1 lowercases).
# Joint sentencepiece model of SPM_VOCAB pieces (default 8000, sized for training on a
# few CPU cores; the paper's MT setting is 32000 on IWSLT14), fairseq-preprocess
# --joined-dictionary into DATA_DIR/bin.
set -euo pipefail
source "$(dirname "$0")/../mt_common.sh"
[ $# -eq 2 ] || { echo "usage: $0 DATA_DIR RAW_DIR" >&2; exit 2; }
DATA=$1
RAW=$2
SPM_VOCAB=${SPM_VOCAB:-8000}
LOWERCASE=${LOWERCASE:-0}
mkdir -p "$DATA"
echo "== clean -> $DATA/text (raw files from $RAW)"
"$PYTHON" "$MT_DATA" multi30k "$RAW" "$DATA/text" --src "$SRC" --tgt "$TGT" $(mt_lowercase_flag) \
  --tokenizer "${LENGTH_TOKENIZER:-auto}" \
  --ratio "${FILTER_RATIO:-1.5}" --max-len "${FILTER_MAX_LEN:-175}"
mt_binarize "$DATA" "$SPM_VOCAB"

#!/usr/bin/env bash
# Multi30k de-en end to end: prepare -> train -> beam search on valid and test -> table.
#
#   bash examples/multi30k/run.sh DATA_DIR RAW_DIR
#
# SAVE_DIR (default DATA_DIR/ckpt_$ROLLIN) and every variable of prepare.sh and
# train.sh apply (e.g. ROLLIN=teacher_forcing for the cross-entropy baseline); TRAIN_ARGS
# holds extra fairseq-train arguments (split on whitespace).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 2 ] || { echo "usage: $0 DATA_DIR RAW_DIR" >&2; exit 2; }
DATA=$1
SAVE=${SAVE_DIR:-$DATA/ckpt_${ROLLIN:-soft_greedy}}
bash "$HERE/prepare.sh" "$DATA" "$2"
# shellcheck disable=SC2086  # TRAIN_ARGS: extra fairseq-train arguments, word-split
bash "$HERE/train.sh" "$DATA" "$SAVE" ${TRAIN_ARGS:-}
for split in valid test; do
  bash "$HERE/generate.sh" "$DATA" "$SAVE/checkpoint_best.pt" "$split"
done
"${PYTHON:-python}" "$HERE/../../scripts/bleu_table.py" "$SAVE"

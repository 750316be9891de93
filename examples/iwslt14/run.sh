#!/usr/bin/env bash
# IWSLT14 de-en end to end: prepare -> train -> beam search on valid and test -> table.
#
#   bash examples/iwslt14/run.sh DATA_DIR [RAW_DIR]
#
# SAVE_DIR (default DATA_DIR/ckpt_$ROLLIN) and every variable of prepare.sh and
# train.sh (SPM_VOCAB, ROLLIN, K, ALPHA, MAX_EPOCH, CPU_PROCS, ...) apply; TRAIN_ARGS
# holds extra fairseq-train arguments (split on whitespace), e.g.
#   TRAIN_ARGS="--encoder-embed-dim 128 --lr-scheduler reduce_lr_on_plateau" bash ...
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 DATA_DIR [RAW_DIR]" >&2; exit 2; }
DATA=$1
SAVE=${SAVE_DIR:-$DATA/ckpt_${ROLLIN:-soft_greedy}}
bash "$HERE/prepare.sh" "$@"
# shellcheck disable=SC2086  # TRAIN_ARGS: extra fairseq-train arguments, word-split
bash "$HERE/train.sh" "$DATA" "$SAVE" ${TRAIN_ARGS:-}
for split in valid test; do
  bash "$HERE/generate.sh" "$DATA" "$SAVE/checkpoint_best.pt" "$split"
done
"${PYTHON:-python}" "$HERE/../../scripts/bleu_table.py" "$SAVE"

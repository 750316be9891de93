#!/usr/bin/env bash
# Train the paper's NER model (lstm_relaxed_paper_ner) on prepared data.
#
#   bash examples/ner/train.sh OUT_DIR SAVE_DIR [extra fairseq-train args...]
#
# The criterion settings come from the extra args, e.g.
#   --rollin teacher_forcing                                  (cross-entropy)
#   --rollin soft_greedy --teacher-forcing-k 100 --alpha 1 --alpha-anneal-rate 1.5
# Dev F1 is computed every epoch; the best checkpoint is kept by F1.
# --required-batch-size-multiple 1: with fairseq's default (8) its batch_by_size drops
# sentences (2 of the 3,250 CoNLL-2003 English dev sentences); the ner_tagging task keeps
# them anyway and warns, so passing 1 only keeps the log quiet.
set -euo pipefail
OUT=${1:?usage: train.sh OUT_DIR SAVE_DIR [args...]}
SAVE=${2:?usage: train.sh OUT_DIR SAVE_DIR [args...]}
shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEVICE_ARGS=()
python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || DEVICE_ARGS=(--cpu)

fairseq-train "$OUT/bin" --user-dir "$ROOT/relaxss_fairseq" --task ner_tagging \
  --arch lstm_relaxed_paper_ner --criterion relaxed_scheduled_sampling \
  --optimizer adam --lr 0.003 --clip-norm 5 --max-tokens 2000 --max-epoch "${EPOCHS:-20}" \
  --best-checkpoint-metric f1 --maximize-best-checkpoint-metric \
  --required-batch-size-multiple 1 \
  --save-dir "$SAVE" --no-epoch-checkpoints --log-format simple --log-interval 100 \
  "${DEVICE_ARGS[@]}" "$@"

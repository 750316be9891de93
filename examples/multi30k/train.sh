#!/usr/bin/env bash
# Train lstm_relaxed_paper_mt on Multi30k with relaxed scheduled sampling:
#
#   bash examples/multi30k/train.sh DATA_DIR SAVE_DIR [extra fairseq-train args]
#
# Same settings and devices as examples/iwslt14/train.sh (ROLLIN, K, ALPHA,
# ALPHA_ANNEAL_RATE, ..., CPU_PROCS, ARCH=transformer_relaxed_* for the Transformer;
# GPUs and several nodes are documented there),
# with defaults sized for Multi30k on a few CPU cores: MAX_TOKENS=4000, MAX_EPOCH=15.
set -euo pipefail
source "$(dirname "$0")/../mt_common.sh"
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR SAVE_DIR [extra fairseq-train args]" >&2; exit 2; }
MAX_TOKENS=${MAX_TOKENS:-4000}
MAX_EPOCH=${MAX_EPOCH:-15}
mt_train "$@"

#!/usr/bin/env bash
# Beam search (BEAM=5) on a split and sacreBLEU against the untokenized references:
#
#   bash examples/multi30k/generate.sh DATA_DIR CHECKPOINT [SPLIT] [extra fairseq-generate args]
#
# As examples/iwslt14/generate.sh: prints the score with sacreBLEU's signature and
# writes <checkpoint>.bleu.json next to the checkpoint.
set -euo pipefail
source "$(dirname "$0")/../mt_common.sh"
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR CHECKPOINT [SPLIT] [extra args]" >&2; exit 2; }
mt_generate "$@"

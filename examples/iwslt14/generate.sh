#!/usr/bin/env bash
# Translate a split with beam search and score it with sacreBLEU:
#
#   bash examples/iwslt14/generate.sh DATA_DIR CHECKPOINT [SPLIT] [extra fairseq-generate args]
#
# SPLIT: test (default) or valid. fairseq-generate (beam BEAM=5, --post-process
# sentencepiece, which decodes the pieces back to text) -> the H- lines sorted by id ->
# sacreBLEU (default 13a tokenization, its signature printed) against the untokenized
# references DATA_DIR/text/SPLIT.en (lowercased, as the whole IWSLT14 data, when
# prepared with LOWERCASE=1). The score goes to CHECKPOINT's folder as
# <checkpoint>.bleu.json (one entry per split), which scripts/bleu_table.py collects.
set -euo pipefail
source "$(dirname "$0")/../mt_common.sh"
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR CHECKPOINT [SPLIT] [extra args]" >&2; exit 2; }
mt_generate "$@"

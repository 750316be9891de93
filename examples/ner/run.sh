#!/usr/bin/env bash
# The NER recipe end to end: prepare, train (cross-entropy and relaxed soft greedy), evaluate.
#
#   bash examples/ner/run.sh CONLL_DIR WORK_DIR
#
# On our machines: bash examples/ner/run.sh ../shared/data/conll2003-en work_dirs/ner
# With the German CoNLL-2003 files (deu.train, deu.testa, deu.testb) the same command works.
set -euo pipefail
CONLL=${1:?usage: run.sh CONLL_DIR WORK_DIR}
WORK=${2:?usage: run.sh CONLL_DIR WORK_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)

bash "$HERE/prepare.sh" "$CONLL" "$WORK"
bash "$HERE/train.sh" "$WORK" "$WORK/ce" --rollin teacher_forcing
bash "$HERE/evaluate.sh" "$CONLL" "$WORK" "$WORK/ce"
bash "$HERE/train.sh" "$WORK" "$WORK/soft_greedy" --rollin soft_greedy \
  --teacher-forcing-k "${K:-10}" --alpha "${ALPHA:-1}" --alpha-anneal-rate "${ALPHA_ANNEAL_RATE:-1.2}"
bash "$HERE/evaluate.sh" "$CONLL" "$WORK" "$WORK/soft_greedy"

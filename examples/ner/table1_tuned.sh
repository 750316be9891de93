#!/usr/bin/env bash
# NER Table 1 under the sweep protocol, each row's settings tuned on dev first (issue #9).
#
#   OMP_NUM_THREADS=1 bash examples/ner/table1_tuned.sh CONLL_DIR WORK_DIR
#
# Stage 1 (dev only, seed 1, the table's cap and patience): per row, the schedule's final
#   gold share (--teacher-forcing-final 0.9 / 0.75 / 0.5: 10 / 25 / 50% of positions model-fed
#   at the cap) and, for the fixed-alpha relaxed rows, alpha 1 / 10 / 100; for cross-entropy
#   --clip-norm 1 / 5 / 25.
# Stage 2: soft greedy's tuned settings are tried with --clip-norm 1 / 5 / 25; the
#   bounded-credit row takes the result and tunes --credit-scale 0.25 / 0.5 / 0.9, the
#   detached row (--credit-scale 0) takes it untuned, so that both differ from soft greedy
#   only in the credit-assignment gradient.
# Stage 3: the table, every row with its tuned settings (WORK/settings.json), SEEDS seeds;
#   seed 1 of a tuned row is its tuning run, read back (so its dev score chose the setting).
# Stage 4 (only with LONGER_EPOCHS set, e.g. 24): the convergence check. Cross-entropy,
#   Bengio greedy and the relaxed row with the best mean dev F1 in the table, trained again
#   with the same settings and seeds at the cap LONGER_EPOCHS (the schedule is stretched with
#   it), in WORK/longer: 24 of the table's 55 runs had their best dev epoch at the cap of 12.
# Every stage resumes: run the same command again after an interruption.
# Environment: SEEDS (5), EPOCHS (12, the cap; the schedule ends there), LONGER_EPOCHS
# (unset), PARALLEL (2).
set -euo pipefail
CONLL=${1:?usage: table1_tuned.sh CONLL_DIR WORK_DIR}
WORK=${2:?usage: table1_tuned.sh CONLL_DIR WORK_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SEEDS=${SEEDS:-5}
EPOCHS=${EPOCHS:-12}
PARALLEL=${PARALLEL:-2}
SWEEP=(--conll "$CONLL" --epochs "$EPOCHS" --final-tf 0.75 --plugin-final-tf
       --parallel "$PARALLEL")
TABLE=ner-table1
FINALS=teacher-forcing-final=0.9,0.75,0.5
source "$ROOT/examples/table1_tuning.sh"
mkdir -p "$WORK"

# stage 1
tune_grid ce "Baseline CE" --grid clip-norm=1,5,25
tune_grid bengio_greedy "Bengio et al. (2015) greedy" --grid "$FINALS"
tune_grid bengio_sample "Bengio et al. (2015) sample" --grid "$FINALS"
tune_grid soft_greedy "alpha-soft fixed greedy" --grid "$FINALS" --grid alpha=1,10,100
tune_grid soft_sample "alpha-soft fixed sample" --grid "$FINALS" --grid alpha=1,10,100
tune_grid annealed_greedy "alpha-soft annealed greedy" --grid "$FINALS"
tune_grid annealed_sample "alpha-soft annealed sample" --grid "$FINALS"
tune_grid st_greedy "straight-through greedy" --grid "$FINALS"
tune_grid st_sample "straight-through sample" --grid "$FINALS"

# stage 2
tune_grid soft_greedy_clip "alpha-soft fixed greedy" \
  --row-settings "$WORK/tune/soft_greedy/grid_best.json" --grid clip-norm=1,5,25
credit_rows_from "$WORK/tune/soft_greedy_clip/grid_best.json"
tune_grid bounded "alpha-soft fixed greedy, bounded credit" \
  --row-settings "$WORK/tune/bounded_base.json" --grid credit-scale=0.25,0.5,0.9

# stage 3
merge_settings "$WORK"/tune/{ce,bengio_greedy,bengio_sample,annealed_greedy,annealed_sample,st_greedy,st_sample,bounded,soft_sample,soft_greedy_clip}/grid_best.json \
  "$WORK/tune/detached.json"
tuned_table

# stage 4: the convergence check
if [ -n "${LONGER_EPOCHS:-}" ]; then
  convergence_check "$LONGER_EPOCHS"
fi

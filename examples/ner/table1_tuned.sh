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
# Every stage resumes: run the same command again after an interruption.
# Environment: SEEDS (5), EPOCHS (12, the cap; the schedule ends there: runs of the NER
# preset converge in 10-13 epochs under patience 3, so a later end would never be reached),
# PARALLEL (2).
set -euo pipefail
CONLL=${1:?usage: table1_tuned.sh CONLL_DIR WORK_DIR}
WORK=${2:?usage: table1_tuned.sh CONLL_DIR WORK_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SEEDS=${SEEDS:-5}
EPOCHS=${EPOCHS:-12}
PARALLEL=${PARALLEL:-2}
COMMON=(--conll "$CONLL" --epochs "$EPOCHS" --final-tf 0.75 --plugin-final-tf
        --parallel "$PARALLEL")
FINALS=teacher-forcing-final=0.9,0.75,0.5
mkdir -p "$WORK"

grid() {  # grid DIR ROW [sweep args...]
  local dir=$1 row=$2
  shift 2
  python "$ROOT/scripts/sweep.py" ner-table1 --work "$WORK/tune/$dir" --seeds 1 \
    "${COMMON[@]}" --grid-row "$row" "$@"
}

merge() {  # merge OUT.json IN.json...: one --row-settings file from grid_best.json files
  python - "$@" <<'EOF'
import json, sys
merged = {}
for path in sys.argv[2:]:
    with open(path) as f:
        merged.update(json.load(f))
with open(sys.argv[1], "w") as f:
    json.dump(merged, f, indent=1)
EOF
}

# stage 1
grid ce "Baseline CE" --grid clip-norm=1,5,25
grid bengio_greedy "Bengio et al. (2015) greedy" --grid "$FINALS"
grid bengio_sample "Bengio et al. (2015) sample" --grid "$FINALS"
grid soft_greedy "alpha-soft fixed greedy" --grid "$FINALS" --grid alpha=1,10,100
grid soft_sample "alpha-soft fixed sample" --grid "$FINALS" --grid alpha=1,10,100
grid annealed_greedy "alpha-soft annealed greedy" --grid "$FINALS"
grid annealed_sample "alpha-soft annealed sample" --grid "$FINALS"
grid st_greedy "straight-through greedy" --grid "$FINALS"
grid st_sample "straight-through sample" --grid "$FINALS"

# stage 2: soft greedy's tuned settings with --clip-norm 1 / 5 / 25; then the bounded and
# detached rows start from the result, so that each differs from soft greedy only in the
# credit-assignment gradient (scaled, or cut)
grid soft_greedy_clip "alpha-soft fixed greedy" \
  --row-settings "$WORK/tune/soft_greedy/grid_best.json" --grid clip-norm=1,5,25
python - "$WORK/tune/soft_greedy_clip/grid_best.json" "$WORK/tune" <<'EOF'
import json, os, sys
best = json.load(open(sys.argv[1]))["alpha-soft fixed greedy"]
for name, row in (("bounded_base", "alpha-soft fixed greedy, bounded credit"),
                  ("detached", "alpha-soft fixed greedy, detached")):
    with open(os.path.join(sys.argv[2], name + ".json"), "w") as f:
        json.dump({row: best}, f)
EOF
grid bounded "alpha-soft fixed greedy, bounded credit" \
  --row-settings "$WORK/tune/bounded_base.json" --grid credit-scale=0.25,0.5,0.9

# stage 3
merge "$WORK/settings.json" "$WORK"/tune/{ce,bengio_greedy,bengio_sample,annealed_greedy,annealed_sample,st_greedy,st_sample,bounded,soft_sample,soft_greedy_clip}/grid_best.json \
  "$WORK/tune/detached.json"
# a row's seed-1 run with its tuned settings is the tuning run that chose them (runs are
# deterministic given the seed: the same scores to the last digit): read it back, not again
python - "$WORK" "$ROOT/scripts" <<'EOF'
import glob, json, os, shlex, shutil, sys
work = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from sweep import slug  # the sweep's own run-folder names
settings = {row: shlex.split(args) for row, args in json.load(open(f"{work}/settings.json")).items()}
for path in sorted(glob.glob(f"{work}/tune/*/runs/*.seed1/result.json")):
    result = json.load(open(path))
    row = result["name"].rsplit(" [", 1)[0]
    dest = os.path.join(work, "table", "runs", f"{slug(row)}.seed1")
    if settings.get(row) == result["row_args"] and not os.path.exists(dest):
        shutil.copytree(os.path.dirname(path), dest)
        with open(os.path.join(dest, "result.json"), "w") as f:
            json.dump({**result, "name": row}, f, indent=1)
        print(f"{row} seed 1: the tuning run {os.path.basename(os.path.dirname(path))}")
EOF
python "$ROOT/scripts/sweep.py" ner-table1 --work "$WORK/table" --seeds "$SEEDS" "${COMMON[@]}" \
  --row-settings "$WORK/settings.json"

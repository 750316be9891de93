# Table 1 under the sweep protocol, every row's settings tuned on dev first (issue #9): the
# pieces shared by examples/ner/table1_tuned.sh and examples/multi30k/table1_tuned.sh, which
# source this file and say which grids to run. Before calling them the caller sets
#   ROOT   the repository,   TABLE  the sweep table (ner-table1, mt-table1),
#   WORK   the work folder,  SWEEP  (array) the sweep arguments of every run: the data option,
#          the cap, the schedule's form, --parallel and any fairseq-train arguments,
#   SEEDS  seeds of the final table.
# Tuning runs use seed 1 and live in WORK/tune/DIR; the table in WORK/table; the convergence
# check in WORK/longer. Every step
# resumes (sweep.py reads finished runs back), so the caller's script can be run again.

# tune_grid DIR ROW [sweep args...]: one dev grid of one row (seed 1), in WORK/tune/DIR
tune_grid() {
  local dir=$1 row=$2
  shift 2
  "${PYTHON:-python}" "$ROOT/scripts/sweep.py" "$TABLE" --work "$WORK/tune/$dir" --seeds 1 \
    "${SWEEP[@]}" --grid-row "$row" "$@"
}

# best_of OUT.json ROW DIR...: ROW's setting with the best dev score over the grids in
# WORK/tune/DIR... (a coordinate search: each later grid starts from an earlier grid's best
# and leaves out the value that run already had, so the best may be in any of them)
best_of() {
  "${PYTHON:-python}" - "$WORK/tune" "$ROOT/scripts" "$@" <<'EOF'
import json, os, shlex, sys
tune, out, row, dirs = sys.argv[1], sys.argv[3], sys.argv[4], sys.argv[5:]
sys.path.insert(0, sys.argv[2])
from sweep import best_grid_point  # the rule the sweep's own grid_best.json follows
points = []
for d in dirs:
    with open(os.path.join(tune, d, "grid.json")) as f:
        points += json.load(f)["summary"]
best = best_grid_point(points)
if best is None:
    sys.exit(f"best_of {row}: no finished run in {dirs}")
with open(out, "w") as f:
    json.dump({row: shlex.join(best["row_args"])}, f, indent=1)
print(f"{row}: best on dev over {', '.join(dirs)}: {best['name']} ({best['dev_mean']:.2f})")
EOF
}

# credit_rows_from SOFT_GREEDY_BEST.json: the bounded-credit and detached rows start from
# soft greedy's tuned settings (WORK/tune/bounded_base.json, WORK/tune/detached.json), so
# that each differs from it only in the credit-assignment gradient (scaled, or cut)
credit_rows_from() {
  "${PYTHON:-python}" - "$1" "$WORK/tune" <<'EOF'
import json, os, sys
best = json.load(open(sys.argv[1]))["alpha-soft fixed greedy"]
for name, row in (("bounded_base", "alpha-soft fixed greedy, bounded credit"),
                  ("detached", "alpha-soft fixed greedy, detached")):
    with open(os.path.join(sys.argv[2], name + ".json"), "w") as f:
        json.dump({row: best}, f)
EOF
}

# merge_settings FILE.json...: WORK/settings.json, one --row-settings file from several
merge_settings() {
  "${PYTHON:-python}" - "$WORK/settings.json" "$@" <<'EOF'
import json, sys
merged = {}
for path in sys.argv[2:]:
    with open(path) as f:
        merged.update(json.load(f))
with open(sys.argv[1], "w") as f:
    json.dump(merged, f, indent=1)
EOF
}

# a row's seed-1 run with its tuned settings is the tuning run that chose them (runs are
# deterministic given the seed: the same scores to the last digit): read it back, not again
reuse_tuning_runs() {
  "${PYTHON:-python}" - "$WORK" "$ROOT/scripts" <<'EOF'
import glob, json, os, shlex, shutil, sys
work = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from sweep import slug  # the sweep's own run-folder names
with open(f"{work}/settings.json") as f:
    settings = {row: shlex.split(args) for row, args in json.load(f).items()}
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
}

# the table: every row with its tuned settings (WORK/settings.json), SEEDS seeds
tuned_table() {
  reuse_tuning_runs
  "${PYTHON:-python}" "$ROOT/scripts/sweep.py" "$TABLE" --work "$WORK/table" --seeds "$SEEDS" \
    "${SWEEP[@]}" --row-settings "$WORK/settings.json"
}

# convergence_check CAP: cross-entropy, Bengio greedy and the relaxed row with the best mean
# dev score in WORK/table (failed rows left out), trained again with the same settings and
# seeds at the cap CAP (the schedule still ends at the cap, so it is stretched with it), in
# WORK/longer: whether the table's ordering survives runs that stop on patience rather than
# at the cap
convergence_check() {
  local cap=$1 rows
  mapfile -t rows < <("${PYTHON:-python}" - "$WORK/table/results.json" "$ROOT/scripts" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[2])
from sweep import best_grid_point  # best mean dev score, failed rows left out
summary = json.load(open(sys.argv[1]))["summary"]
best = best_grid_point([row for row in summary
                        if not row["name"].startswith(("Baseline", "Bengio"))])
if best is not None:
    print("Baseline CE", "Bengio et al. (2015) greedy", best["name"], sep="\n")
EOF
  )
  if [ "${#rows[@]}" != 3 ]; then
    echo "convergence_check: no rows for the convergence check in $WORK/table/results.json" >&2
    return 1
  fi
  echo "convergence check at a cap of $cap epochs: ${rows[*]}"
  "${PYTHON:-python}" "$ROOT/scripts/sweep.py" "$TABLE" --work "$WORK/longer" --seeds "$SEEDS" \
    "${SWEEP[@]}" --epochs "$cap" --row-settings "$WORK/settings.json" --only "${rows[@]}"
}

#!/usr/bin/env bash
# One cell of the support matrix in README.md: install this checkout's committed code
# with a given Python and torch into a fresh virtual environment, then run the test
# suite, and say whether each passed.
#
#   bash scripts/check_support.sh PYTHON_VERSION TORCH_VERSION [WORK_DIR]
#   bash scripts/check_support.sh 3.12 2.6.0
#
# PYTHON_VERSION: 3.11, 3.12, ... (found as pyenv's newest 3.12.x, else python3.12 on
# PATH) or a path to a Python. TORCH_VERSION: a release on the package index (e.g.
# 2.6.0) or `keep` for install.sh's own choice. WORK_DIR (default: a new temporary
# folder) receives the clone, the venv, install.log, tests.log and cell.json; the
# venv is removed afterwards unless KEEP_VENV=1 (a CUDA build of torch takes ~5 GB).
# The environment is passed to pip as it is: PIP_NO_CACHE_DIR=1 makes the install
# cold, as CI's is.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 PYTHON_VERSION TORCH_VERSION [WORK_DIR]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$1
TORCH_VERSION=$2
WORK=${3:-$(mktemp -d -t relaxss-cell-XXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

find_python() {  # the interpreter for PY: a path, pyenv's newest PY.x, or pythonPY
  if [ -x "$PY" ]; then echo "$PY"; return; fi
  local root
  root=$(pyenv root 2>/dev/null || true)
  if [ -n "$root" ]; then
    local found
    found=$(ls -d "$root/versions/$PY".* 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$found" ] && [ -x "$found/bin/python" ]; then echo "$found/bin/python"; return; fi
  fi
  command -v "python$PY" || true
}
PYTHON_BIN=$(find_python)
[ -n "$PYTHON_BIN" ] || { echo "no Python $PY found (pyenv or python$PY on PATH)" >&2; exit 2; }

echo "== cell: Python $("$PYTHON_BIN" -c 'import platform; print(platform.python_version())')," \
  "torch $TORCH_VERSION; work folder $WORK"
rm -rf "$WORK/src" "$WORK/venv"
git clone --quiet "$ROOT" "$WORK/src"
echo "== testing commit $(git -C "$WORK/src" rev-parse --short HEAD)"

torch_env=()
[ "$TORCH_VERSION" = keep ] || torch_env=(TORCH="$TORCH_VERSION")
start=$SECONDS
if env "${torch_env[@]}" VENV="$WORK/venv" PYTHON="$PYTHON_BIN" \
    bash "$WORK/src/scripts/install.sh" > "$WORK/install.log" 2>&1; then
  install=pass
else
  install=fail
fi
install_s=$((SECONDS - start))
echo "== install: $install ($install_s s; log $WORK/install.log)"
[ "$install" = pass ] || tail -n 20 "$WORK/install.log"

tests=not-run
summary=""
torch_installed=$("$WORK/venv/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)
if [ "$install" = pass ]; then
  start=$SECONDS
  # as README's test command: the recipes the tests run call `python` from PATH
  if (cd "$WORK/src" && source "$WORK/venv/bin/activate" && python -m pytest -q -p no:cacheprovider tests) \
      > "$WORK/tests.log" 2>&1; then
    tests=pass
  else
    tests=fail
  fi
  summary=$(grep -E "^[0-9]+ (passed|failed)|(passed|failed|error).* in [0-9.]+s" "$WORK/tests.log" | tail -n 1)
  echo "== tests: $tests: $summary ($((SECONDS - start)) s; log $WORK/tests.log)"
fi

"$PYTHON_BIN" - "$WORK/cell.json" <<PY
import json, sys
cell = {"python": "$("$PYTHON_BIN" -c 'import platform; print(platform.python_version())')",
        "torch_requested": "$TORCH_VERSION", "torch": "$torch_installed",
        "install": "$install", "install_seconds": $install_s, "tests": "$tests",
        "summary": """$summary""".strip()}
json.dump(cell, open(sys.argv[1], "w"), indent=1)
print("==", json.dumps(cell))
PY
[ "${KEEP_VENV:-0}" = 1 ] || rm -rf "$WORK/venv"
[ "$install" = pass ] && [ "$tests" = pass ]

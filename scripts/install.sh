#!/usr/bin/env bash
# Install relaxss-fairseq and everything it needs into a virtual environment.
#
#   bash scripts/install.sh            # creates/updates ./.venv
#   VENV=/path/to/env bash scripts/install.sh
#   VENV=none bash scripts/install.sh  # use the current Python environment
#   PYTHON=python3.12 bash scripts/install.sh   # the Python that creates the venv
#   TORCH=2.6.0 bash scripts/install.sh         # a torch release (default: keep an
#                                               # installed one, else 2.13.0)
#
# Steps: upgrade pip inside the environment (the pip a new venv brings, 23.x on
# Python 3.11, builds some source distributions, e.g. seqeval's, through the legacy
# `setup.py egg_info` path, which fails once a current setuptools is installed), torch,
# then fairseq: the official fairseq==0.12.2 does not install on Python 3.11, so we
# build fairseq-fixed (same `fairseq` import, same CLI) with --no-deps
# --no-build-isolation against that torch, plus its real runtime dependencies --
# never torchaudio, never a second torch.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
DEFAULT_TORCH=2.13.0
step="starting"
trap 'status=$?; echo "!! install.sh failed while $step (exit $status)." >&2
echo "!! What to try: run the pip command above without -q to see the whole error; check that" >&2
echo "!!   $PYTHON has its headers and a C++ compiler (the fairseq build needs both); a Python the" >&2
echo "!!   README lists as supported; or a fresh environment (rm -rf $VENV) if an earlier" >&2
echo "!!   install was interrupted." >&2' ERR

if [ "$VENV" != none ]; then
  step="creating the virtual environment $VENV"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  PYTHON="$VENV/bin/python"
fi
pip_install() { "$PYTHON" -m pip install --disable-pip-version-check -q "$@"; }

echo "== installing into $("$PYTHON" -c 'import sys; print(sys.prefix)')" \
  "(Python $("$PYTHON" -c 'import platform; print(platform.python_version())'))"
step="upgrading pip"
pip_install --upgrade pip

installed_torch=$("$PYTHON" -c "from importlib.metadata import version; print(version('torch').split('+')[0])" 2>/dev/null || true)
if [ -n "${TORCH:-}" ] && [ "$installed_torch" != "$TORCH" ]; then
  step="installing torch==$TORCH"
  echo "== installing torch==$TORCH"
  pip_install "torch==$TORCH"
elif [ -n "$installed_torch" ]; then
  echo "== keeping torch $installed_torch"
else
  step="installing torch==$DEFAULT_TORCH"
  echo "== installing torch==$DEFAULT_TORCH"
  pip_install "torch==$DEFAULT_TORCH"
fi
# the distribution's version, which pip can match: torch.__version__ of a PyPI wheel
# carries a local tag (2.6.0+cu124) that no index serves
TORCH_PIN="torch==$("$PYTHON" -c 'from importlib.metadata import version; print(version("torch"))')"

step="installing fairseq's build requirements"
pip_install "numpy<2" cython setuptools wheel "$TORCH_PIN"
if ! "$PYTHON" -c "import fairseq" 2>/dev/null; then
  step="building fairseq-fixed==0.12.3.1"
  echo "== building fairseq-fixed 0.12.3.1 against $TORCH_PIN (C++ extensions; about 3 minutes on 2 cores)"
  start=$SECONDS
  pip_install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
  echo "== built fairseq-fixed in $((SECONDS - start)) s"
fi
# fairseq's runtime dependencies (its metadata also names torchaudio, which we never want),
# the plugin's and recipes' own (seqeval, sentencepiece, sacremoses, sacrebleu, matplotlib)
# and the test tools
step="installing the runtime dependencies"
echo "== installing the runtime dependencies (pip will note that fairseq-fixed asks for torchaudio:" \
  "expected, it is never installed)"
pip_install "$TORCH_PIN" "numpy<2" bitarray cffi hydra-core==1.3.2 omegaconf==2.3.0 regex sacrebleu \
  scikit-learn tqdm packaging tensorboardX seqeval sentencepiece sacremoses matplotlib pytest scipy
step="installing relaxss-fairseq"
pip_install --no-deps -e .

step="importing torch, fairseq, relaxss and relaxss_fairseq"
"$PYTHON" - <<'PY'
import torch, fairseq, relaxss, relaxss_fairseq
print(f"== ready: torch {torch.__version__}, fairseq {fairseq.__version__}, "
      f"relaxss_fairseq {relaxss_fairseq.__version__}")
PY

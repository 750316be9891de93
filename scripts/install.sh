#!/usr/bin/env bash
# Install relaxss-fairseq and everything it needs into a virtual environment.
#
#   bash scripts/install.sh            # creates/updates ./.venv
#   VENV=/path/to/env bash scripts/install.sh
#   VENV=none bash scripts/install.sh  # use the current Python environment
#
# torch: an already installed torch is kept; otherwise torch==2.13.0 (CPU) is
# installed. fairseq: the official fairseq==0.12.2 does not install on Python
# 3.11, so we build fairseq-fixed (same `fairseq` import, same CLI) with
# --no-deps --no-build-isolation against that torch, plus its real runtime
# dependencies -- never torchaudio, never a second torch.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
if [ "$VENV" != none ]; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  PYTHON="$VENV/bin/python"
fi
pip_install() { "$PYTHON" -m pip install --disable-pip-version-check -q "$@"; }

echo "== installing into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
if "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "== keeping torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
else
  pip_install torch==2.13.0
fi
TORCH_PIN="torch==$("$PYTHON" -c 'import torch; print(torch.__version__)')"

# build requirements of fairseq-fixed, installed first (no build isolation)
pip_install "numpy<2" cython setuptools wheel "$TORCH_PIN"
if ! "$PYTHON" -c "import fairseq" 2>/dev/null; then
  echo "== building fairseq-fixed (C++ extensions, a few minutes the first time; pip caches the wheel)"
  pip_install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
fi
# fairseq's runtime dependencies (its metadata also names torchaudio, which we never want),
# the plugin's and recipes' own (seqeval, sentencepiece, sacremoses, sacrebleu, matplotlib)
# and the test tools
pip_install "$TORCH_PIN" "numpy<2" bitarray cffi hydra-core==1.3.2 omegaconf==2.3.0 regex sacrebleu \
  scikit-learn tqdm packaging tensorboardX seqeval sentencepiece sacremoses matplotlib pytest scipy
pip_install --no-deps -e .

"$PYTHON" - <<'PY'
import torch, fairseq, relaxss_fairseq
print(f"== ready: torch {torch.__version__}, fairseq {fairseq.__version__}, "
      f"relaxss_fairseq {relaxss_fairseq.__version__}")
PY

#!/usr/bin/env bash
# Builds the kit that run.sh needs on a GPU machine that has Python 3.12, torch and numpy 2
# but no fairseq and no package index (the lent H100 of this workplace):
#
#   bash results/transformer_m30k_gpu/make_kit.sh MULTI30K_DATA_DIR KIT_DIR
#
# KIT_DIR/fsq: fairseq-fixed 0.12.3.1's Python packages (fairseq, fairseq_cli) with the
# extensions our runs import (data_utils_fast, token_block_utils_fast, libbleu) built for
# CPython 3.12 against numpy 2 (the machine's scipy and scikit-learn, which fairseq
# imports, need numpy 2; fairseq's torch extensions are imported lazily, by code paths
# these runs never take, and are left out), plus seqeval; KIT_DIR/whl: wheels of the pure
# or binary dependencies the machine lacks; KIT_DIR/m30k: the prepared data, less what
# training and scoring do not read. On the machine:
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site KIT_DIR/whl/*.whl
#   export PYTHONPATH=/tmp/site:$PWD/KIT_DIR/fsq:$PWD
#   bash results/transformer_m30k_gpu/run.sh KIT_DIR/m30k /tmp/tc $OUT
set -euo pipefail
DATA=${1:?usage: make_kit.sh MULTI30K_DATA_DIR KIT_DIR}
KIT=${2:?usage: make_kit.sh MULTI30K_DATA_DIR KIT_DIR}
if [ -z "${PY312:-}" ]; then  # a python3.12 that runs (a pyenv shim may not), else pyenv's
  if python3.12 -c "" 2>/dev/null; then PY312=python3.12; else PY312=$(ls -d "$HOME"/.pyenv/versions/3.12.*/bin/python | tail -n 1); fi
fi
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
mkdir -p "$KIT/fsq" "$KIT/whl"
KIT=$(cd "$KIT" && pwd)

"$PY312" -m venv "$BUILD/venv"
PIP=("$BUILD/venv/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install "numpy>=2" cython setuptools
# sdists fetched as files: pip download would run their setup.py, and fairseq's imports torch
sdist() {  # sdist NAME VERSION DIR: PyPI's source distribution, sha256 checked
  "$BUILD/venv/bin/python" - "$@" <<'PYEOF'
import hashlib, json, os, sys, urllib.request
name, version, folder = sys.argv[1:]
index = urllib.request.Request(f"https://pypi.org/simple/{name}/",  # PEP 691 JSON
                               headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(index) as answer:
    (entry,) = [f for f in json.load(answer)["files"]
                if f["filename"].endswith(f"-{version}.tar.gz")]
data = urllib.request.urlopen(entry["url"]).read()
if hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
    sys.exit(f"{entry['filename']}: sha256 differs from PyPI's")
os.makedirs(folder, exist_ok=True)
with open(os.path.join(folder, entry["filename"]), "wb") as f:
    f.write(data)
PYEOF
}
sdist fairseq-fixed 0.12.3.1 "$BUILD"
tar xzf "$BUILD"/fairseq_fixed-0.12.3.1.tar.gz -C "$BUILD"
SRC="$BUILD/fairseq_fixed-0.12.3.1"
# fairseq's setup.py imports torch for its C++ extensions; build the three torch-free ones
cat > "$SRC/build_kit.py" <<'EOF'
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

flags = ["-std=c++11", "-O3"]  # fairseq's setup.py, non-macOS
numpy_ext = dict(language="c++", include_dirs=[numpy.get_include()], extra_compile_args=flags)
setup(name="fairseq-kit", script_args=["build_ext", "--inplace"], ext_modules=cythonize([
    Extension("fairseq.libbleu", ["fairseq/clib/libbleu/libbleu.cpp",
                                  "fairseq/clib/libbleu/module.cpp"], extra_compile_args=flags),
    Extension("fairseq.data.data_utils_fast", ["fairseq/data/data_utils_fast.pyx"], **numpy_ext),
    Extension("fairseq.data.token_block_utils_fast", ["fairseq/data/token_block_utils_fast.pyx"],
              **numpy_ext),
]))
EOF
(cd "$SRC" && "$BUILD/venv/bin/python" build_kit.py > "$BUILD/build.log" 2>&1) \
  || { tail -n 20 "$BUILD/build.log" >&2; exit 1; }
rm -rf "$KIT/fsq/fairseq" "$KIT/fsq/fairseq_cli"
cp -rL "$SRC/fairseq" "$SRC/fairseq_cli" "$KIT/fsq/"
# what the runs never read, to keep the kit under the machine's 64 MiB transfer
rm -rf "$KIT/fsq/fairseq/examples" "$KIT/fsq/fairseq/clib"
find "$KIT/fsq" \( -name "*.pyx" -o -name "*.cu" -o -name "*.cuh" -o -name "*.cpp" \) -delete

"${PIP[@]}" download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$KIT/whl" bitarray hydra-core==1.3.2 omegaconf==2.3.0
"${PIP[@]}" wheel --no-deps -w "$KIT/whl" antlr4-python3-runtime==4.9.3
# seqeval publishes only a source distribution (its setup.py wants more than a bare venv);
# it is pure Python: its package is copied
sdist seqeval 1.2.2 "$BUILD/seqeval"
tar xzf "$BUILD"/seqeval/seqeval-*.tar.gz -C "$BUILD/seqeval"
rm -rf "$KIT/fsq/seqeval"
cp -r "$BUILD"/seqeval/seqeval-*/seqeval "$KIT/fsq/"

mkdir -p "$KIT/m30k/spm" "$KIT/m30k/text"
cp -r "$DATA/bin" "$KIT/m30k/"
cp "$DATA/spm/spm.model" "$KIT/m30k/spm/"
cp "$DATA"/text/{valid,test}.* "$KIT/m30k/text/"
du -sh "$KIT"

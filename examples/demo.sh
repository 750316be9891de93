#!/usr/bin/env bash
# Short end-to-end demo on a generated toy task (CPU, about a minute):
# generate data -> fairseq-preprocess -> fairseq-train with cross-entropy and with
# relaxed scheduled sampling (soft sample) -> fairseq-generate -> a small BLEU table.
#
#   bash examples/demo.sh [WORK_DIR]        (default: work_dirs/demo)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$ROOT/work_dirs/demo}
EPOCHS=${EPOCHS:-10}
mkdir -p "$WORK"

echo "== data: a generated toy task (map each word to its target word); no real data is used"
python "$ROOT/scripts/make_toy_data.py" "$WORK/raw" --train 3000 --valid 200 --test 200
rm -rf "$WORK/bin"
fairseq-preprocess --source-lang src --target-lang tgt \
  --trainpref "$WORK/raw/train" --validpref "$WORK/raw/valid" --testpref "$WORK/raw/test" \
  --destdir "$WORK/bin" --workers 2 2>&1 | tail -n 1

run() {  # run NAME CRITERION_ARGS...
  local name=$1; shift
  echo "== train $name ($EPOCHS epochs)"
  rm -rf "$WORK/ckpt_$name"
  fairseq-train "$WORK/bin" --user-dir "$ROOT/relaxss_fairseq" \
    --arch lstm_relaxed_paper_mt --encoder-embed-dim 64 --encoder-hidden-size 64 \
    --decoder-embed-dim 64 --decoder-hidden-size 64 --decoder-out-embed-dim 64 \
    --decoder-attention-dim 64 --dropout 0.1 \
    --optimizer adam --lr 0.01 --clip-norm 1.0 --max-tokens 2000 --max-epoch "$EPOCHS" \
    --save-dir "$WORK/ckpt_$name" --no-epoch-checkpoints --cpu --seed 1 --required-batch-size-multiple 1 \
    --log-format simple --log-interval 50 "$@" 2>&1 | grep -E "\| (train|valid) \|"
  fairseq-generate "$WORK/bin" --user-dir "$ROOT/relaxss_fairseq" \
    --path "$WORK/ckpt_$name/checkpoint_last.pt" --beam 5 --batch-size 64 --cpu --required-batch-size-multiple 1 \
    > "$WORK/generate_$name.txt" 2>&1
  echo "$name $(grep -oP 'BLEU4 = \K[0-9.]+' "$WORK/generate_$name.txt")" >> "$WORK/bleu.txt"
}

rm -f "$WORK/bleu.txt"
run cross_entropy --criterion relaxed_scheduled_sampling --rollin teacher_forcing
run soft_sample --criterion relaxed_scheduled_sampling --rollin soft_sample \
  --teacher-forcing-k 3 --alpha 1 --alpha-anneal-rate 1.5 --alpha-max 20

echo
echo "== test BLEU (fairseq-generate, beam 5, toy task, CPU-scale)"
printf '| %-14s | %6s |\n|----------------|--------|\n' training BLEU
while read -r name bleu; do printf '| %-14s | %6s |\n' "$name" "$bleu"; done < "$WORK/bleu.txt"

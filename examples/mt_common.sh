# Shared steps of the MT recipes (examples/iwslt14, examples/multi30k); sourced, not run.
#
# Layout of a DATA_DIR:
#   text/{train,valid,test}.{de,en}  cleaned, untokenized text (the BLEU references)
#   spm/spm.model, spm/*.{de,en}     joint sentencepiece model and the encoded text
#   bin/                             fairseq-preprocess output (joined dictionary)
# A SAVE_DIR gets checkpoint_{best,last}.pt, train.log, train_stats.json and, per
# scored checkpoint, <checkpoint>.{valid,test}.{generate.txt,generate.log,hyp} and
# <checkpoint>.bleu.json.
#
# Environment: PYTHON (python), SRC/TGT (de/en), WORKERS (CPU count).
MT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
MT_DATA="$MT_ROOT/scripts/mt_data.py"
USER_DIR="$MT_ROOT/relaxss_fairseq"
SRC=${SRC:-de}
TGT=${TGT:-en}
WORKERS=${WORKERS:-$(nproc 2>/dev/null || echo 1)}

mt_has_gpu() {
  [ "$("$PYTHON" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null)" = True ]
}

mt_lowercase_flag() {  # --lowercase when LOWERCASE=1
  if [ "${LOWERCASE:-0}" = 1 ]; then echo --lowercase; fi
}

# mt_binarize DATA_DIR VOCAB_SIZE: joint sentencepiece on DATA_DIR/text/train.{SRC,TGT},
# encode every split, binarize with one dictionary shared by both languages.
mt_binarize() {
  local data=$1 vocab=$2
  echo "== sentencepiece (joint, ${SPM_TYPE:-unigram}, vocab $vocab)"
  "$PYTHON" "$MT_DATA" spm "$data/text" "$data/spm" --vocab-size "$vocab" \
    --model-type "${SPM_TYPE:-unigram}" --src "$SRC" --tgt "$TGT"
  echo "== fairseq-preprocess (joined dictionary) -> $data/bin"
  rm -rf "$data/bin"
  "$PYTHON" -m fairseq_cli.preprocess --source-lang "$SRC" --target-lang "$TGT" \
    --trainpref "$data/spm/train" --validpref "$data/spm/valid" --testpref "$data/spm/test" \
    --destdir "$data/bin" --joined-dictionary --workers "$WORKERS" 2>&1 | tail -n 1
  cp "$data/spm/spm.model" "$data/bin/"
}

mt_is_transformer() { [[ ${ARCH:-} == transformer_relaxed* ]]; }

# Defaults of the criterion (the plugin's) and of the optimisation; a recipe sets its own
# MAX_TOKENS/MAX_EPOCH/... before calling mt_train, the environment overrides both.
mt_train_defaults() {
  : "${ARCH:=lstm_relaxed_paper_mt}"
  if mt_is_transformer; then  # fairseq's IWSLT14 Transformer recipe (examples/translation)
    : "${LR:=0.0005}" "${CLIP_NORM:=0.0}" "${LABEL_SMOOTHING:=0.1}" "${WARMUP_UPDATES:=4000}"
  fi
  # K: unset leaves the criterion's k (10), and lets --teacher-forcing-final derive it
  : "${ROLLIN:=soft_greedy}" "${SCHEDULE:=inverse_sigmoid}" "${SCHEDULE_UNIT:=epoch}"
  : "${GOLD_WARMUP_EPOCHS:=1}" "${ALPHA:=10}" "${ALPHA_ANNEAL_RATE:=1.0}" "${LABEL_SMOOTHING:=0}"
  : "${LR:=0.001}" "${CLIP_NORM:=1.0}" "${MAX_TOKENS:=4000}" "${MAX_EPOCH:=20}" "${SEED:=1}"
  : "${LOG_INTERVAL:=100}"
}

# mt_train DATA_DIR SAVE_DIR [extra fairseq-train args]: fairseq-train with the relaxed
# criterion. GPU: every visible GPU (fairseq spawns one process per GPU, DDP). No GPU:
# --cpu, one process, or CPU_PROCS gloo processes under torchrun (see iwslt14/train.sh).
# Criterion and optimiser settings come from the environment (defaults set by the caller).
mt_train() {
  local data=$1 save=$2
  shift 2
  mt_train_defaults
  mkdir -p "$save"
  local args=(
    "$data/bin" --user-dir "$USER_DIR" --arch "$ARCH"
    --source-lang "$SRC" --target-lang "$TGT"
    --criterion relaxed_scheduled_sampling --rollin "$ROLLIN"
    --teacher-forcing-schedule "$SCHEDULE"
    --schedule-unit "$SCHEDULE_UNIT" --gold-warmup-epochs "$GOLD_WARMUP_EPOCHS"
    --alpha "$ALPHA" --alpha-anneal-rate "$ALPHA_ANNEAL_RATE"
    --label-smoothing "$LABEL_SMOOTHING"
    --optimizer adam --lr "$LR" --clip-norm "$CLIP_NORM"
    --max-tokens "$MAX_TOKENS" --max-epoch "$MAX_EPOCH" --seed "$SEED"
    --required-batch-size-multiple 1  # 8 (the default) drops up to 7 sentences: see mt_generate
    --save-dir "$save" --no-epoch-checkpoints
    --log-format simple --log-interval "$LOG_INTERVAL" --no-progress-bar
  )
  if [ -n "${K:-}" ]; then args+=(--teacher-forcing-k "$K"); fi
  if [ -n "${ALPHA_MAX:-}" ]; then args+=(--alpha-max "$ALPHA_MAX"); fi
  if mt_is_transformer; then
    args+=(--lr-scheduler inverse_sqrt --warmup-updates "$WARMUP_UPDATES"
           --adam-betas "(0.9, 0.98)" --weight-decay 0.0001 --share-decoder-input-output-embed)
  fi
  local procs=${CPU_PROCS:-1}
  echo "== fairseq-train -> $save"
  echo "   arguments (later ones win): ${args[*]} $*"
  if mt_has_gpu; then
    echo "   on every visible GPU: ${CUDA_VISIBLE_DEVICES:-all}"
    "$PYTHON" -m fairseq_cli.train "${args[@]}" "$@" 2>&1 | tee -a "$save/train.log"
  elif [ "$procs" -gt 1 ]; then
    # fairseq cannot spawn CPU workers itself (it spawns one per GPU), and its torchrun
    # support divides by the GPU count: launch the processes with torchrun and hand each
    # its rank explicitly through env:// (see iwslt14/train.sh).
    echo "   no GPU: $procs CPU processes (gloo, torchrun)"
    local threads=$(( WORKERS / procs ))
    [ "$threads" -ge 1 ] || threads=1
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-$threads} \
    "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$procs" --no-python \
      bash -c 'exec "$0" -m fairseq_cli.train "$@" --distributed-world-size "$WORLD_SIZE" \
        --distributed-rank "$RANK"' \
      "$PYTHON" "${args[@]}" --cpu --distributed-backend gloo --ddp-backend legacy_ddp \
      --distributed-init-method env:// --distributed-no-spawn "$@" 2>&1 | tee -a "$save/train.log"
  else
    echo "   no GPU: --cpu"
    "$PYTHON" -m fairseq_cli.train "${args[@]}" --cpu "$@" 2>&1 | tee -a "$save/train.log"
  fi
  "$PYTHON" "$MT_DATA" train-stats "$save/train.log" "$save/train_stats.json"
}

# mt_generate DATA_DIR CHECKPOINT [SPLIT] [extra fairseq-generate args]: beam search,
# hypotheses in input order, sentencepiece decoded, sacreBLEU against DATA_DIR/text.
# --required-batch-size-multiple 1: with fairseq's default of 8, batch_by_size drops the
# last batch when its size is not a multiple of 8 (fairseq issue #5036), so e.g. only
# 1,008 of Multi30k's 1,014 validation sentences would be translated.
mt_generate() {
  local data=$1 ckpt=$2 split=${3:-test}
  shift 2
  [ $# -eq 0 ] || shift
  local dir stem out
  dir=$(cd "$(dirname "$ckpt")" && pwd)
  stem=$(basename "$ckpt" .pt)
  out="$dir/$stem.$split"
  local device=()
  mt_has_gpu || device=(--cpu)
  echo "== fairseq-generate $split (beam ${BEAM:-5}) with $ckpt"
  "$PYTHON" -m fairseq_cli.generate "$data/bin" --user-dir "$USER_DIR" --path "$ckpt" \
    --source-lang "$SRC" --target-lang "$TGT" --gen-subset "$split" \
    --beam "${BEAM:-5}" --max-tokens "${GEN_MAX_TOKENS:-8000}" --required-batch-size-multiple 1 \
    --post-process sentencepiece ${device[@]+"${device[@]}"} "$@" \
    > "$out.generate.txt" 2> "$out.generate.log" \
    || { tail -n 20 "$out.generate.log" >&2; return 1; }
  grep -o "Translated .*" "$out.generate.log" | sed 's/^/   /' || true
  "$PYTHON" "$MT_DATA" hyps "$out.generate.txt" "$out.hyp"
  "$PYTHON" "$MT_DATA" score "$out.hyp" "$data/text/$split.$TGT" --split "$split" \
    --json "$dir/$stem.bleu.json" --checkpoint "$dir/$stem.pt" --run "$(basename "$dir")"
}

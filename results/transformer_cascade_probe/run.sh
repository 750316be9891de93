cd /work/main && source .venv/bin/activate
for row in "ce --rollin teacher_forcing" "soft_greedy --rollin soft_greedy --alpha 10 --teacher-forcing-final 0.25" "soft_greedy_nograd --rollin soft_greedy --alpha 10 --teacher-forcing-final 0.25 --first-pass-grad False" "hard_greedy --rollin hard_greedy --teacher-forcing-final 0.25"; do
  set -- $row; name=$1; shift
  save=work_dirs/tr_cascade/$name
  rm -rf $save; mkdir -p $save
  OMP_NUM_THREADS=1 fairseq-train work_dirs/demo_cascade/bin --user-dir relaxss_fairseq --task translation --source-lang src --target-lang tgt \
    --arch transformer_relaxed --encoder-layers 2 --decoder-layers 2 --encoder-embed-dim 64 --decoder-embed-dim 64 \
    --encoder-ffn-embed-dim 128 --decoder-ffn-embed-dim 128 --encoder-attention-heads 4 --decoder-attention-heads 4 \
    --dropout 0.1 --share-all-embeddings --criterion relaxed_scheduled_sampling --label-smoothing 0 \
    --optimizer adam --adam-betas '(0.9, 0.98)' --lr 0.001 --lr-scheduler inverse_sqrt --warmup-updates 200 \
    --max-tokens 2000 --max-epoch 12 --save-dir $save --no-epoch-checkpoints --cpu --seed 1 \
    --required-batch-size-multiple 1 --log-format simple --log-interval 1000 "$@" > $save/train.log 2>&1
  OMP_NUM_THREADS=1 fairseq-generate work_dirs/demo_cascade/bin --user-dir relaxss_fairseq --task translation --source-lang src --target-lang tgt \
    --path $save/checkpoint_last.pt --beam 1 --max-len-a 1 --max-len-b 5 --batch-size 64 --cpu --required-batch-size-multiple 1 > $save/generate.txt 2>&1
  exact=$(awk -F '\t' '/^T-/ {ref[substr($1, 3)] = $2} /^H-/ {hyp[substr($1, 3)] = $3} END {n=0; ok=0; for (i in ref) {n++; if (hyp[i]==ref[i]) ok++}; printf "%.1f", 100*ok/n}' $save/generate.txt)
  echo "$name exact $exact $(grep -oP 'BLEU4 = \K[0-9.]+' $save/generate.txt) $(grep '| train | epoch 012' $save/train.log | grep -oP 'loss [0-9.]+|model_fed [0-9.]+|gnorm [0-9.]+|credit_gnorm [0-9.]+' | tr '\n' ' ')"
done

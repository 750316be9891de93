#!/usr/bin/env bash
# Train the paper's MT model (lstm_relaxed_paper_mt) with relaxed scheduled sampling:
#
#   bash examples/iwslt14/train.sh DATA_DIR SAVE_DIR [extra fairseq-train args]
#
# Extra arguments come last and override the defaults below (e.g. --max-epoch 1).
# Criterion settings (environment; defaults = the plugin's defaults):
#   ROLLIN=soft_greedy     teacher_forcing | hard_greedy | hard_sample | soft_greedy | soft_sample
#   SCHEDULE=inverse_sigmoid  K=(unset: the plugin's 10, or derived by --teacher-forcing-final)
#   SCHEDULE_UNIT=epoch  GOLD_WARMUP_EPOCHS=1
#   ALPHA=10  ALPHA_ANNEAL_RATE=1.0  ALPHA_MAX=(none)  LABEL_SMOOTHING=0
# Optimisation (not given by the paper; usual LSTM NMT settings):
#   LR=0.001 (adam)  CLIP_NORM=1.0  MAX_TOKENS=4000 (per process)  MAX_EPOCH=20  SEED=1
#   ARCH=lstm_relaxed_paper_mt  LOG_INTERVAL=100
# ARCH=transformer_relaxed_iwslt_de_en (or any transformer_relaxed_* preset) trains the
# Transformer with fairseq's IWSLT14 recipe instead: adam (0.9, 0.98), LR=0.0005,
# inverse_sqrt with WARMUP_UPDATES=4000, weight decay 0.0001, CLIP_NORM=0 (off),
# LABEL_SMOOTHING=0.1, --share-decoder-input-output-embed; the roll-in runs in passes
# (--rollin-passes 2, --first-pass-grad True: see README).
# The log is appended to SAVE_DIR/train.log; SAVE_DIR/train_stats.json gets the seconds
# per epoch (fairseq's per-epoch train_wall) for scripts/bleu_table.py.
#
# Devices
# -------
# GPU (torch.cuda.is_available()): fairseq-train uses every visible GPU, one process per
# GPU, PyTorch DDP over NCCL (--distributed-world-size defaults to the GPU count). The
# GPU lines below follow fairseq's code (fairseq/distributed/utils.py); they were not run
# here (no GPU):
#   CUDA_VISIBLE_DEVICES=0,1 bash examples/iwslt14/train.sh DATA SAVE   # GPUs 0 and 1
#   bash examples/iwslt14/train.sh DATA SAVE --distributed-world-size 2 # first 2 visible GPUs
# Each process takes MAX_TOKENS per batch: the effective batch grows with the GPU count
# (compensate with --update-freq when comparing runs on different GPU counts).
# Several nodes (N nodes x G GPUs): on every node, with its own NODE_RANK,
#   torchrun --nnodes N --nproc_per_node G --node_rank NODE_RANK \
#     --master_addr HOST_OF_NODE_0 --master_port 29500 "$(which fairseq-train)" \
#     DATA/bin --user-dir relaxss_fairseq ...mt_train's arguments (examples/mt_common.sh)... \
#     --distributed-world-size $((N*G)) --distributed-no-spawn
# fairseq then takes RANK/WORLD_SIZE from torchrun. Give --distributed-world-size
# explicitly: it defaults to the local GPU count, and with G=1 fairseq would think it
# is not distributed and every process would train alone.
#
# No GPU: --cpu, one process; CPU_PROCS=2 runs 2 data-parallel processes (gloo).
# What works on CPU with fairseq 0.12 (fairseq-fixed 0.12.3.1), checked here on 2 cores:
#  - fairseq-train --cpu --distributed-world-size 2 --distributed-backend gloo: fails,
#    "world size is 2 but have 0 available devices" (fairseq spawns one process per GPU);
#    adding --distributed-init-method tcp://localhost:PORT makes it spawn
#    min(#GPUs, world size) = 0 processes: it exits 0 without training anything.
#  - torchrun --nproc_per_node 2 fairseq-train --cpu ...: without --distributed-world-size
#    each process trains alone (world size 1), two runs writing one SAVE_DIR; with
#    --distributed-world-size 2 --distributed-no-spawn: ZeroDivisionError (fairseq
#    computes rank % torch.cuda.device_count()).
#  - the default --ddp-backend pytorch_ddp on CPU: DistributedDataParallel refuses
#    device_ids=[rank] for a CPU module. --ddp-backend legacy_ddp (alias no_c10d,
#    fairseq's own gradient all-reduce) works.
#  - works (what CPU_PROCS=2 runs): torchrun + env:// + each process's rank passed in:
#      OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 --no-python bash -c \
#        'exec python -m fairseq_cli.train "$@" --distributed-world-size $WORLD_SIZE \
#           --distributed-rank $RANK' python DATA/bin ...mt_train's arguments... \
#        --cpu --distributed-backend gloo --ddp-backend legacy_ddp \
#        --distributed-init-method env:// --distributed-no-spawn
#    and so do N processes started by hand, each with --distributed-init-method
#    tcp://HOST:PORT --distributed-world-size N --distributed-rank R --distributed-no-spawn
#    (plus the gloo/legacy_ddp/--cpu flags). Set OMP_NUM_THREADS to cores/N (torchrun
#    and CPU_PROCS do): with the default (every core per process), 2 processes on 2 cores
#    ran many times slower here. Even one process ran several times slower with 2
#    threads than with OMP_NUM_THREADS=1 while other jobs shared the 2 cores.
# Every rank computes the same tf_prob and alpha (a function of epoch and update only)
# and draws different coin flips / Gumbel noise (generator seeded with seed, update, rank).
set -euo pipefail
source "$(dirname "$0")/../mt_common.sh"
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR SAVE_DIR [extra fairseq-train args]" >&2; exit 2; }
MAX_TOKENS=${MAX_TOKENS:-4000}
MAX_EPOCH=${MAX_EPOCH:-20}
mt_train "$@"

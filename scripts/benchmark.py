#!/usr/bin/env python
"""Training speed and memory of each roll-in mode against fairseq's own LSTM.

Trains the same model size on the same random batches for a fixed number of
updates in each mode -- fairseq's stock ``lstm`` with ``cross_entropy`` as the
reference, then ``lstm_relaxed`` with ``relaxed_scheduled_sampling`` in
teacher_forcing, hard_greedy, hard_sample, soft_greedy and soft_sample (always
feeding the model: tf_prob = 0, the most expensive case) -- interleaved and
repeated, each run in a fresh process so its peak memory is its own.  Prints
per mode the median seconds/update, target words/second, peak memory, the
time ratio to the reference, and the analytic floor: FLOPs per target token
against the reference's.

    python scripts/benchmark.py [--vocab 10000 --batch-size 32 --length 25 \
        --updates 10 --repeats 3] [--json OUT.json]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

MODES = ["reference", "teacher_forcing", "hard_greedy", "hard_sample", "soft_greedy", "soft_sample"]


def model_args(opts, arch):
    """The paper's MT sizes (bidirectional 1x256 encoder, 1x256 decoder)."""
    import argparse as ap

    d = opts.dim
    return ap.Namespace(
        arch=arch, criterion="cross_entropy", dropout=0.2,
        encoder_embed_dim=d, encoder_hidden_size=d, encoder_layers=1, encoder_bidirectional=True,
        decoder_embed_dim=d, decoder_hidden_size=d, decoder_layers=1, decoder_out_embed_dim=d,
        decoder_attention_dim=d, max_source_positions=1024, max_target_positions=1024,
    )


def build(opts, mode):
    """Model, criterion and batches for one mode."""
    import torch
    from fairseq.criterions.cross_entropy import CrossEntropyCriterion
    from fairseq.data import Dictionary, LanguagePairDataset
    from fairseq.models.lstm import LSTMModel, base_architecture

    import relaxss_fairseq  # noqa: F401
    from relaxss_fairseq.criterions.relaxed_scheduled_sampling import (
        RelaxedScheduledSamplingConfig, RelaxedScheduledSamplingCriterion)
    from relaxss_fairseq.models.lstm_relaxed import RelaxedLSTMModel, lstm_relaxed_paper_mt

    class Task:
        source_dictionary = Dictionary()
        target_dictionary = Dictionary()

        def begin_epoch(self, epoch, model):
            pass

    task = Task()
    for i in range(opts.vocab - 4):
        task.source_dictionary.add_symbol(f"s{i}")
        task.target_dictionary.add_symbol(f"t{i}")

    torch.manual_seed(0)
    if mode == "reference":
        args = model_args(opts, "lstm")
        base_architecture(args)
        model = LSTMModel.build_model(args, task)
        criterion = CrossEntropyCriterion(task, sentence_avg=False)
    else:
        args = model_args(opts, "lstm_relaxed_paper_mt")
        lstm_relaxed_paper_mt(args)
        model = RelaxedLSTMModel.build_model(args, task)
        config = RelaxedScheduledSamplingConfig(
            sentence_avg=False, seed=1, rollin=mode, teacher_forcing_schedule="always",
            gold_warmup_epochs=0, alpha=10.0, relax_top_k=opts.relax_top_k,
        )
        criterion = RelaxedScheduledSamplingCriterion(config, task)
        criterion.set_epoch(2)

    generator = torch.Generator().manual_seed(1)
    def sentences(dictionary):
        return [torch.cat([torch.randint(4, len(dictionary), (opts.length - 1,), generator=generator),
                           torch.tensor([dictionary.eos()])]) for _ in range(opts.batch_size)]
    batches = []
    for _ in range(opts.distinct_batches):
        src, tgt = sentences(task.source_dictionary), sentences(task.target_dictionary)
        dataset = LanguagePairDataset(
            src, torch.tensor([len(s) for s in src]), task.source_dictionary,
            tgt, torch.tensor([len(t) for t in tgt]), task.target_dictionary)
        batches.append(dataset.collater([dataset[i] for i in range(opts.batch_size)]))
    return model, criterion, batches


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(opts):
    """Time ``opts.updates`` training updates of one mode; print JSON."""
    import torch

    torch.set_num_threads(opts.threads)
    model, criterion, batches = build(opts, opts.worker)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def update(i):
        sample = batches[i % len(batches)]
        optimizer.zero_grad()
        loss, _, _ = criterion(model, sample)
        loss.backward()
        optimizer.step()
        return sample["ntokens"]

    for i in range(opts.warmup):
        update(i)
    baseline = rss_mb()
    start = time.perf_counter()
    words = sum(update(i) for i in range(opts.updates))
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": opts.worker, "sec_per_update": elapsed / opts.updates,
                      "words_per_sec": words / elapsed, "peak_mb": peak,
                      "train_mb": max(peak - baseline, 0.0)}))


def flops_per_target_token(opts, mode):
    """Analytic training FLOPs per target token (forward x 3 for backward),
    counting matrix products only (2 FLOPs per multiply-add); source length
    equals target length here."""
    d, v = opts.dim, opts.vocab
    c = 2 * d  # bidirectional encoder output
    encoder = 2 * 2 * 4 * d * (d + d)  # two directions of an LSTM on d-dim input
    decoder_cell = 2 * 4 * d * (d + d + d)  # [embedding; input feed] and hidden
    output_layer = 2 * d * v
    if mode == "reference":  # fairseq's dot attention: input proj, scores, context, output proj
        attention = 2 * d * c + 2 * opts.length * c * 2 + 2 * (c + d) * d
    else:  # additive: query proj, keys once per source token, v.tanh, context, output proj
        attention = 2 * d * d + 2 * c * d + 2 * opts.length * d + 2 * opts.length * c + 2 * (c + d) * d
    relax = 0
    if mode in ("soft_greedy", "soft_sample"):
        k = opts.relax_top_k or v
        relax = 2 * k * d  # softmax(alpha*s) @ E: as large as the output layer
    return 3 * (encoder + decoder_cell + attention + output_layer + relax)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=25)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--distinct-batches", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--relax-top-k", type=int, default=0,
                        help="benchmark the soft modes with --relax-top-k K (0: exact)")
    parser.add_argument("--modes", nargs="+", default=MODES, choices=MODES)
    parser.add_argument("--json", help="write all measurements here")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        return worker(opts)

    settings = ["vocab", "dim", "batch_size", "length", "updates", "warmup",
                "distinct_batches", "threads", "relax_top_k"]
    passthrough = [a for key in settings for a in (f"--{key.replace('_', '-')}", str(getattr(opts, key)))]
    runs = {mode: [] for mode in opts.modes}
    for repeat in range(opts.repeats):
        for mode in opts.modes:  # interleaved, so drift in machine load hits every mode alike
            out = subprocess.run([sys.executable, __file__, *passthrough, "--worker", mode],
                                 check=True, capture_output=True, text=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
            print(f"repeat {repeat + 1}/{opts.repeats} {mode}: "
                  f"{runs[mode][-1]['sec_per_update']:.3f} s/update", file=sys.stderr)

    def median(mode, key):
        return statistics.median(r[key] for r in runs[mode])

    ref_time, ref_mem = median("reference", "sec_per_update"), median("reference", "peak_mb")
    ref_flops = flops_per_target_token(opts, "reference")
    print(f"\nvocab {opts.vocab}, dim {opts.dim}, batch {opts.batch_size}x{opts.length} tokens, "
          f"{opts.updates} updates x {opts.repeats} repeats, {opts.threads} threads"
          + (f", soft modes with top-{opts.relax_top_k} mixture" if opts.relax_top_k else ""))
    print("| mode | s/update | words/s | peak MB | time / ref | FLOP floor | time / floor |")
    print("|---|---|---|---|---|---|---|")
    table = []
    for mode in opts.modes:
        t, mem = median(mode, "sec_per_update"), median(mode, "peak_mb")
        floor = flops_per_target_token(opts, mode) / ref_flops
        row = {"mode": mode, "sec_per_update": t, "words_per_sec": median(mode, "words_per_sec"),
               "peak_mb": mem, "memory_ratio": mem / ref_mem, "time_ratio": t / ref_time,
               "flop_floor": floor, "time_over_floor": t / ref_time / floor}
        table.append(row)
        print(f"| {mode} | {t:.3f} | {row['words_per_sec']:.0f} | {mem:.0f} ({row['memory_ratio']:.2f}x) "
              f"| {row['time_ratio']:.2f}x | {floor:.2f}x | {row['time_over_floor']:.2f}x |")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"settings": vars(opts), "table": table, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()

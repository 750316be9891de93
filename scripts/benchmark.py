#!/usr/bin/env python
"""Training speed and memory of each roll-in mode against fairseq's own model.

Trains the same model size on the same random batches for a fixed number of
updates in each mode -- fairseq's stock ``lstm`` with ``cross_entropy`` as the
reference, then ``lstm_relaxed`` (with fairseq's dot attention, so that every
ratio is the roll-in's own cost; ``--attention additive``: the paper's model) with
``relaxed_scheduled_sampling`` in
teacher_forcing, hard_greedy, hard_sample, soft_greedy, soft_sample, st_greedy
and st_sample, each
roll-in mode at every ``--tf-prob`` (0: always fed from the model, the most
expensive case; 0.75: the middle of a typical schedule) -- interleaved and
repeated, each run in a fresh process so its peak memory is its own.  Prints
the machine (CPU model, torch, BLAS), then per mode the median seconds/update
with its spread over repeats, target words/second, peak memory, the time ratio
to the reference, and the analytic floor: FLOPs per target token against the
reference's, at that tf_prob.

    python scripts/benchmark.py [--vocab 10000 --batch-size 32 --length 25 \
        --updates 10 --repeats 3 --tf-prob 0 0.75] [--json OUT.json]

With ``--model transformer`` the reference is fairseq's stock ``transformer`` with
``label_smoothed_cross_entropy`` (0.1) and the rows are ``transformer_relaxed`` (sizes
of ``transformer_iwslt_de_en`` by default: 6+6 layers of 512, FFN 1024, 4 heads) with two
passes, the relaxed modes with and without first-pass gradient (``mode/no-grad``; the
hard modes' first pass never keeps a graph, so they have one row).
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

from relaxss.relax import RELAXED_MODES as RELAXED  # make the mixture
from relaxss.relax import ROLLIN_MODES
from relaxss.relax import STRAIGHT_THROUGH_MODES as STRAIGHT_THROUGH  # its backward only

MODES = ["reference", *ROLLIN_MODES]  # fairseq's own model first, then ours in every mode
FIXED_MODES = ("reference", "teacher_forcing")  # never fed from the model: no tf_prob
NO_GRAD = "/no-grad"  # transformer rows: --first-pass-grad False


def roll_in_mode(row: str) -> str:
    """The --rollin of a benchmark row ('soft_greedy/no-grad' -> 'soft_greedy')."""
    return row[: -len(NO_GRAD)] if row.endswith(NO_GRAD) else row


def rows_of(model: str, modes):
    """Benchmark rows: the modes, and for the Transformer each relaxed mode again
    without first-pass gradient."""
    rows = list(modes)
    if model == "transformer":
        rows += [mode + NO_GRAD for mode in modes if mode in RELAXED]
    return rows


def model_args(opts, arch):
    """The paper's MT sizes (bidirectional 1x256 encoder, 1x256 decoder); lstm_relaxed
    with ``--attention`` (dot: fairseq's, as the reference's)."""
    import argparse as ap

    d = opts.dim
    return ap.Namespace(
        arch=arch, criterion="cross_entropy", dropout=0.2, decoder_attention_type=opts.attention,
        encoder_embed_dim=d, encoder_hidden_size=d, encoder_layers=1, encoder_bidirectional=True,
        decoder_embed_dim=d, decoder_hidden_size=d, decoder_layers=1, decoder_out_embed_dim=d,
        decoder_attention_dim=d, max_source_positions=1024, max_target_positions=1024,
    )


def transformer_args(opts, arch):
    """fairseq's transformer_iwslt_de_en sizes unless --dim/--ffn/--layers/--heads say
    otherwise; dropout 0.3, as fairseq's IWSLT14 recipe trains it."""
    import argparse as ap

    from fairseq.models.transformer import transformer_iwslt_de_en

    args = ap.Namespace(arch=arch, criterion="label_smoothed_cross_entropy", dropout=0.3,
                        max_source_positions=1024, max_target_positions=1024)
    for side in ("encoder", "decoder"):
        setattr(args, f"{side}_embed_dim", opts.dim)
        setattr(args, f"{side}_ffn_embed_dim", opts.ffn)
        setattr(args, f"{side}_layers", opts.layers)
        setattr(args, f"{side}_attention_heads", opts.heads)
    transformer_iwslt_de_en(args)
    return args


def relaxed_criterion(opts, mode, tf_prob, task):
    """relaxed_scheduled_sampling at a constant ``tf_prob``, past the gold warm-up."""
    from relaxss_fairseq.criterions.relaxed_scheduled_sampling import (
        RelaxedScheduledSamplingConfig, RelaxedScheduledSamplingCriterion)

    config = RelaxedScheduledSamplingConfig(
        sentence_avg=False, seed=1, rollin=mode, teacher_forcing_schedule="constant",
        teacher_forcing_start=tf_prob, gold_warmup_epochs=0, alpha=10.0,
        relax_top_k=opts.relax_top_k if mode in RELAXED else 0,
        label_smoothing=0.1 if opts.model == "transformer" else 0.0,
    )
    criterion = RelaxedScheduledSamplingCriterion(config, task)
    criterion.set_epoch(2)
    return criterion


def build_transformer(opts, row, task, tf_prob):
    """Stock transformer + label-smoothed CE, or transformer_relaxed with 2 passes."""
    from fairseq.criterions.label_smoothed_cross_entropy import (
        LabelSmoothedCrossEntropyCriterion)
    from fairseq.models.transformer import TransformerModel

    from relaxss_fairseq.models.transformer_relaxed import RelaxedTransformerModel

    if row == "reference":
        model = TransformerModel.build_model(transformer_args(opts, "transformer"), task)
        return model, LabelSmoothedCrossEntropyCriterion(task, sentence_avg=False,
                                                         label_smoothing=0.1)
    args = transformer_args(opts, "transformer_relaxed")
    args.rollin_passes, args.first_pass_grad = 2, not row.endswith(NO_GRAD)
    return (RelaxedTransformerModel.build_model(args, task),
            relaxed_criterion(opts, roll_in_mode(row), tf_prob, task))


def build(opts, row, tf_prob):
    """Model, criterion and batches for one row."""
    import torch
    from fairseq.criterions.cross_entropy import CrossEntropyCriterion
    from fairseq.data import Dictionary, LanguagePairDataset
    from fairseq.models.lstm import LSTMModel, base_architecture

    import relaxss_fairseq  # noqa: F401
    from relaxss_fairseq.models.lstm_relaxed import RelaxedLSTMModel, lstm_relaxed_paper_mt

    mode = roll_in_mode(row)

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
    if opts.model == "transformer":
        model, criterion = build_transformer(opts, row, task, tf_prob)
    elif mode == "reference":
        args = model_args(opts, "lstm")
        base_architecture(args)
        model = LSTMModel.build_model(args, task)
        criterion = CrossEntropyCriterion(task, sentence_avg=False)
    else:
        args = model_args(opts, "lstm_relaxed_paper_mt")
        lstm_relaxed_paper_mt(args)
        model = RelaxedLSTMModel.build_model(args, task)
        criterion = relaxed_criterion(opts, mode, tf_prob, task)

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
    model, criterion, batches = build(opts, opts.worker, opts.worker_tf_prob)
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
    print(json.dumps({"mode": opts.worker, "tf_prob": opts.worker_tf_prob,
                      "sec_per_update": elapsed / opts.updates,
                      "words_per_sec": words / elapsed, "peak_mb": peak,
                      "train_mb": max(peak - baseline, 0.0)}))


def transformer_flops_per_target_token(opts, row, tf_prob=0.0):
    """Analytic training FLOPs per target token of the Transformer (matrix products
    only, 2 FLOPs per multiply-add, backward = 2 x forward; source length = target
    length L, so per-source-token work counts per target token). A roll-in adds pass 1
    over the decoder -- its vocabulary projection and the relaxed modes' mixture only
    for the 1 - tf_prob of rows that feed a position --, with its backward only when
    it keeps its graph (relaxed modes with first-pass gradient); without it the
    mixture still takes E's gradient (forward + 1). Straight-through modes feed the
    hard choice, so their mixture has no forward product (one fewer), unless
    --relax-top-k makes it over k rows (its forward gathers them)."""
    d, f, v, n, length = opts.dim, opts.ffn, opts.vocab, opts.layers, opts.length
    attention = 2 * 4 * d * d + 2 * 2 * length * d  # q, k, v, out projections; scores, context
    ffn = 2 * 2 * d * f
    encoder = n * (attention + ffn)
    decoder = n * (2 * attention + ffn)  # self- and cross-attention
    output_layer = 2 * d * v
    total = 3 * (encoder + decoder + output_layer)
    mode = roll_in_mode(row)
    if mode in FIXED_MODES:
        return total
    fed = 1.0 - tf_prob
    graph = mode in RELAXED and not row.endswith(NO_GRAD)
    total += (3 if graph else 1) * (decoder + output_layer * fed)
    if mode in RELAXED:
        k = opts.relax_top_k or v
        products = (3 if graph else 2) - (mode in STRAIGHT_THROUGH and not opts.relax_top_k)
        total += products * 2 * k * d * fed
    return total


def profile(opts):
    """--profile ROW: PyTorch's profiler over 3 updates of each row named (after one
    warm-up update), the operators taking the most self CPU time: where a row's time goes
    that the FLOP floor does not count."""
    import torch

    torch.set_num_threads(opts.threads)
    for row in opts.profile:
        model, criterion, batches = build(opts, row, opts.tf_prob[0])
        model.train()

        def update():
            loss, _, _ = criterion(model, batches[0])
            loss.backward()

        update()
        with torch.profiler.profile() as prof:
            for _ in range(3):
                update()
        print(f"{row} (tf_prob {opts.tf_prob[0]} where it applies), 3 updates:")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def flops_per_target_token(opts, mode, tf_prob=0.0):
    """Analytic training FLOPs per target token (forward x 3 for backward),
    counting matrix products only (2 FLOPs per multiply-add); source length
    equals target length here.  The relaxed modes' mixture is made only for the
    ``1 - tf_prob`` of positions fed from the model: forward and backward (into the
    weights and into E) in the soft modes, the backward only in the straight-through
    modes, which feed the hard choice (with --relax-top-k their forward gathers k rows)."""
    if opts.model == "transformer":
        return transformer_flops_per_target_token(opts, mode, tf_prob)
    d, v = opts.dim, opts.vocab
    c = 2 * d  # bidirectional encoder output
    encoder = 2 * 2 * 4 * d * (d + d)  # two directions of an LSTM on d-dim input
    decoder_cell = 2 * 4 * d * (d + d + d)  # [embedding; input feed] and hidden
    output_layer = 2 * d * v
    if mode == "reference" or opts.attention == "dot":  # input proj, scores, context, output proj
        attention = 2 * d * c + 2 * opts.length * c * 2 + 2 * (c + d) * d
    else:  # additive: query proj, keys once per source token, v.tanh, context, output proj
        attention = 2 * d * d + 2 * c * d + 2 * opts.length * d + 2 * opts.length * c + 2 * (c + d) * d
    relax = 0
    if mode in RELAXED:
        k = opts.relax_top_k or v
        products = 2 if mode in STRAIGHT_THROUGH and not opts.relax_top_k else 3
        # softmax(alpha*s) @ E: as large as the output layer
        relax = products * 2 * k * d * (1.0 - tf_prob)
    return 3 * (encoder + decoder_cell + attention + output_layer) + relax


def machine():
    """What the numbers were measured on: CPU model, cores, torch, BLAS, SIMD."""
    import platform

    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    config = torch.__config__.show()

    def setting(name):  # "Build settings: BLAS_INFO=mkl, BUILD_TYPE=..., LAPACK_INFO=mkl, ..."
        found = re.search(rf"\b{name}=([^,\s]+)", config)
        return found.group(1) if found else "unknown"

    capability = [line.split(":", 1)[1].strip() for line in config.splitlines()
                  if "CPU capability usage" in line]
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "blas": setting("BLAS_INFO"), "lapack": setting("LAPACK_INFO"),
            "cpu_capability": capability[0] if capability else "unknown"}


def machine_line(info) -> str:
    """One line naming the machine of :func:`machine`, printed above every table."""
    return (f"machine: {info['cpu']}, {info['cores']} cores; torch {info['torch']}, "
            f"BLAS {info['blas']}, CPU capability {info['cpu_capability']}")


def targets(model, mode, tf_prob, time_ratio, time_over_floor, memory_ratio):
    """The benchmark's targets for one row: 'met', or what was missed (the
    Transformer's: every roll-in row within 1.10x its floor)."""
    missed = []
    if memory_ratio > 1.3:
        missed.append("memory > 1.3x")
    mode = roll_in_mode(mode)
    if mode in FIXED_MODES:
        pass
    elif model == "transformer":
        if time_over_floor > 1.10:
            missed.append("time > 1.10x floor")
    elif tf_prob > 0:
        if time_over_floor > 1.05:
            missed.append("time > 1.05x floor")
    elif mode in RELAXED and time_over_floor > 1.10:
        missed.append("time > 1.10x floor")
    elif mode not in RELAXED and time_ratio > 1.10:
        missed.append("time > 1.10x reference")
    return "met" if not missed else "MISSED: " + ", ".join(missed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("lstm", "transformer"), default="lstm")
    parser.add_argument("--attention", choices=("dot", "additive"), default="dot",
                        help="lstm_relaxed's attention: dot (fairseq's, as the reference: the "
                        "ratios are the roll-in's cost alone) or additive (the paper's)")
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--dim", type=int, help="model size (lstm 256, transformer 512)")
    parser.add_argument("--ffn", type=int, default=1024, help="transformer FFN size")
    parser.add_argument("--layers", type=int, default=6, help="transformer layers (each side)")
    parser.add_argument("--heads", type=int, default=4, help="transformer attention heads")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=25)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--distinct-batches", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tf-prob", type=float, nargs="+", default=[0.0, 0.75],
                        help="gold-token probabilities at which the roll-in modes run")
    parser.add_argument("--relax-top-k", type=int, default=0,
                        help="benchmark the soft modes with --relax-top-k K (0: exact)")
    parser.add_argument("--modes", nargs="+", default=MODES, choices=MODES)
    parser.add_argument("--json", help="write all measurements here")
    parser.add_argument("--profile", nargs="+", metavar="ROW",
                        help="instead of timing: profile these rows' operators (first --tf-prob)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-tf-prob", type=float, default=1.0, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.dim is None:
        opts.dim = 512 if opts.model == "transformer" else 256
    if opts.worker:
        return worker(opts)
    if opts.profile:
        return profile(opts)
    for p in opts.tf_prob:
        if not 0.0 <= p < 1.0:
            parser.error(f"--tf-prob takes probabilities in [0, 1), got {p}")
    if "reference" not in opts.modes:
        parser.error("--modes must include reference (every ratio is against it)")

    settings = ["model", "attention", "vocab", "dim", "ffn", "layers", "heads", "batch_size", "length",
                "updates", "warmup", "distinct_batches", "threads", "relax_top_k"]
    passthrough = [a for key in settings for a in (f"--{key.replace('_', '-')}", str(getattr(opts, key)))]
    cases = [(mode, None) if mode in FIXED_MODES else (mode, p)
             for p in opts.tf_prob for mode in rows_of(opts.model, opts.modes)]
    cases = list(dict.fromkeys(cases))  # the fixed modes once
    runs = {case: [] for case in cases}
    for repeat in range(opts.repeats):
        for mode, p in cases:  # interleaved, so drift in machine load hits every mode alike
            command = [sys.executable, __file__, *passthrough, "--worker", mode]
            if p is not None:
                command += ["--worker-tf-prob", str(p)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs[mode, p].append(json.loads(out.strip().splitlines()[-1]))
            print(f"repeat {repeat + 1}/{opts.repeats} {mode}"
                  + ("" if p is None else f" tf_prob {p}")
                  + f": {runs[mode, p][-1]['sec_per_update']:.3f} s/update", file=sys.stderr)

    def values(case, key):
        return [r[key] for r in runs[case]]

    ref = ("reference", None)
    ref_time = statistics.median(values(ref, "sec_per_update"))
    ref_mem = statistics.median(values(ref, "peak_mb"))
    ref_flops = flops_per_target_token(opts, "reference")
    info = machine()
    print(f"\n{machine_line(info)}")
    size = (f"transformer {opts.layers}+{opts.layers} layers, dim {opts.dim}, ffn {opts.ffn}, "
            f"{opts.heads} heads, 2 passes" if opts.model == "transformer"
            else f"lstm dim {opts.dim}, lstm_relaxed with {opts.attention} attention")
    print(f"{size}, vocab {opts.vocab}, batch {opts.batch_size}x{opts.length} tokens, "
          f"{opts.updates} updates x {opts.repeats} repeats, {opts.threads} threads"
          + (f", soft modes with top-{opts.relax_top_k} mixture" if opts.relax_top_k else ""))
    print("| mode | tf_prob | s/update (min-max) | words/s | peak MB | time / ref "
          "| FLOP floor | time / floor | targets |")
    print("|---|---|---|---|---|---|---|---|---|")
    table = []
    for mode, p in cases:
        times = values((mode, p), "sec_per_update")
        t, mem = statistics.median(times), statistics.median(values((mode, p), "peak_mb"))
        floor = flops_per_target_token(opts, mode, p or 0.0) / ref_flops
        row = {"mode": mode, "tf_prob": p, "sec_per_update": t, "min": min(times), "max": max(times),
               "words_per_sec": statistics.median(values((mode, p), "words_per_sec")),
               "peak_mb": mem, "memory_ratio": mem / ref_mem, "time_ratio": t / ref_time,
               "flop_floor": floor, "time_over_floor": t / ref_time / floor}
        row["targets"] = targets(opts.model, mode, p or 0.0, row["time_ratio"], row["time_over_floor"],
                                 row["memory_ratio"])
        table.append(row)
        print(f"| {mode} | {'-' if p is None else p} | {t:.3f} ({row['min']:.3f}-{row['max']:.3f}) "
              f"| {row['words_per_sec']:.0f} | {mem:.0f} ({row['memory_ratio']:.2f}x) "
              f"| {row['time_ratio']:.2f}x | {floor:.2f}x | {row['time_over_floor']:.2f}x "
              f"| {row['targets']} |")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"settings": vars(opts), "machine": info, "table": table,
                       "runs": [{"mode": m, "tf_prob": p, "runs": r} for (m, p), r in runs.items()]},
                      f, indent=1)


if __name__ == "__main__":
    main()

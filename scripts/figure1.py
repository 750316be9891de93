#!/usr/bin/env python
"""The paper's Figure 1: the scheduled-sampling objective along a line in
parameter space, hard (discontinuous) against relaxed (continuous) for several
alpha.

Loads a trained ``lstm_relaxed`` checkpoint, takes a few validation sentences,
and evaluates the always-model-fed objective (tf_prob = 0, dropout off) at
``theta + t * d`` for ``t`` in ``[-span, span]``: with hard greedy roll-in
(the argmax: jumps where a decision flips) and soft greedy roll-in for each
alpha (smooth, approaching the hard curve as alpha grows).  ``d`` is a random
direction scaled, tensor by tensor, to the norm of the parameters.

    python scripts/figure1.py --path CKPT --data DATA_BIN --out figure1.png \
        [--alphas 1 10 100] [--sentences 2] [--span 0.5] [--points 301]
"""
import argparse
import json
import logging
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from fairseq import checkpoint_utils  # noqa: E402

import relaxss_fairseq  # noqa: E402,F401
from relaxss import Rollin  # noqa: E402


def random_direction(model, seed: int):
    """A random direction with each tensor scaled to that tensor's norm."""
    generator = torch.Generator().manual_seed(seed)
    direction = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=generator)
        direction.append(d * p.detach().norm() / (d.norm() + 1e-12))
    return direction


@torch.no_grad()
def objective(model, sample, rollin, pad):
    """Summed token NLL of the targets under the roll-in."""
    logits, _ = model(**sample["net_input"], rollin=rollin)
    lprobs = torch.log_softmax(logits.float(), dim=-1)
    target = sample["target"]
    nll = -lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return nll.masked_fill(target.eq(pad), 0.0).sum().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--subset", default="valid")
    parser.add_argument("--out", required=True)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    parser.add_argument("--sentences", type=int, default=2)
    parser.add_argument("--span", type=float, default=0.5)
    parser.add_argument("--points", type=int, default=301)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("matplotlib").setLevel(logging.WARNING)

    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [args.path], arg_overrides={"data": args.data})
    model = models[0].eval()
    task.load_dataset(args.subset)
    dataset = task.dataset(args.subset)
    sample = dataset.collater([dataset[i] for i in range(args.sentences)])
    pad = task.target_dictionary.pad()

    theta = [p.detach().clone() for p in model.parameters()]
    direction = random_direction(model, args.seed)
    ts = torch.linspace(-args.span, args.span, args.points).tolist()
    rollins = {"hard greedy (scheduled sampling)": Rollin("hard_greedy", tf_prob=0.0)}
    for alpha in args.alphas:
        rollins[f"soft greedy, alpha={alpha:g}"] = Rollin("soft_greedy", tf_prob=0.0, alpha=alpha)
    curves = {name: [] for name in rollins}
    for t in ts:
        with torch.no_grad():
            for p, p0, d in zip(model.parameters(), theta, direction):
                p.copy_(p0 + t * d)
        for name, rollin in rollins.items():
            curves[name].append(objective(model, sample, rollin, pad))

    hard = curves["hard greedy (scheduled sampling)"]
    jump = max(range(1, len(ts)), key=lambda i: abs(hard[i] - hard[i - 1]))
    window = [i for i, t in enumerate(ts) if abs(t - ts[jump]) <= args.span / 8]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, indices in ((axes[0], range(len(ts))), (axes[1], window)):
        for name, values in curves.items():
            style = (dict(color="black", lw=2.5, zorder=1) if name.startswith("hard")
                     else dict(lw=1.2, zorder=2))
            ax.plot([ts[i] for i in indices], [values[i] for i in indices], label=name, **style)
        ax.set_xlabel("t  (parameters theta + t d, d a random direction)")
    axes[0].set_ylabel(f"NLL of {args.sentences} sentences, always model-fed")
    axes[0].set_title("Scheduled-sampling objective along a line")
    axes[1].set_title(f"zoom on the largest jump (t = {ts[jump]:.3f})")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    fig.savefig(args.out, dpi=120)
    with open(args.out.rsplit(".", 1)[0] + ".json", "w") as f:
        json.dump({"t": ts, "curves": curves, "args": vars(args)}, f)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

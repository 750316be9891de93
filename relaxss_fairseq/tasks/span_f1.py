"""Span-level precision, recall and F1 of named entities, as seqeval computes
them (default, CoNLL-style chunking: micro average over exact-match spans).

Counts are additive over sentences, so they can be summed across batches and
workers and turned into scores at the end, giving exactly seqeval's micro
scores on the whole set.
"""
from collections import Counter
from typing import Dict, List, Sequence, Tuple

from seqeval.metrics.sequence_labeling import get_entities


def span_counts(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Counter:
    """``correct``, ``predicted`` and ``gold`` span counts, in total and per type
    (keys ``"correct:PER"`` ...)."""
    counts: Counter = Counter()
    for gold_tags, pred_tags in zip(gold, predicted):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(
                f"gold and predicted tag sequences differ in length: "
                f"{len(gold_tags)} != {len(pred_tags)}"
            )
        gold_spans = set(get_entities(list(gold_tags)))
        pred_spans = set(get_entities(list(pred_tags)))
        for kind, spans in (("gold", gold_spans), ("predicted", pred_spans),
                            ("correct", gold_spans & pred_spans)):
            counts[kind] += len(spans)
            for entity_type, _, _ in spans:
                counts[f"{kind}:{entity_type}"] += 1
    return counts


def precision_recall_f1(correct: float, predicted: float, gold: float) -> Tuple[float, float, float]:
    """Scores in percent; 0 where undefined (seqeval's ``zero_division=0``)."""
    precision = 100.0 * correct / predicted if predicted else 0.0
    recall = 100.0 * correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def scores_by_type(counts: Counter) -> Dict[str, Tuple[float, float, float, int]]:
    """Per entity type and ``"micro"``: (precision, recall, F1, gold support)."""
    types: List[str] = sorted(
        {key.split(":", 1)[1] for key in counts if ":" in key}
    )
    table = {}
    for name in types:
        c, p, g = (counts[f"{k}:{name}"] for k in ("correct", "predicted", "gold"))
        table[name] = (*precision_recall_f1(c, p, g), g)
    table["micro"] = (
        *precision_recall_f1(counts["correct"], counts["predicted"], counts["gold"]),
        counts["gold"],
    )
    return table


def format_report(counts: Counter) -> str:
    """A conlleval-like table of the scores."""
    lines = [f"{'type':<8} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for name, (p, r, f, support) in scores_by_type(counts).items():
        lines.append(f"{name:<8} {p:9.2f} {r:9.2f} {f:9.2f} {support:8d}")
    return "\n".join(lines)


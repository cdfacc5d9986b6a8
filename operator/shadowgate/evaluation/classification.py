"""Classification metrics: per-class precision/recall/F1, macro-F1, expected calibration
error, and the business-weighted harm of mistakes from the golden set's cost table.

- ``macro_f1`` averages F1 over the labels that occur in the golden set (support > 0).
- ``ece`` uses ``ECE_BINS`` equal-width bins of the top-class probability:
  sum over bins of |bin| / n * |accuracy(bin) - mean confidence(bin)|.
- ``harm`` is the mean cost per example, cost(true, predicted) from ``costs.json``.
- ``critical_recall_min`` is the lowest recall among the cost table's critical labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shadowgate.evaluation.golden import CostTable

ECE_BINS = 15


@dataclass(frozen=True)
class Prediction:
    true: str
    predicted: str
    confidence: float  # the probability the model gave its predicted label


def per_class(preds: Sequence[Prediction], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(1 for p in preds if p.true == label and p.predicted == label)
        predicted = sum(1 for p in preds if p.predicted == label)
        support = sum(1 for p in preds if p.true == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": predicted,
        }
    return out


def expected_calibration_error(preds: Sequence[Prediction], bins: int = ECE_BINS) -> float:
    if not preds:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [p for p in preds if (lo < p.confidence <= hi) or (b == 0 and p.confidence == 0.0)]
        if not members:
            continue
        accuracy = sum(p.true == p.predicted for p in members) / len(members)
        confidence = sum(p.confidence for p in members) / len(members)
        total += len(members) / len(preds) * abs(accuracy - confidence)
    return total


def harm(preds: Sequence[Prediction], costs: CostTable) -> float:
    return sum(costs.cost(p.true, p.predicted) for p in preds) / len(preds) if preds else 0.0


def metrics(preds: Sequence[Prediction], costs: CostTable | None) -> dict[str, object]:
    labels = list(costs.labels) if costs else sorted({p.true for p in preds} | {p.predicted for p in preds})
    extra = sorted({p.true for p in preds} - set(labels))
    classes = per_class(preds, [*labels, *extra])
    present = [c for c in classes.values() if c["support"] > 0]
    out: dict[str, object] = {
        "n": len(preds),
        "accuracy": sum(p.true == p.predicted for p in preds) / len(preds) if preds else 0.0,
        "macro_f1": sum(c["f1"] for c in present) / len(present) if present else 0.0,
        "ece": expected_calibration_error(preds),
        "classes": classes,
    }
    if costs is not None:
        out["harm"] = harm(preds, costs)
        critical: Mapping[str, dict[str, float]] = {
            k: classes[k] for k in costs.critical if classes[k]["support"]
        }
        if critical:
            out["critical_recall_min"] = min(c["recall"] for c in critical.values())
    return out

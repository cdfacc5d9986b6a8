"""Ranking metrics over graded judgments, per query and aggregated per slice.

Definitions (documented in docs/data.md; ``relevant`` means grade >= ``RELEVANT_GRADE``):
- ``recall@k`` = |relevant in top k| / min(k, |relevant|): capped recall, so a query with
  40 relevant items can still score 1.0 at k = 3 (plain recall would cap at 3/40).
- ``ndcg@k`` with gain 2^grade - 1 and discount 1/log2(rank + 1), ideal from the judgments.
- ``mrr`` = 1 / rank of the first relevant item in the returned list (0 if none).
A query without any relevant item is skipped (it cannot be scored), and counted.

``aggregate`` also lists every scored query's own metrics under ``queries`` (id, slices,
its concept ``cluster`` when the golden set names one, metrics): per-slice gates compare
candidate and baseline query by query (paired), which a slice mean cannot support
(docs/gates.md, ``slice-regression``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shadowgate.evaluation.relevance import RELEVANT_GRADE

RECALL_KS = (1, 3, 5, 10)
NDCG_KS = (3, 10)


def recall_at_k(ranked: Sequence[str], judgments: Mapping[str, int], k: int) -> float | None:
    relevant = {i for i, g in judgments.items() if g >= RELEVANT_GRADE}
    if not relevant:
        return None
    hits = len(relevant.intersection(ranked[:k]))
    return hits / min(k, len(relevant))


def ndcg_at_k(ranked: Sequence[str], judgments: Mapping[str, int], k: int) -> float | None:
    ideal = sorted((g for g in judgments.values() if g > 0), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(r + 2) for r, g in enumerate(ideal))
    if idcg == 0:
        return None
    seen: set[str] = set()
    dcg = 0.0
    for r, item in enumerate(ranked[:k]):
        if item in seen:  # a repeated item earns nothing the second time
            continue
        seen.add(item)
        dcg += (2 ** judgments.get(item, 0) - 1) / math.log2(r + 2)
    return dcg / idcg


def reciprocal_rank(ranked: Sequence[str], judgments: Mapping[str, int]) -> float | None:
    if not any(g >= RELEVANT_GRADE for g in judgments.values()):
        return None
    for r, item in enumerate(ranked):
        if judgments.get(item, 0) >= RELEVANT_GRADE:
            return 1.0 / (r + 1)
    return 0.0


def query_metrics(ranked: Sequence[str], judgments: Mapping[str, int]) -> dict[str, float | None]:
    out: dict[str, float | None] = {f"recall@{k}": recall_at_k(ranked, judgments, k) for k in RECALL_KS}
    out.update({f"ndcg@{k}": ndcg_at_k(ranked, judgments, k) for k in NDCG_KS})
    out["mrr"] = reciprocal_rank(ranked, judgments)
    return out


@dataclass(frozen=True)
class Scored:
    """One query's metrics and the slices it belongs to (``id``: the golden query's id)."""

    slices: tuple[str, ...]
    metrics: Mapping[str, float | None]
    id: str = ""
    cluster: str = ""  # the golden query's concept cluster, when the golden set names one


def _mean(rows: Iterable[Mapping[str, float | None]]) -> dict[str, float]:
    rows = list(rows)
    out: dict[str, float] = {}
    for key in rows[0] if rows else ():
        values = [v for r in rows if (v := r.get(key)) is not None]
        if values:
            out[key] = sum(values) / len(values)
    return out


def aggregate(scored: Sequence[Scored]) -> dict[str, object]:
    """``{"global": {metric: mean, "n": queries}, "slices": {slice: {...}},
    "queries": [{"id", "slices", metric: value}]}``; a metric a query could not score (no
    relevant items) is left out of that query's means, and a query with no relevant item
    at all is left out of ``queries``."""
    usable = [s for s in scored if s.metrics.get("mrr") is not None]
    result: dict[str, object] = {"global": {**_mean(s.metrics for s in usable), "n": len(usable)}}
    slices: dict[str, dict[str, float]] = {}
    for name in sorted({n for s in usable for n in s.slices}):
        members = [s for s in usable if name in s.slices]
        slices[name] = {**_mean(s.metrics for s in members), "n": len(members)}
    result["slices"] = slices
    result["unscorable_queries"] = len(scored) - len(usable)
    result["queries"] = [
        {
            "id": s.id,
            "slices": list(s.slices),
            **({"cluster": s.cluster} if s.cluster else {}),
            **{k: v for k, v in s.metrics.items() if v is not None},
        }
        for s in usable
    ]
    return result

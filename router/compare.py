"""Paired shadow comparison: the shadow's answer against the primary's for the same request.

Pure functions over decoded JSON bodies (the model server's wire shapes, or KServe v1
``{"predictions": [...]}`` compared item by item). Each returns ``None`` when a body does not have
the expected shape, so a malformed shadow answer is counted as such, never as a disagreement.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from router.table import Kind


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    jaccard: float | None = None
    top1_match: bool | None = None
    label_match: bool | None = None
    rank_correlation: float | None = None


def _ids(body: Any, k: int) -> list[str] | None:
    if not isinstance(body, dict):
        return None
    items = body.get("items")
    if not isinstance(items, list):
        return None
    out: list[str] = []
    for item in items[:k]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return None
        out.append(item["id"])
    return out


def jaccard_at_k(primary: list[str], shadow: list[str], k: int) -> float:
    a, b = set(primary[:k]), set(shadow[:k])
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def spearman(primary: list[str], shadow: list[str]) -> float | None:
    """Spearman's rho of the ranks of the items both lists share (ties impossible: ranks)."""
    shared = [i for i in primary if i in set(shadow)]
    n = len(shared)
    if n < 2:
        return None
    rank_p = {item: r for r, item in enumerate(shared)}
    order_s = [i for i in shadow if i in rank_p]
    d2 = sum((rank_p[item] - r) ** 2 for r, item in enumerate(order_s))
    return 1.0 - 6.0 * d2 / (n * (n * n - 1))


def _compare_one(kind: Kind, primary: Any, shadow: Any, k: int) -> Comparison | None:
    if kind is Kind.CLASSIFIER:
        if not isinstance(primary, dict) or not isinstance(shadow, dict):
            return None
        lp, ls = primary.get("label"), shadow.get("label")
        if not isinstance(lp, str) or not isinstance(ls, str):
            return None
        return Comparison(label_match=lp == ls)
    ip, is_ = _ids(primary, k), _ids(shadow, k)
    if ip is None or is_ is None:
        return None
    if kind is Kind.RETRIEVER:
        top1 = bool(ip) and bool(is_) and ip[0] == is_[0]
        return Comparison(jaccard=jaccard_at_k(ip, is_, k), top1_match=top1)
    if kind is Kind.RERANKER:
        return Comparison(rank_correlation=spearman(ip, is_))
    return None


def compare(kind: Kind, primary: Any, shadow: Any, k: int) -> list[Comparison] | None:
    """Compare two decoded bodies; a KServe v1 pair gives one comparison per prediction."""
    if kind is Kind.GENERIC:
        return []
    if isinstance(primary, dict) and isinstance(shadow, dict) and "predictions" in primary:
        pp, sp = primary.get("predictions"), shadow.get("predictions")
        if not isinstance(pp, list) or not isinstance(sp, list) or len(pp) != len(sp):
            return None
        out: list[Comparison] = []
        for a, b in zip(pp, sp, strict=True):
            c = _compare_one(kind, a, b, k)
            if c is None:
                return None
            out.append(c)
        return out
    one = _compare_one(kind, primary, shadow, k)
    return None if one is None else [one]

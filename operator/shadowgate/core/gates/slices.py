"""Per-slice no-regression: paired exact sign tests, Holm's correction, one verdict per slice.

A golden set's slices are small (6-60 queries here), so comparing slice means says little:
a mean can drop by chance, or hide that the candidate lost on most queries. The gate pairs
the two models query by query and asks, per slice, whether the candidate is worse on more
queries than chance allows:

- for slice s with n paired queries, W = queries where the candidate's value is lower,
  B = where it is higher (ties carry no information about direction);
- one-sided exact sign test (exact McNemar on the discordant queries):
  p_s = P(Bin(W + B, 1/2) >= W) = sum_{j=W}^{W+B} C(W+B, j) / 2^(W+B);
- Holm's step-down correction across every tested slice (family-wise error <= alpha);
- the slice **fails** when its Holm-adjusted p <= alpha AND its mean dropped by more than
  the margin (significant and large enough to matter); it **passes** when its mean did not
  drop by more than the margin; otherwise it is **Inconclusive**: a drop that the data
  cannot confirm is never a pass.

A slice with fewer than ``min_queries`` queries is Inconclusive whatever it shows, and a
drop on a slice where even "every query worse" (p = 2^-n) could not clear the strictest
Holm threshold alpha/m is reported as InsufficientSamples ("too few queries to tell")
rather than NotDecisive. Pure functions only: ``evaluating`` turns them into outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Values closer than this are ties: per-query metrics are ratios of small integers.
TIE = 1e-9


def default_min_queries(alpha: float) -> int:
    """The smallest n at which a one-sided exact test at ``alpha`` can reject at all
    (2^-n <= alpha): 5 for alpha = 0.05. Fewer queries cannot tell anything."""
    return max(1, math.ceil(math.log2(1.0 / alpha) - 1e-12))


def sign_test_p(worse: int, better: int) -> float:
    """One-sided exact sign-test p-value for "worse more often than better"."""
    d = worse + better
    if d == 0:
        return 1.0
    return sum(math.comb(d, j) for j in range(worse, d + 1)) / 2**d


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input's order: reject H_i at level alpha iff
    adjusted[i] <= alpha. adjusted_(j) = max_{i<=j} min(1, (m - i + 1) p_(i))."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class SliceResult:
    """One slice's paired comparison. ``p_holm`` is None for a slice too small to test."""

    name: str
    n: int
    candidate: float
    baseline: float
    worse: int
    better: int
    p: float
    p_holm: float | None
    tested: int  # m, the number of slices in the Holm family

    @property
    def drop(self) -> float:
        """How far the candidate's slice mean is below the baseline's (negative = a gain)."""
        return self.baseline - self.candidate

    @property
    def min_p(self) -> float:
        """The p-value if every query of the slice were worse: the best this slice can do."""
        return 0.5**self.n


def by_slice(
    candidate: Mapping[str, float],
    baseline: Mapping[str, float],
    slices: Mapping[str, Sequence[str]],
) -> dict[str, list[tuple[float, float]]]:
    """(candidate, baseline) pairs per slice, for queries both arms scored, slices sorted."""
    out: dict[str, list[tuple[float, float]]] = {}
    for qid in sorted(set(candidate) & set(baseline)):
        for name in slices.get(qid, ()):
            out.setdefault(name, []).append((candidate[qid], baseline[qid]))
    return dict(sorted(out.items()))


def compare(pairs: Mapping[str, Sequence[tuple[float, float]]], min_queries: int) -> list[SliceResult]:
    """Sign test per slice and Holm across the slices with at least ``min_queries`` queries."""
    raw = []
    for name, rows in pairs.items():
        worse = sum(1 for c, b in rows if c < b - TIE)
        better = sum(1 for c, b in rows if c > b + TIE)
        cand = sum(c for c, _ in rows) / len(rows)
        base = sum(b for _, b in rows) / len(rows)
        raw.append((name, len(rows), cand, base, worse, better, sign_test_p(worse, better)))
    tested = [r for r in raw if r[1] >= min_queries]
    adjusted = dict(zip((r[0] for r in tested), holm([r[6] for r in tested]), strict=True))
    return [SliceResult(*r, p_holm=adjusted.get(r[0]), tested=len(tested)) for r in raw]

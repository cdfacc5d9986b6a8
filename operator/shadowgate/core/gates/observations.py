"""Observations: what a source measured for one gate, in one of a few plain shapes.

A source (Prometheus, the offline evaluation results, the operator's own checks) returns
exactly one observation per gate; ``evaluating.evaluate`` turns it into a verdict. A
source that could not measure returns ``Unavailable`` with the reason (``NoData`` or
``QueryError``) instead of raising, so an outage becomes Inconclusive, never a number.

Which shape answers which gate: each kind's module (``kinds``) names the observation it reads
and compiles its spec into a ``plans`` shape; each plan has one observation shape. ``Values``
are keyed by the plan's metric strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shadowgate.core.verdicts import InconclusiveReason


@dataclass(frozen=True)
class Values:
    """Metric values per arm. A metric missing from a mapping (or None/NaN) is no data.
    ``*_samples`` is how many units the values rest on (golden-set size, requests), if known."""

    candidate: Mapping[str, float | None]
    baseline: Mapping[str, float | None] = field(default_factory=dict)
    candidate_samples: int | None = None
    baseline_samples: int | None = None


@dataclass(frozen=True)
class Counts:
    """Events out of trials per arm (e.g. no-clicks out of decided impressions)."""

    candidate_events: int
    candidate_trials: int
    baseline_events: int
    baseline_trials: int

    def __post_init__(self) -> None:
        for name in ("candidate", "baseline"):
            events, trials = getattr(self, f"{name}_events"), getattr(self, f"{name}_trials")
            if trials < 0 or events < 0 or events > trials:
                raise ValueError(f"{name}: need 0 <= events <= trials, got {events}/{trials}")


@dataclass(frozen=True)
class QuantileArm:
    """One arm's percentiles (quantile -> seconds; None = no data) and its observation count,
    with one-sided confidence bounds where the source measured them (``lower``: the
    percentile is at least this, ``upper``: at most this; see ``stats.quantiles``). A
    latency gate fails only on the candidate's lower and the baseline's upper bound."""

    values: Mapping[float, float | None]
    count: int
    lower: Mapping[float, float | None] = field(default_factory=dict)
    upper: Mapping[float, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Quantiles:
    candidate: QuantileArm
    baseline: QuantileArm | None = None


@dataclass(frozen=True)
class Checks:
    """Outcome of each named operator check (missing = not performed yet)."""

    results: Mapping[str, bool]
    detail: str = ""


@dataclass(frozen=True)
class Unavailable:
    """The source could not measure: ``reason`` is NoData or QueryError."""

    reason: InconclusiveReason
    detail: str = ""


@dataclass(frozen=True)
class PairedQueries:
    """One per-query metric for both arms (query id -> value) and each query's slices.
    Only queries both arms scored are compared."""

    candidate: Mapping[str, float]
    baseline: Mapping[str, float]
    slices: Mapping[str, tuple[str, ...]]


Observation = Values | Counts | Quantiles | Checks | PairedQueries | Unavailable


def lookup(results: Mapping[str, Any], key_path: str) -> float | None:
    """A number from a nested results mapping by dotted key path, or None if absent.

    Keys may themselves contain dots or '@' (``recall@3``): at each level the longest
    key that matches a prefix of the remaining path wins, so ``retrieval.slices.
    iyashikei.recall@3`` finds ``{"retrieval": {"slices": {"iyashikei": {"recall@3": x}}}}``.
    """
    node: Any = results
    rest = key_path
    while rest:
        if not isinstance(node, Mapping):
            return None
        match = None
        for key in sorted((k for k in node if isinstance(k, str)), key=len, reverse=True):
            if rest == key or rest.startswith(key + "."):
                match = key
                break
        if match is None:
            return None
        node = node[match]
        rest = rest[len(match) + 1 :]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    value = float(node)
    return None if math.isnan(value) else value


def values_from_results(
    metrics: list[str],
    candidate: Mapping[str, Any],
    baseline: Mapping[str, Any] | None = None,
    samples_key: str | None = None,
) -> Values:
    """Build a ``Values`` observation from two evaluation-results mappings (pure helper for
    the evaluation source). ``samples_key`` is a key path to the number of examples."""
    base = baseline or {}
    cand_n = lookup(candidate, samples_key) if samples_key else None
    base_n = lookup(base, samples_key) if samples_key and baseline is not None else None
    return Values(
        candidate={m: lookup(candidate, m) for m in metrics},
        baseline={m: lookup(base, m) for m in metrics} if baseline is not None else {},
        candidate_samples=int(cand_n) if cand_n is not None else None,
        baseline_samples=int(base_n) if base_n is not None else None,
    )


def _per_query(
    results: Mapping[str, Any], family: str, metric: str
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]] | None:
    section = results.get(family)
    rows = section.get("queries") if isinstance(section, Mapping) else None
    if not isinstance(rows, list):
        return None
    values: dict[str, float] = {}
    slices: dict[str, tuple[str, ...]] = {}
    for row in rows:
        if not isinstance(row, Mapping) or not isinstance(row.get("id"), str):
            continue
        value = row.get(metric)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        values[row["id"]] = float(value)
        slices[row["id"]] = tuple(str(s) for s in row.get("slices") or () if isinstance(s, str))
    return values, slices


def paired_from_results(
    family: str, metric: str, candidate: Mapping[str, Any], baseline: Mapping[str, Any]
) -> PairedQueries | Unavailable:
    """Per-query ``metric`` of both arms from two evaluation-results ``metrics`` mappings
    (``<family>.queries``: ``[{"id", "slices", metric: value}]``), or why not."""
    cand, base = _per_query(candidate, family, metric), _per_query(baseline, family, metric)
    for arm, got in (("candidate", cand), ("baseline", base)):
        if got is None:
            return Unavailable(
                InconclusiveReason.NO_DATA, f"no per-query {family}.queries in the {arm}'s evaluation results"
            )
    assert cand is not None and base is not None
    if not cand[0] or not base[0]:
        arm = "candidate" if not cand[0] else "baseline"
        return Unavailable(InconclusiveReason.NO_DATA, f"no query of the {arm} has {family} {metric}")
    return PairedQueries(candidate=cand[0], baseline=base[0], slices={**base[1], **cand[1]})

"""Plans: what a gate asks its source to measure, in one of a few plain shapes.

A gate kind compiles its spec into a plan (``registry.plan(spec)``); a source reads the plan,
never the spec's kind, so a new kind whose numbers have a known shape needs no source change.
Each plan is answered by one observation shape (``observations``):

- ``ValuesPlan`` -> ``Values``: named metrics for the candidate and, if asked, the baseline;
- ``CountsPlan`` -> ``Counts``: events out of trials per arm;
- ``QuantilesPlan`` -> ``Quantiles``: percentiles with confidence bounds and counts per arm;
- ``ChecksPlan`` -> ``Checks``: the operator's own yes/no checks;
- ``PairedPlan`` -> ``PairedQueries``: per-query values of both arms from the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowgate.core.gates import observations as obs


@dataclass(frozen=True)
class ValuesPlan:
    metrics: tuple[str, ...]  # PromQL templates or evaluation key paths, by the gate's source
    baseline: bool = False


@dataclass(frozen=True)
class CountsPlan:
    events: str
    trials: str


@dataclass(frozen=True)
class QuantilesPlan:
    query: str  # renders one ``{quantile}`` of one variant
    count_query: str
    quantiles: tuple[float, ...]
    alpha: float  # split between the candidate's lower and the baseline's upper bound
    baseline: bool = False


@dataclass(frozen=True)
class ChecksPlan:
    checks: tuple[str, ...]


@dataclass(frozen=True)
class PairedPlan:
    family: str  # results section holding per-query rows (retrieval, reranking)
    metric: str


Plan = ValuesPlan | CountsPlan | QuantilesPlan | ChecksPlan | PairedPlan

# The observation a source returns for each plan (besides ``Unavailable``).
ANSWERS: dict[type, type] = {
    ValuesPlan: obs.Values,
    CountsPlan: obs.Counts,
    QuantilesPlan: obs.Quantiles,
    ChecksPlan: obs.Checks,
    PairedPlan: obs.PairedQueries,
}

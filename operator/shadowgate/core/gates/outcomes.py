"""Per-metric outcomes and how they roll up into one gate's verdict.

Every kind reduces one look to a list of outcomes that roll up the same way: any Fail fails
the gate, otherwise any Inconclusive makes it Inconclusive (with the first reason), otherwise
it passes. The result's evidence is that of the deciding outcome (the first Fail, the first
Inconclusive, or the first Pass) and its message lists every outcome, so a person can see all
the numbers behind the verdict. Missing or NaN values are NoData, never zero. The helpers here
are the ones several kinds share (bounds, candidate-versus-baseline comparison).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shadowgate.core.gates.observations import Values
from shadowgate.core.gates.specs import Comparison, Direction, GateSpec
from shadowgate.core.verdicts import Evidence, GateResult, InconclusiveReason, Verdict

NO_DATA = InconclusiveReason.NO_DATA
INSUFFICIENT = InconclusiveReason.INSUFFICIENT_SAMPLES


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    message: str
    evidence: Evidence = field(default_factory=Evidence)
    reason: InconclusiveReason | None = None


def inconclusive(reason: InconclusiveReason, message: str, evidence: Evidence | None = None) -> Outcome:
    return Outcome(Verdict.INCONCLUSIVE, message, evidence or Evidence(), reason)


def number(values: Mapping[str, float | None], key: str) -> float | None:
    v = values.get(key)
    return None if v is None or not math.isfinite(v) else float(v)


def with_(ev: Evidence, **changes: Any) -> Evidence:
    return Evidence(**{**ev.__dict__, **changes})


def roll_up(spec: GateSpec, outcomes: list[Outcome]) -> GateResult:
    for verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.PASS):
        deciding = next((o for o in outcomes if o.verdict is verdict), None)
        if deciding is not None:
            break
    assert deciding is not None, "every gate kind yields at least one outcome"
    return GateResult(
        gate=spec.header.name,
        verdict=deciding.verdict,
        evidence=deciding.evidence,
        reason=deciding.reason,
        critical=spec.header.critical,
        message="; ".join(o.message for o in outcomes),
    )


def samples_short(spec_min: int, values: Values) -> Outcome | None:
    counts = [n for n in (values.candidate_samples, values.baseline_samples) if n is not None]
    if spec_min and counts and min(counts) < spec_min:
        return inconclusive(INSUFFICIENT, f"{min(counts)} samples < minSamples {spec_min}")
    return None


def floors(metric: str, value: float, low: float | None, high: float | None, ev: Evidence) -> Outcome | None:
    if low is not None and value < low:
        return Outcome(Verdict.FAIL, f"{metric}={value:.4g} below min {low:g}", with_(ev, threshold=low))
    if high is not None and value > high:
        return Outcome(Verdict.FAIL, f"{metric}={value:.4g} above max {high:g}", with_(ev, threshold=high))
    return None


def compare(
    metric: str, cand: float, base: float, direction: Direction, comparison: Comparison, margin: float
) -> Outcome:
    """Candidate vs baseline: fail when the candidate is worse by more than ``margin``."""
    better_higher = direction is Direction.HIGHER
    if comparison is Comparison.RATIO:
        if base <= 0:
            return inconclusive(NO_DATA, f"{metric}: baseline {base:g} <= 0, ratio undefined")
        stat = cand / base
        harm = (1 - stat) if better_higher else (stat - 1)
        limit = base * (1 - margin) if better_higher else base * (1 + margin)
    else:
        stat = cand - base
        harm = -stat if better_higher else stat
        limit = base - margin if better_higher else base + margin
    ev = Evidence(
        value=cand, baseline_value=base, threshold=limit, statistic=str(comparison), statistic_value=stat
    )
    word = "min" if better_higher else "max"
    text = f"{metric}={cand:.4g} vs baseline {base:.4g} ({word} allowed {limit:.4g})"
    verdict = Verdict.FAIL if harm > margin + 1e-12 else Verdict.PASS
    return Outcome(verdict, text, with_(ev, detail=metric))

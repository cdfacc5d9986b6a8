"""Folding one analysis's gate results into status, with hysteresis.

A non-critical gate must fail ``failure_limit`` analyses in a row before the failure is
decisive; a critical gate fails at once. A Pass resets the counter; Inconclusive leaves it
alone (missing data neither convicts nor acquits). Inconclusive is never Pass. The analysis
also says which gates could not be measured at all (QueryError), so the lifecycle can give an
outage its own limit (``policy.queryErrorLimit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shadowgate.core.lifecycle.status import GateStatus
from shadowgate.core.verdicts import GateResult, InconclusiveReason, Verdict


@dataclass(frozen=True)
class Analysis:
    gates: tuple[GateStatus, ...]  # every gate status, other phases' entries kept
    failed: tuple[GateStatus, ...]  # decisively failed in this analysis
    inconclusive: tuple[GateStatus, ...]

    @property
    def all_pass(self) -> bool:
        return not self.failed and not self.inconclusive

    @property
    def query_errors(self) -> tuple[GateStatus, ...]:
        """The inconclusive gates whose source or query failed (an outage, not patience)."""
        return tuple(g for g in self.inconclusive if g.result.reason is InconclusiveReason.QUERY_ERROR)


def fold(
    previous: tuple[GateStatus, ...],
    results: tuple[GateResult, ...],
    phase: str,
    failure_limit: int,
    now: datetime,
    limits: Mapping[str, int] | None = None,
) -> Analysis:
    """``limits`` are per-gate failure limits that override ``failure_limit``."""
    counters = {g.result.gate: g.consecutive_failures for g in previous if g.phase == phase}
    current: list[GateStatus] = []
    failed: list[GateStatus] = []
    inconclusive: list[GateStatus] = []
    for result in results:
        count = counters.get(result.gate, 0)
        if result.verdict is Verdict.FAIL:
            count += 1
        elif result.verdict is Verdict.PASS:
            count = 0
        entry = GateStatus(result=result, consecutive_failures=count, evaluated=now, phase=phase)
        current.append(entry)
        limit = (limits or {}).get(result.gate, failure_limit)
        if result.verdict is Verdict.FAIL and (result.critical or count >= limit):
            failed.append(entry)
        elif result.verdict is not Verdict.PASS:
            # A failure still inside its limit is not a pass either: hold, as for Inconclusive.
            inconclusive.append(entry)
    others = tuple(g for g in previous if g.phase != phase)
    return Analysis(gates=others + tuple(current), failed=tuple(failed), inconclusive=tuple(inconclusive))


def describe(entry: GateStatus) -> str:
    """One line for a message or Event: the gate, its verdict and the evidence behind it."""
    result = entry.result
    ev = result.evidence
    parts = [f"gate {result.gate} {result.verdict}"]
    if result.reason is not None:
        parts.append(f"({result.reason})")
    if ev.value is not None:
        parts.append(f"value={ev.value:.4g}")
    if ev.baseline_value is not None:
        parts.append(f"baseline={ev.baseline_value:.4g}")
    if ev.threshold is not None:
        parts.append(f"threshold={ev.threshold:.4g}")
    if ev.candidate_samples is not None:
        parts.append(f"n={ev.candidate_samples}")
    if ev.baseline_samples is not None:
        parts.append(f"n_baseline={ev.baseline_samples}")
    if result.message:
        parts.append(f"- {result.message}")
    return " ".join(parts)

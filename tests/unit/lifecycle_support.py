"""What the table-driven transition tests share: a spec, workloads, gate results, status and
observation builders, and the check every row of the table gets (no tests in this module)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from shadowgate.core.gates import parsing
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle.phases import InconclusiveAction, Phase
from shadowgate.core.lifecycle.spec import LifecycleSpec
from shadowgate.core.lifecycle.status import Status
from shadowgate.core.lifecycle.transition import transition
from shadowgate.core.verdicts import Evidence, GateResult, InconclusiveReason, Verdict

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
SPEC = LifecycleSpec(
    fingerprint="f1",
    canary_steps=(10, 50),
    step_min_duration_s=30,
    step_min_samples=100,
    evaluation_enabled=True,
    shadow_enabled=True,
    shadow_duration_s=20,
    shadow_min_requests=50,
    analysis_interval_s=5,
    deploy_timeout_s=60,
    promote_timeout_s=60,
    failure_limit=2,
    inconclusive_limit=3,
)
UP = o.Workload(exists=True, available=True)
DOWN = o.Workload(exists=True, available=False)
GONE = o.Workload()


def ok(name: str = "latency") -> GateResult:
    return GateResult(gate=name, verdict=Verdict.PASS, evidence=Evidence(value=0.1, threshold=0.2))


def bad(name: str = "latency", critical: bool = False) -> GateResult:
    return GateResult(
        gate=name, verdict=Verdict.FAIL, evidence=Evidence(value=0.3, threshold=0.2), critical=critical
    )


def unsure(name: str = "noclick") -> GateResult:
    return GateResult(gate=name, verdict=Verdict.INCONCLUSIVE, reason=InconclusiveReason.NO_DATA)


def outage(name: str = "noclick") -> GateResult:
    return GateResult(gate=name, verdict=Verdict.INCONCLUSIVE, reason=InconclusiveReason.QUERY_ERROR)


def erring(action: InconclusiveAction = InconclusiveAction.ROLLBACK, limit: int | None = 2) -> LifecycleSpec:
    """SPEC whose query errors have their own limit (inconclusive_limit stays 3)."""
    return dataclasses.replace(SPEC, inconclusive_action=action, query_error_limit=limit)


def limited(gate: str) -> LifecycleSpec:
    """SPEC with one gate named ``gate`` whose own failureLimit is 1."""
    raw = {"name": gate, "kind": "threshold", "metric": "sum(x)", "max": 1, "failureLimit": 1}
    return dataclasses.replace(SPEC, gates=(parsing.parse_gate(raw),))


def st(phase: Phase, since_s: float = 0, **kw: Any) -> Status:
    base: dict[str, Any] = dict(phase=phase, phase_since=T0 - timedelta(seconds=since_s), fingerprint="f1")
    if phase in (Phase.SHADOW, Phase.CANARY, Phase.PROMOTING):
        base["routes_touched"] = True
    base.update(kw)
    return Status(**base)


def obs(spec: LifecycleSpec = SPEC, **kw: Any) -> o.Observations:
    base: dict[str, Any] = dict(spec=spec, generation=1, candidate=UP)
    base.update(kw)
    return o.Observations(**base)


def kinds(actions: tuple[o.Action, ...]) -> list[str]:
    return [type(a).__name__ for a in actions if not isinstance(a, o.EmitEvent)]


def events(actions: tuple[o.Action, ...]) -> list[str]:
    return [a.reason for a in actions if isinstance(a, o.EmitEvent)]


def check_transition(status: Status, observed: o.Observations, phase: Phase, actions: list[str]) -> None:
    """One row: the phase and action kinds reached, and a history entry for a changed phase."""
    decision = transition(status, observed, T0)
    assert decision.status.phase is phase
    assert kinds(decision.actions) == actions
    assert decision.status.observed_generation == observed.generation
    changed = decision.status.phase is not status.phase
    assert len(decision.status.history) == len(status.history) + (1 if changed else 0)
    if changed:
        last = decision.status.history[-1]
        assert (last.from_phase, last.to_phase, last.time) == (str(status.phase), str(phase), T0)
        assert last.reason in events(decision.actions)

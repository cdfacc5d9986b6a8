"""Table-driven tests of the transition function over every phase and edge."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from shadowgate.core.gates import parsing
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle.phases import InconclusiveAction, Phase, Promotion
from shadowgate.core.lifecycle.spec import LifecycleSpec
from shadowgate.core.lifecycle.status import GateStatus, Status
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


CASES = [
    # Pending / Queued
    pytest.param(
        st(Phase.PENDING, fingerprint=""), obs(), Phase.DEPLOYING, ["EnsureWorkload"], id="pending-deploys"
    ),
    pytest.param(st(Phase.PENDING), obs(queue_ahead=2), Phase.QUEUED, [], id="pending-queues-behind-others"),
    pytest.param(
        st(Phase.PENDING),
        obs(target_found=False, target_message="deployment x not found"),
        Phase.FAILED,
        [],
        id="pending-missing-target-fails-untouched",
    ),
    pytest.param(st(Phase.QUEUED), obs(queue_ahead=1), Phase.QUEUED, [], id="queued-waits"),
    pytest.param(
        st(Phase.PENDING),
        obs(spec_error="gate 'x': field 'max': min above max"),
        Phase.FAILED,
        [],
        id="pending-invalid-spec-fails",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10),
        obs(spec_error="bad gates"),
        Phase.FAILED,
        ["RestoreRoutes", "DeleteWorkload"],
        id="canary-invalid-spec-cleans-up",
    ),
    pytest.param(
        st(Phase.DEPLOYING),
        obs(target_found=False, target_reason="BaselineMismatch"),
        Phase.FAILED,
        ["DeleteWorkload"],
        id="deploying-baseline-mismatch",
    ),
    pytest.param(
        st(Phase.QUEUED), obs(queue_ahead=0), Phase.DEPLOYING, ["EnsureWorkload"], id="queued-to-deploying"
    ),
    # Deploying
    pytest.param(st(Phase.DEPLOYING), obs(candidate=DOWN), Phase.DEPLOYING, [], id="deploying-waits"),
    pytest.param(
        st(Phase.DEPLOYING),
        obs(candidate=GONE),
        Phase.DEPLOYING,
        ["EnsureWorkload"],
        id="deploying-recreates-vanished",
    ),
    pytest.param(st(Phase.DEPLOYING), obs(), Phase.EVALUATING, [], id="deploying-available-evaluates"),
    pytest.param(
        st(Phase.DEPLOYING),
        obs(spec=dataclasses.replace(SPEC, evaluation_enabled=False)),
        Phase.SHADOW,
        ["SetRoutes"],
        id="deploying-no-evaluation-shadows",
    ),
    pytest.param(
        st(Phase.DEPLOYING),
        obs(spec=dataclasses.replace(SPEC, evaluation_enabled=False, shadow_enabled=False)),
        Phase.CANARY,
        ["SetRoutes"],
        id="deploying-straight-to-canary",
    ),
    pytest.param(
        st(Phase.DEPLOYING, since_s=61),
        obs(candidate=DOWN),
        Phase.FAILED,
        ["DeleteWorkload"],
        id="deploying-timeout-fails",
    ),
    pytest.param(
        st(Phase.DEPLOYING),
        obs(candidate=o.Workload(exists=True, failure="ProgressDeadlineExceeded")),
        Phase.FAILED,
        ["DeleteWorkload"],
        id="deploying-progress-deadline-fails",
    ),
    pytest.param(
        st(Phase.DEPLOYING),
        obs(target_found=False),
        Phase.FAILED,
        ["DeleteWorkload"],
        id="deploying-target-vanished",
    ),
    # Evaluating
    pytest.param(
        st(Phase.EVALUATING), obs(gates=None), Phase.EVALUATING, [], id="evaluating-no-analysis-yet"
    ),
    pytest.param(
        st(Phase.EVALUATING),
        obs(gates=(ok("recall"),)),
        Phase.SHADOW,
        ["SetRoutes"],
        id="evaluating-pass-shadows",
    ),
    pytest.param(
        st(Phase.EVALUATING),
        obs(gates=(bad("recall", critical=True),)),
        Phase.ROLLING_BACK,
        ["DeleteWorkload"],
        id="evaluating-fail-rolls-back-without-route-change",
    ),
    pytest.param(
        st(Phase.EVALUATING),
        obs(gates=(unsure("recall"),)),
        Phase.EVALUATING,
        [],
        id="evaluating-inconclusive-holds",
    ),
    # Shadow
    pytest.param(
        st(Phase.SHADOW, since_s=5),
        obs(gates=(ok(),), samples=500),
        Phase.SHADOW,
        [],
        id="shadow-too-short-holds",
    ),
    pytest.param(
        st(Phase.SHADOW, since_s=25),
        obs(gates=(ok(),), samples=10),
        Phase.SHADOW,
        [],
        id="shadow-too-few-mirrored-holds",
    ),
    pytest.param(
        st(Phase.SHADOW, since_s=25),
        obs(gates=(ok(),), samples=50),
        Phase.CANARY,
        ["SetRoutes"],
        id="shadow-done-enters-first-step",
    ),
    pytest.param(
        st(Phase.SHADOW, since_s=25),
        obs(gates=(ok(), unsure()), samples=50),
        Phase.SHADOW,
        [],
        id="shadow-inconclusive-never-passes",
    ),
    pytest.param(
        st(Phase.SHADOW, since_s=25),
        obs(gates=(bad(critical=True),), samples=50),
        Phase.ROLLING_BACK,
        ["RestoreRoutes", "DeleteWorkload", "RecordRollback"],
        id="shadow-critical-fail-rolls-back",
    ),
    pytest.param(
        st(Phase.SHADOW, since_s=25),
        obs(gates=(bad(),), samples=50),
        Phase.SHADOW,
        [],
        id="shadow-first-failure-within-limit-holds",
    ),
    pytest.param(
        st(Phase.SHADOW, unavailable_since=T0 - timedelta(seconds=6)),
        obs(candidate=DOWN),
        Phase.FAILED,
        ["RestoreRoutes", "DeleteWorkload"],
        id="shadow-candidate-died-fails",
    ),
    pytest.param(
        st(Phase.SHADOW), obs(candidate=DOWN), Phase.SHADOW, [], id="shadow-candidate-blip-tolerated"
    ),
    # Canary
    pytest.param(
        st(Phase.CANARY, step=0, step_since=T0 - timedelta(seconds=31), weight=10),
        obs(gates=(ok(),), samples=100),
        Phase.CANARY,
        ["SetRoutes"],
        id="canary-advances-step",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, step_since=T0 - timedelta(seconds=31), weight=10),
        obs(gates=(ok(),), samples=99),
        Phase.CANARY,
        [],
        id="canary-too-few-samples-holds",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, step_since=T0 - timedelta(seconds=10), weight=10),
        obs(gates=(ok(),), samples=1000),
        Phase.CANARY,
        [],
        id="canary-too-short-holds",
    ),
    pytest.param(
        st(Phase.CANARY, step=1, step_since=T0 - timedelta(seconds=31), weight=50),
        obs(gates=(ok(),), samples=100),
        Phase.PROMOTING,
        [],  # production is touched only once status records what it served
        id="canary-last-step-promotes",
    ),
    pytest.param(
        st(Phase.CANARY, step=1, step_since=T0 - timedelta(seconds=31), weight=50),
        obs(spec=dataclasses.replace(SPEC, promotion=Promotion.MANUAL), gates=(ok(),), samples=100),
        Phase.CANARY,
        [],
        id="canary-manual-awaits-approval",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10),
        obs(spec=dataclasses.replace(SPEC, approve=True)),
        Phase.PROMOTING,
        [],  # production is touched only once status records what it served
        id="canary-approve-promotes-now",
    ),
    pytest.param(
        st(
            Phase.CANARY,
            step=0,
            weight=10,
            gates=(GateStatus(bad(), 1, T0 - timedelta(seconds=5), "Canary"),),
        ),
        obs(gates=(bad(),)),
        Phase.ROLLING_BACK,
        ["RestoreRoutes", "DeleteWorkload", "RecordRollback"],
        id="canary-second-consecutive-failure-rolls-back",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10),
        obs(limited("latency"), gates=(bad(),)),
        Phase.ROLLING_BACK,
        ["RestoreRoutes", "DeleteWorkload", "RecordRollback"],
        id="canary-gate-own-failure-limit-overrides-policy",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10),
        obs(limited("other"), gates=(bad(),)),
        Phase.CANARY,
        [],
        id="canary-other-gate-limit-does-not-apply",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10, inconclusive_count=2),
        obs(gates=(unsure(),)),
        Phase.CANARY,
        [],
        id="canary-inconclusive-limit-hold",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10, inconclusive_count=2),
        obs(spec=dataclasses.replace(SPEC, inconclusive_action=InconclusiveAction.PAUSE), gates=(unsure(),)),
        Phase.PAUSED,
        [],
        id="canary-inconclusive-limit-pause",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10, inconclusive_count=2),
        obs(
            spec=dataclasses.replace(SPEC, inconclusive_action=InconclusiveAction.ROLLBACK), gates=(unsure(),)
        ),
        Phase.ROLLING_BACK,
        ["RestoreRoutes", "DeleteWorkload", "RecordRollback"],
        id="canary-inconclusive-limit-rollback",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10, inconclusive_count=1, query_error_count=1),
        obs(erring(), gates=(outage(),)),
        Phase.ROLLING_BACK,
        ["RestoreRoutes", "DeleteWorkload", "RecordRollback"],
        id="canary-query-error-limit-before-inconclusive-limit",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10, inconclusive_count=1, query_error_count=1),
        obs(erring(), gates=(unsure(),)),
        Phase.CANARY,
        [],
        id="canary-no-data-is-not-an-outage",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10, inconclusive_count=1, query_error_count=1),
        obs(erring(limit=None), gates=(outage(),)),
        Phase.CANARY,
        [],
        id="canary-query-errors-without-their-own-limit-are-inconclusive",
    ),
    pytest.param(
        st(Phase.CANARY, step=0, weight=10, inconclusive_count=1, query_error_count=1),
        obs(erring(InconclusiveAction.PAUSE), gates=(outage(), ok())),
        Phase.PAUSED,
        [],
        id="canary-query-error-limit-pause",
    ),
    # Promoting
    pytest.param(
        st(Phase.PROMOTING),
        obs(),
        Phase.PROMOTING,
        ["PromoteProduction"],
        id="promoting-waits-for-production-rollout",
    ),
    pytest.param(
        st(Phase.PROMOTING),
        obs(production_promoted=True),
        Phase.PROMOTED,
        ["RestoreRoutes", "DeleteWorkload"],
        id="promoting-done-restores-routes-after-rollout",
    ),
    pytest.param(
        st(Phase.PROMOTING, since_s=61),
        obs(),
        Phase.FAILED,
        ["RestoreRoutes", "DeleteWorkload"],
        id="promoting-timeout-fails",
    ),
    # RollingBack
    pytest.param(
        st(Phase.ROLLING_BACK, routes_touched=True),
        obs(candidate=DOWN),
        Phase.ROLLING_BACK,
        ["RestoreRoutes", "DeleteWorkload"],
        id="rolling-back-waits-for-removal",
    ),
    pytest.param(st(Phase.ROLLING_BACK), obs(candidate=GONE), Phase.ROLLED_BACK, [], id="rolled-back"),
    # Paused
    pytest.param(
        st(Phase.CANARY, step=0, weight=10),
        obs(spec=dataclasses.replace(SPEC, paused=True)),
        Phase.PAUSED,
        [],
        id="pause-freezes-routes",
    ),
    pytest.param(
        st(Phase.PAUSED, paused_from=Phase.CANARY, paused_by="user", step=0, weight=10),
        obs(),
        Phase.CANARY,
        [],
        id="unpause-resumes",
    ),
    pytest.param(
        st(Phase.PAUSED, paused_from=Phase.CANARY, paused_by="policy", step=0),
        obs(),
        Phase.PAUSED,
        [],
        id="policy-pause-holds-until-user-acts",
    ),
    pytest.param(
        st(Phase.PAUSED, paused_from=Phase.SHADOW, paused_by="user"),
        obs(spec=dataclasses.replace(SPEC, paused=True, approve=True)),
        Phase.PROMOTING,
        [],  # production is touched only once status records what it served
        id="approve-while-paused-promotes",
    ),
    pytest.param(
        st(Phase.PROMOTING),
        obs(spec=dataclasses.replace(SPEC, paused=True)),
        Phase.PROMOTING,
        ["PromoteProduction"],
        id="promoting-cannot-be-paused",
    ),
    # Abort, spec change, terminal
    pytest.param(
        st(Phase.CANARY, step=0, weight=10),
        obs(spec=dataclasses.replace(SPEC, abort=True)),
        Phase.ABORTED,
        ["RestoreRoutes", "DeleteWorkload"],
        id="abort-restores-and-removes",
    ),
    pytest.param(
        st(Phase.QUEUED),
        obs(spec=dataclasses.replace(SPEC, abort=True)),
        Phase.ABORTED,
        ["DeleteWorkload"],
        id="abort-queued",
    ),
    pytest.param(
        st(Phase.CANARY, step=1, weight=50),
        obs(spec=dataclasses.replace(SPEC, fingerprint="f2"), generation=2),
        Phase.DEPLOYING,
        ["RestoreRoutes", "EnsureWorkload"],
        id="spec-change-restarts",
    ),
    pytest.param(
        st(Phase.QUEUED),
        obs(spec=dataclasses.replace(SPEC, fingerprint="f2"), queue_ahead=1),
        Phase.QUEUED,
        [],
        id="spec-change-while-queued-just-records",
    ),
    pytest.param(
        st(Phase.PROMOTED),
        obs(spec=dataclasses.replace(SPEC, abort=True)),
        Phase.PROMOTED,
        [],
        id="promoted-is-terminal",
    ),
    pytest.param(
        st(Phase.ROLLED_BACK), obs(target_found=False), Phase.ROLLED_BACK, [], id="rolled-back-terminal"
    ),
    pytest.param(st(Phase.FAILED), obs(), Phase.FAILED, [], id="failed-is-terminal"),
    pytest.param(st(Phase.ABORTED), obs(), Phase.ABORTED, [], id="aborted-is-terminal"),
]


@pytest.mark.parametrize(("status", "observed", "phase", "actions"), CASES)
def test_transition(status: Status, observed: o.Observations, phase: Phase, actions: list[str]) -> None:
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


@pytest.mark.parametrize(
    ("gates", "before", "after", "event"),
    [
        pytest.param((outage(),), (0, 0), (1, 1), "GateInconclusive", id="outage-counts-twice"),
        pytest.param((unsure(),), (1, 1), (2, 0), None, id="no-data-resets-the-outage-count"),
        pytest.param((ok(),), (2, 1), (0, 0), None, id="all-pass-resets-both"),
        pytest.param((outage(),), (1, 1), (2, 2), "QueryErrorLimit", id="hold-warns-once-at-the-limit"),
    ],
)
def test_inconclusive_and_query_error_counts(
    gates: tuple[GateResult, ...], before: tuple[int, int], after: tuple[int, int], event: str | None
) -> None:
    """(inconclusiveCount, queryErrorCount) before and after one analysis in Shadow, held there by
    a minimum request count it never reaches; ``hold`` keeps the phase and warns at the limit."""
    status = st(Phase.SHADOW, 30, inconclusive_count=before[0], query_error_count=before[1])
    spec = dataclasses.replace(erring(InconclusiveAction.HOLD), shadow_min_requests=10**9)
    decision = transition(status, obs(spec, gates=gates, samples=0), T0)
    assert decision.status.phase is Phase.SHADOW
    assert (decision.status.inconclusive_count, decision.status.query_error_count) == after
    events = [a.reason for a in decision.actions if isinstance(a, o.EmitEvent)]
    assert events == ([event] if event else [])
    assert Status.from_dict(decision.status.to_dict()).query_error_count == after[1]

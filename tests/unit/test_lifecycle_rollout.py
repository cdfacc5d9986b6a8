"""Table-driven tests of the transition function: Canary through the terminal phases, and the
inconclusive and query-error counts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from lifecycle_support import (
    DOWN,
    GONE,
    SPEC,
    T0,
    bad,
    check_transition,
    erring,
    limited,
    obs,
    ok,
    outage,
    st,
    unsure,
)
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle.phases import InconclusiveAction, Phase, Promotion
from shadowgate.core.lifecycle.status import GateStatus, Status
from shadowgate.core.lifecycle.transition import transition
from shadowgate.core.verdicts import GateResult

CASES = [
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
    check_transition(status, observed, phase, actions)


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

"""Table-driven tests of the transition function: Pending through Shadow."""

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
    obs,
    ok,
    st,
    unsure,
)
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import Status

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
]


@pytest.mark.parametrize(("status", "observed", "phase", "actions"), CASES)
def test_transition(status: Status, observed: o.Observations, phase: Phase, actions: list[str]) -> None:
    check_transition(status, observed, phase, actions)

"""The lifecycle beyond the transition table: route weights, evidence in status, crash replay,
round trips through the resource, bounded history, conditions, analysis timing, spec checks."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from lifecycle_support import DOWN, SPEC, T0, bad, events, kinds, obs, ok, st, unsure
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import Status
from shadowgate.core.lifecycle.transition import analysis_due, transition
from shadowgate.core.verdicts import Verdict


@pytest.mark.parametrize(
    ("status", "observed", "expected"),
    [
        pytest.param(
            st(Phase.SHADOW, since_s=25),
            obs(gates=(ok(),), samples=50),
            o.SetRoutes(primary_weight=90, canary_weight=10, mirror_percent=0),
            id="first-step-weights",
        ),
        pytest.param(
            st(Phase.DEPLOYING),
            obs(spec=dataclasses.replace(SPEC, evaluation_enabled=False, mirror_percent=30)),
            o.SetRoutes(primary_weight=100, canary_weight=0, mirror_percent=30),
            id="shadow-mirror",
        ),
        pytest.param(
            st(Phase.CANARY, step=0, step_since=T0 - timedelta(seconds=31), weight=10),
            obs(gates=(ok(),), samples=100),
            o.SetRoutes(primary_weight=50, canary_weight=50, mirror_percent=0),
            id="second-step-weights",
        ),
    ],
)
def test_route_weights(status: Status, observed: o.Observations, expected: o.SetRoutes) -> None:
    decision = transition(status, observed, T0)
    assert [a for a in decision.actions if isinstance(a, o.SetRoutes)] == [expected]
    assert decision.status.weight == expected.canary_weight


def test_rollback_records_failing_gate_and_evidence() -> None:
    decision = transition(st(Phase.CANARY, step=0, weight=10), obs(gates=(bad(critical=True), ok("x"))), T0)
    s = decision.status
    assert (s.phase, s.reason, s.weight, s.failed_at) == (Phase.ROLLING_BACK, "GateFailed", 0, T0)
    assert "gate latency Fail value=0.3 threshold=0.2" in s.message
    failing = [g for g in s.gates if g.result.verdict is Verdict.FAIL]
    assert [g.result.gate for g in failing] == ["latency"]
    assert "GateFailed" in events(decision.actions)
    ready = {c.type: c for c in s.conditions}
    assert ready["GatesPassing"].status == "False"


def test_replay_after_crash_gives_same_decision_and_one_history_entry() -> None:
    # The operator applied the actions, then died before patching status: it sees the old
    # status again and must decide the same thing, without growing the history twice.
    status = st(Phase.SHADOW, since_s=25)
    observed = obs(gates=(ok(),), samples=50)
    first = transition(status, observed, T0)
    again = transition(Status.from_dict(status.to_dict()), observed, T0)
    assert first == again
    after = transition(first.status, obs(), T0 + timedelta(seconds=1))
    assert [h.to_phase for h in after.status.history] == ["Canary"]
    assert kinds(after.actions) == []


def test_status_round_trips_through_the_resource() -> None:
    decision = transition(st(Phase.CANARY, step=0, weight=10), obs(gates=(bad(critical=True), unsure())), T0)
    assert Status.from_dict(decision.status.to_dict()) == decision.status


def test_history_is_bounded() -> None:
    status = st(Phase.QUEUED)
    for i in range(40):
        flip = transition(status, obs(queue_ahead=0, generation=i), T0).status
        status = dataclasses.replace(flip, phase=Phase.QUEUED)
    assert len(status.history) == 30


def test_conditions_keep_transition_time_while_unchanged() -> None:
    first = transition(st(Phase.PENDING), obs(), T0).status
    later = transition(first, obs(candidate=DOWN), T0 + timedelta(seconds=9)).status
    progressing = {c.type: c for c in later.conditions}["Progressing"]
    assert (progressing.status, progressing.last_transition) == ("True", T0)


@pytest.mark.parametrize(
    ("status", "due"),
    [
        pytest.param(st(Phase.CANARY), True, id="never-analysed"),
        pytest.param(st(Phase.CANARY, last_analysis=T0 - timedelta(seconds=2)), False, id="within-interval"),
        pytest.param(st(Phase.CANARY, last_analysis=T0 - timedelta(seconds=4.97)), True, id="timer-jitter"),
        pytest.param(st(Phase.PROMOTING), False, id="not-an-analysing-phase"),
    ],
)
def test_analysis_due(status: Status, due: bool) -> None:
    assert analysis_due(status, 5, T0) is due


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"canary_steps": (50, 10)}, "strictly increasing", id="decreasing-steps"),
        pytest.param({"canary_steps": (10, 101)}, "strictly increasing", id="step-over-100"),
        pytest.param({"failure_limit": 0}, "failure_limit", id="zero-failure-limit"),
        pytest.param({"mirror_percent": 101}, "mirror_percent", id="mirror-over-100"),
    ],
)
def test_spec_rejects_nonsense(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SPEC, **changes)


@pytest.mark.parametrize(
    ("result", "reason", "named"),
    [
        pytest.param(
            dataclasses.replace(unsure(), message="prometheus unreachable after 3 tries"),
            "GateInconclusive",
            "gate noclick Inconclusive (NoData) - prometheus unreachable after 3 tries",
            id="inconclusive-names-the-source",
        ),
        pytest.param(
            bad(critical=True), "GateFailing", "gate latency Fail value=0.3", id="failing-names-gate"
        ),
    ],
)
def test_gates_condition_names_the_gates_and_why(result: Any, reason: str, named: str) -> None:
    status = transition(st(Phase.SHADOW), obs(gates=(result,)), T0).status
    gates = {c.type: c for c in status.conditions}["GatesPassing"]
    assert gates.reason == reason and named in gates.message

"""decide(): hysteresis per gate, critical gates, the roll-up, prolonged Inconclusive, state round-trip."""

from __future__ import annotations

import json

import pytest
from shadowgate.core.gates import parsing
from shadowgate.core.gates.policy import (
    Decision,
    GateState,
    InconclusiveAction,
    Outcome,
    Policy,
    PolicyState,
    decide,
    limits_from,
)
from shadowgate.core.verdicts import GateResult
from shadowgate.core.verdicts import InconclusiveReason as R
from shadowgate.core.verdicts import Verdict as V


def _r(gate: str, verdict: V, *, critical: bool = False, reason: R | None = None) -> GateResult:
    if verdict is V.INCONCLUSIVE and reason is None:
        reason = R.NO_DATA
    return GateResult(gate, verdict, reason=reason, critical=critical, message=f"{gate} said {verdict}")


def _run(looks: list[list[GateResult]], policy: Policy, step: float = 60.0) -> list[Decision]:
    state, out = PolicyState(), []
    for i, results in enumerate(looks):
        state, decision = decide(results, state, policy, now=1000.0 + i * step)
        # The operator stores the state in the Candidate status between looks.
        state = PolicyState.from_dict(json.loads(json.dumps(state.to_dict())))
        out.append(decision)
    return out


PASS_A, FAIL_A, INC_A = _r("a", V.PASS), _r("a", V.FAIL), _r("a", V.INCONCLUSIVE)
PASS_B = _r("b", V.PASS)
CRIT_FAIL = _r("c", V.FAIL, critical=True)


@pytest.mark.parametrize(
    ("looks", "policy", "outcomes", "gate"),
    [
        pytest.param([[PASS_A, PASS_B]], Policy(), ["Pass"], None, id="all-pass"),
        pytest.param([[]], Policy(), ["Pass"], None, id="no-gates"),
        pytest.param([[INC_A, PASS_B]], Policy(), ["Inconclusive"], None, id="inconclusive-never-pass"),
        pytest.param(
            [[FAIL_A], [FAIL_A], [FAIL_A]],
            Policy(failure_limit=3),
            ["Inconclusive", "Inconclusive", "Fail"],
            "a",
            id="third-consecutive-failure-decides",
        ),
        pytest.param(
            [[FAIL_A], [FAIL_A], [PASS_A], [FAIL_A], [FAIL_A]],
            Policy(failure_limit=3),
            ["Inconclusive", "Inconclusive", "Pass", "Inconclusive", "Inconclusive"],
            None,
            id="a-pass-resets-the-count",
        ),
        pytest.param(
            [[FAIL_A], [INC_A], [FAIL_A]],
            Policy(failure_limit=2),
            ["Inconclusive", "Inconclusive", "Fail"],
            "a",
            id="inconclusive-neither-forgives-nor-counts",
        ),
        pytest.param(
            [[CRIT_FAIL, PASS_A]], Policy(failure_limit=5), ["Fail"], "c", id="critical-fails-at-once"
        ),
        pytest.param(
            [[FAIL_A, CRIT_FAIL]], Policy(failure_limit=1), ["Fail"], "a", id="first-decided-gate-is-named"
        ),
        pytest.param(
            [[FAIL_A], [FAIL_A]],
            Policy(failure_limit=5, gate_limits={"a": 2}),
            ["Inconclusive", "Fail"],
            "a",
            id="per-gate-limit",
        ),
    ],
)
def test_hysteresis(
    looks: list[list[GateResult]], policy: Policy, outcomes: list[str], gate: str | None
) -> None:
    decisions = _run(looks, policy)
    assert [str(d.outcome) for d in decisions] == outcomes
    assert decisions[-1].gate == gate


@pytest.mark.parametrize(
    ("action", "timeout", "looks", "expected"),
    [
        pytest.param(InconclusiveAction.ROLLBACK, 120.0, 2, None, id="before-timeout"),
        pytest.param(
            InconclusiveAction.ROLLBACK, 120.0, 3, InconclusiveAction.ROLLBACK, id="rollback-at-timeout"
        ),
        pytest.param(InconclusiveAction.PAUSE, 60.0, 3, InconclusiveAction.PAUSE, id="pause"),
        pytest.param(InconclusiveAction.HOLD, 0.0, 1, InconclusiveAction.HOLD, id="hold"),
    ],
)
def test_prolonged_inconclusive(
    action: InconclusiveAction, timeout: float, looks: int, expected: object
) -> None:
    policy = Policy(inconclusive_action=action, inconclusive_timeout_seconds=timeout)
    decisions = _run([[INC_A]] * looks, policy)
    last = decisions[-1]
    assert last.outcome is Outcome.INCONCLUSIVE
    assert last.inconclusive_seconds == pytest.approx(60.0 * (looks - 1))
    assert last.action == expected
    assert last.reasons[0][0] == "a" and "NoData" in last.reasons[0][1]


def test_inconclusive_clock_resets_after_a_pass() -> None:
    policy = Policy(inconclusive_timeout_seconds=100.0, inconclusive_action=InconclusiveAction.ROLLBACK)
    decisions = _run([[INC_A], [INC_A], [PASS_A], [INC_A], [INC_A]], policy)
    assert decisions[2].outcome is Outcome.PASS
    assert decisions[-1].inconclusive_seconds == pytest.approx(60.0) and decisions[-1].action is None


def test_state_round_trip_and_gates_of_other_phases_are_kept() -> None:
    state = PolicyState({"latency": GateState(2, 5, "Fail")}, inconclusive_since=12.5)
    again = PolicyState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    new, _ = decide([PASS_A], again, Policy(), now=20.0)
    assert new.gates["latency"] == GateState(2, 5, "Fail") and new.gates["a"].last_verdict == "Pass"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param({"gates": []}, "'gates' must be a mapping", id="gates-list"),
        pytest.param(
            {"gates": {"a": {"consecutiveFailures": -1}}}, "gates.a.consecutiveFailures", id="negative"
        ),
        pytest.param({"gates": {"a": {"lastVerdict": "Maybe"}}}, "gates.a.lastVerdict", id="bad-verdict"),
        pytest.param({"inconclusiveSince": "yesterday"}, "inconclusiveSince", id="bad-since"),
    ],
)
def test_malformed_state_is_rejected(raw: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        PolicyState.from_dict(raw)


def test_limits_from_specs_and_decision_dict() -> None:
    specs = parsing.parse_gates(
        [{"name": "t", "kind": "threshold", "metric": "x", "max": 1, "failureLimit": 4}]
    )
    assert limits_from(specs) == {"t": 4}
    _, decision = decide([INC_A], PolicyState(), Policy(), now=0.0)
    d = decision.to_dict()
    assert d["outcome"] == "Inconclusive" and d["reasons"][0]["gate"] == "a" and "inconclusiveSeconds" in d

"""The operator exports the metrics docs/architecture.md promises the dashboard and alerts:
``shadowgate_candidate_phase``, ``shadowgate_gate_threshold`` and ``shadowgate_rollback_seconds``
(integration fix from the e2e work: the dashboard's gate-threshold and timeline panels had no
data after a real rollout)."""

from __future__ import annotations

from typing import Any

import pytest
from shadowgate.controller.metrics import Metrics
from shadowgate.core.lifecycle.status import Status

T0 = "2026-11-26T03:00:00Z"
T1 = "2026-11-26T03:00:05Z"
T2 = "2026-11-26T03:00:06.5Z"


def _status(phase: str, history: list[dict[str, Any]], **extra: Any) -> Status:
    return Status.from_dict({"phase": phase, "history": history, **extra})


CANARY = _status(
    "Canary", [{"from": "Shadow", "to": "Canary", "reason": "StepAdvanced", "time": T0, "generation": 1}]
)
GATE = {
    "name": "user-visible-quality",
    "verdict": "Fail",
    "critical": True,
    "lastEvaluated": T1,
    "phase": "Canary",
    "evidence": {"value": 0.45, "threshold": 0.0},
}
ROLLING = _status(
    "RollingBack",
    [
        *[h.to_dict() for h in CANARY.history],
        {"from": "Canary", "to": "RollingBack", "reason": "GateFailed", "time": T2, "generation": 1},
    ],
    failedAt=T1,
    lastAnalysis=T1,
    gates=[GATE],
)


def _value(m: Metrics, name: str, labels: dict[str, str]) -> float | None:
    return m.registry.get_sample_value(name, labels)


@pytest.mark.parametrize(
    ("metric", "labels", "want"),
    [
        pytest.param(
            "shadowgate_candidate_phase",
            {"namespace": "ns", "candidate": "c", "target": "t", "phase": "RollingBack"},
            1.0,
            id="current-phase",
        ),
        pytest.param(
            "shadowgate_candidate_phase",
            {"namespace": "ns", "candidate": "c", "target": "t", "phase": "Canary"},
            0.0,
            id="left-phase",
        ),
        pytest.param(
            "shadowgate_gate_threshold",
            {"namespace": "ns", "candidate": "c", "gate": "user-visible-quality"},
            0.0,
            id="threshold",
        ),
        pytest.param("shadowgate_rollback_seconds_sum", {}, 1.5, id="rollback-seconds"),
        pytest.param("shadowgate_rollback_seconds_count", {}, 1.0, id="one-rollback"),
    ],
)
def test_contract_metrics(metric: str, labels: dict[str, str], want: float) -> None:
    m = Metrics()
    m.observe("ns", "c", "t", CANARY, CANARY)
    m.observe("ns", "c", "t", CANARY, ROLLING)
    assert _value(m, metric, labels) == pytest.approx(want)


def test_forget_removes_the_timeline() -> None:
    m = Metrics()
    m.observe("ns", "c", "t", CANARY, ROLLING)
    m.forget("ns", "c")
    labels = {"namespace": "ns", "candidate": "c", "target": "t", "phase": "RollingBack"}
    assert _value(m, "shadowgate_candidate_phase", labels) is None

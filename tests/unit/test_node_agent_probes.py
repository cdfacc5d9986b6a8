"""Probe thresholds, and the probe check against a closed port."""

from __future__ import annotations

import socket

import pytest
from shadowgate.devstack.node_agent_probes import ProbeTracker
from shadowgate.devstack.node_agent_process import check
from shadowgate.devstack.node_agent_spec import Probe


@pytest.mark.parametrize(
    ("success_threshold", "failure_threshold", "results", "verdicts"),
    [
        pytest.param(1, 3, [True], [True], id="one-success-ready"),
        pytest.param(
            1, 3, [True, False, False, False], [True, True, True, False], id="three-failures-unready"
        ),
        pytest.param(
            1,
            3,
            [True, False, True, False, False],
            [True, True, True, True, True],
            id="failures-not-in-a-row",
        ),
        pytest.param(2, 1, [True, True, False], [False, True, False], id="two-successes-needed"),
        pytest.param(1, 3, [False, False], [False, False], id="starts-unready"),
    ],
)
def test_thresholds(
    success_threshold: int, failure_threshold: int, results: list[bool], verdicts: list[bool]
) -> None:
    outcomes = iter(results)
    probe = Probe(
        kind="http", port=1, success_threshold=success_threshold, failure_threshold=failure_threshold
    )
    tracker = ProbeTracker(probe, 0.0, check=lambda _p, _ip: (next(outcomes), "no"))
    current, seen = False, []
    for i in range(len(results)):
        current = tracker.run("127.1.0.1", float(i), current)
        seen.append(current)
    assert seen == verdicts


def test_schedule_honours_initial_delay_and_period() -> None:
    probe = Probe(kind="http", port=1, initial_delay_s=5.0, period_s=2.0)
    tracker = ProbeTracker(probe, 100.0, check=lambda _p, _ip: (True, ""))
    assert not tracker.due(104.9) and tracker.due(105.0)
    tracker.run("127.1.0.1", 105.0, False)
    assert not tracker.due(106.9) and tracker.due(107.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", [pytest.param("http", id="http"), pytest.param("tcp", id="tcp")])
def test_check_fails_with_reason_on_closed_port(kind: str) -> None:
    port = free_port()
    ok, message = check(Probe(kind=kind, port=port, timeout_s=0.5), "127.0.0.1")
    assert not ok and str(port) in message

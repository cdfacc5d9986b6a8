"""The shadow circuit breaker: opens after N consecutive failures, backs off, probes, closes."""

from __future__ import annotations

import pytest

from router.breaker import Breaker


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


# Steps: ("fail"|"ok", None) records an outcome; ("at", t) moves the clock; ("allow", bool) checks.
@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([("fail", None), ("fail", None), ("allow", True), ("fail", None), ("allow", False)],
                     id="opens-at-threshold"),
        pytest.param([("fail", None), ("fail", None), ("ok", None), ("fail", None), ("fail", None),
                      ("allow", True)], id="success-resets"),
        pytest.param([("fail", None)] * 3 + [("at", 0.99), ("allow", False), ("at", 1.0), ("allow", True)],
                     id="backoff-then-probe"),
        pytest.param([("fail", None)] * 3 + [("at", 1.0), ("fail", None), ("at", 2.5), ("allow", False),
                                             ("at", 3.0), ("allow", True)], id="failed-probe-doubles"),
        pytest.param([("fail", None)] * 3 + [("at", 1.0), ("ok", None), ("allow", True), ("fail", None),
                                             ("allow", True)], id="probe-success-closes"),
    ],
)  # fmt: skip
def test_breaker(steps: list[tuple[str, object]]) -> None:
    clock = Clock()
    b = Breaker(threshold=3, base_s=1.0, max_s=30.0, clock=clock)
    for op, arg in steps:
        if op == "fail":
            b.record("a", ok=False)
        elif op == "ok":
            b.record("a", ok=True)
        elif op == "at":
            clock.t = float(str(arg))
        else:
            assert b.allow("a") is arg, steps
    assert b.allow("other")  # per address


def test_backoff_is_capped_and_zero_threshold_disables() -> None:
    clock = Clock()
    b = Breaker(threshold=1, base_s=1.0, max_s=4.0, clock=clock)
    for _ in range(10):
        b.record("a", ok=False)
    assert not b.allow("a")
    clock.t = 4.0
    assert b.allow("a")
    off = Breaker(threshold=0, clock=clock)
    for _ in range(10):
        off.record("a", ok=False)
    assert off.allow("a")

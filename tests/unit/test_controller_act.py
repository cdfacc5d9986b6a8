"""Independent API writes of one action run together, and neither's failure is lost."""

from __future__ import annotations

import threading

import pytest
from shadowgate.controller import act


def test_both_writes_are_in_flight_at_once() -> None:
    # Each write waits for the other at the barrier: one after the other would never meet.
    meet = threading.Barrier(2, timeout=30)
    done: list[str] = []
    act.together(
        lambda: done.append(f"deployment {meet.wait()}"), lambda: done.append(f"service {meet.wait()}")
    )
    assert sorted(d.split()[0] for d in done) == ["deployment", "service"]


@pytest.mark.parametrize(
    ("fail_first", "fail_second", "raised"),
    [(True, False, "first"), (False, True, "second"), (True, True, "first")],
)
def test_an_error_is_raised_after_both_finished(fail_first: bool, fail_second: bool, raised: str) -> None:
    finished: list[str] = []

    def write(name: str, fail: bool) -> None:
        finished.append(name)
        if fail:
            raise RuntimeError(name)

    with pytest.raises(RuntimeError, match=raised):
        act.together(lambda: write("first", fail_first), lambda: write("second", fail_second))
    assert sorted(finished) == ["first", "second"]

"""The attribution book: windows, TTL, capacity, duplicates, each outcome counted exactly once."""

from __future__ import annotations

import collections

import pytest

from router.attribution import AttributionBook, Outcome, Settings


class Sink:
    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, ...]] = collections.Counter()

    def impression(self, route: str, variant: str) -> None:
        self.counts["impression", route, variant] += 1

    def click(self, route: str, variant: str) -> None:
        self.counts["click", route, variant] += 1

    def noclick(self, route: str, variant: str) -> None:
        self.counts["noclick", route, variant] += 1

    def event(self, route: str, variant: str, event: str) -> None:
        self.counts["event", route, variant, event] += 1

    def evicted(self, route: str, variant: str, reason: str) -> None:
        self.counts["evicted", route, variant, reason] += 1


def book(window: float = 10, ttl: float = 100, capacity: int = 100) -> tuple[AttributionBook, Sink]:
    sink = Sink()
    return AttributionBook(Settings(window, ttl, capacity), sink), sink


# Each step: ("imp", id, t) registers an impression (variant = "canary" for ids starting with c);
# ("fb", id, event, t, expected outcome); ("exp", t) runs expiry.
Step = tuple[object, ...]
CASES: list[tuple[str, list[Step], dict[tuple[str, ...], int]]] = [
    ("click-in-window", [("imp", "p1", 0), ("fb", "p1", "click", 5, Outcome.ACCEPTED), ("exp", 50)],
     {("click", "r", "primary"): 1, ("event", "r", "primary", "click"): 1}),
    ("no-click-after-window", [("imp", "p1", 0), ("exp", 10)], {("noclick", "r", "primary"): 1}),
    ("click-after-window-is-expired", [("imp", "p1", 0), ("fb", "p1", "click", 10, Outcome.EXPIRED)],
     {("noclick", "r", "primary"): 1}),
    ("duplicate-click", [("imp", "c1", 0), ("fb", "c1", "click", 1, Outcome.ACCEPTED),
                         ("fb", "c1", "click", 2, Outcome.DUPLICATE), ("exp", 20)],
     {("click", "r", "canary"): 1, ("event", "r", "canary", "click"): 1}),
    ("duplicate-after-window-still-duplicate", [("imp", "p1", 0), ("fb", "p1", "click", 1, Outcome.ACCEPTED),
                                                ("fb", "p1", "click", 30, Outcome.DUPLICATE)],
     {("click", "r", "primary"): 1, ("event", "r", "primary", "click"): 1}),
    ("purchase-after-window-within-ttl", [("imp", "p1", 0), ("fb", "p1", "purchase", 50, Outcome.ACCEPTED)],
     {("noclick", "r", "primary"): 1, ("event", "r", "primary", "purchase"): 1}),
    ("duplicate-purchase", [("imp", "p1", 0), ("fb", "p1", "purchase", 1, Outcome.ACCEPTED),
                            ("fb", "p1", "purchase", 2, Outcome.DUPLICATE)],
     {("event", "r", "primary", "purchase"): 1}),
    ("purchase-does-not-decide",
     [("imp", "p1", 0), ("fb", "p1", "purchase", 1, Outcome.ACCEPTED), ("exp", 11)],
     {("event", "r", "primary", "purchase"): 1, ("noclick", "r", "primary"): 1}),
    ("after-ttl-is-expired", [("imp", "p1", 0), ("fb", "p1", "purchase", 100, Outcome.EXPIRED)],
     {("noclick", "r", "primary"): 1}),
    ("unknown-id", [("fb", "zzz", "click", 1, Outcome.UNKNOWN_ID)], {}),
    ("unknown-event", [("imp", "p1", 0), ("fb", "p1", "teleport", 1, Outcome.UNKNOWN_EVENT)], {}),
    ("same-id-twice-counts-once", [("imp", "p1", 0), ("imp", "p1", 1), ("exp", 30)],
     {("noclick", "r", "primary"): 1}),
]  # fmt: skip


@pytest.mark.parametrize(("steps", "expected"), [pytest.param(s, e, id=n) for n, s, e in CASES])
def test_scenarios(steps: list[Step], expected: dict[tuple[str, ...], int]) -> None:
    b, sink = book()
    impressions: collections.Counter[tuple[str, ...]] = collections.Counter()
    for step in steps:
        if step[0] == "imp":
            rid, t = str(step[1]), float(str(step[2]))
            variant = "canary" if rid.startswith("c") else "primary"
            if b.impression(rid, "r", variant, t):
                impressions["impression", "r", variant] += 1
        elif step[0] == "fb":
            _, fb_id, event, fb_t, outcome = step
            assert b.feedback(str(fb_id), str(event), float(str(fb_t))) is outcome
        else:
            b.expire(float(str(step[1])))
    got = {k: v for k, v in sink.counts.items() if k[0] != "impression"}
    assert got == expected
    assert {k: v for k, v in sink.counts.items() if k[0] == "impression"} == dict(impressions)


def test_capacity_evicts_oldest_and_counts() -> None:
    b, sink = book(capacity=3)
    for i in range(5):
        b.impression(f"p{i}", "r", "primary", float(i))
    assert len(b) == 3
    assert sink.counts["evicted", "r", "primary", "capacity"] == 2
    assert b.feedback("p0", "click", 5) is Outcome.EXPIRED  # evicted: gone, not unknown
    assert b.feedback("p4", "click", 5) is Outcome.ACCEPTED


def test_decided_impressions_evicted_are_not_counted_as_evictions() -> None:
    b, sink = book(capacity=1)
    b.impression("p0", "r", "primary", 0)
    b.feedback("p0", "click", 1)
    b.impression("p1", "r", "primary", 2)
    assert sink.counts["evicted", "r", "primary", "capacity"] == 0


def test_clicks_plus_noclicks_equal_decided_impressions_under_churn() -> None:
    b, sink = book(window=5, ttl=20, capacity=50)
    for t in range(1000):
        b.impression(f"p{t}", "r", "primary", float(t))
        if t % 3 == 0:
            b.feedback(f"p{t - 2}", "click", float(t))
    b.expire(2000.0)
    decided = sink.counts["click", "r", "primary"] + sink.counts["noclick", "r", "primary"]
    assert decided == 1000
    assert sink.counts["click", "r", "primary"] == len([t for t in range(1000) if t % 3 == 0 and t >= 2])


def test_restore_keeps_deadlines() -> None:
    b, _sink = book()
    b.impression("p1", "r", "canary", 0)
    saved = b.drain()
    b2, sink2 = book()
    for rec in saved:
        rec.live = True
        b2.restore(rec)
    assert b2.feedback("p1", "click", 5) is Outcome.ACCEPTED
    assert sink2.counts["impression", "r", "canary"] == 0  # counted before the restart, not again
    assert sink2.counts["click", "r", "canary"] == 1


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"window_s": 0}, "window"), ({"window_s": 10, "ttl_s": 5}, "TTL"), ({"capacity": 0}, "pending"),
     ({"events": frozenset({"buy"})}, "click")],
    ids=["zero-window", "ttl-below-window", "zero-capacity", "no-click-event"],
)  # fmt: skip
def test_settings_validation(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**kw)  # type: ignore[arg-type]

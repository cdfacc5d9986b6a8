"""Click / no-click attribution: pending impressions, their windows, and feedback outcomes.

Pure bookkeeping with the clock passed in (``now``, wall-clock seconds so pending impressions can
survive a restart). Every outcome is reported once to an :class:`AttributionSink`; each impression is
decided at most once (click or no-click), and each (request id, event) is accepted at most once.

Every impression shares one window and one TTL, so insertion order is deadline order: expiry pops
from the front of a deque and of the insertion-ordered dict, O(1) per impression.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
from typing import Protocol


class Outcome(enum.Enum):
    ACCEPTED = (200, "accepted")
    MALFORMED = (400, "malformed")
    UNKNOWN_EVENT = (400, "unknown_event")
    UNKNOWN_ID = (404, "unknown_request_id")
    DUPLICATE = (409, "duplicate")
    EXPIRED = (410, "expired")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def reason(self) -> str:
        return self.value[1]


class AttributionSink(Protocol):
    def impression(self, route: str, variant: str) -> None: ...
    def click(self, route: str, variant: str) -> None: ...
    def noclick(self, route: str, variant: str) -> None: ...
    def event(self, route: str, variant: str, event: str) -> None: ...
    def evicted(self, route: str, variant: str, reason: str) -> None: ...


@dataclasses.dataclass(slots=True, eq=False)
class Pending:
    request_id: str
    route: str
    variant: str
    window_deadline: float
    ttl_deadline: float
    decided: bool = False  # clicked, or its window passed
    live: bool = True  # still in the book (False once TTL-expired or evicted)
    events: set[str] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    window_s: float = 30.0
    ttl_s: float = 600.0
    capacity: int = 100_000
    events: frozenset[str] = frozenset({"click", "purchase", "add_to_cart", "dislike"})

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError("attribution window must be > 0")
        if self.ttl_s < self.window_s:
            raise ValueError("impression TTL must be >= the attribution window")
        if self.capacity < 1:
            raise ValueError("max pending impressions must be >= 1")
        if "click" not in self.events:
            raise ValueError("the feedback events must include 'click'")


class AttributionBook:
    def __init__(self, settings: Settings, sink: AttributionSink) -> None:
        self.settings = settings
        self._sink = sink
        self._pending: dict[str, Pending] = {}
        self._undecided: collections.deque[Pending] = collections.deque()
        # Ids whose record is gone (TTL or eviction): late feedback gets 410, not 404.
        self._gone: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def impression(self, request_id: str, route: str, variant: str, now: float) -> bool:
        """Register a served response; False (nothing counted) if the id is already pending."""
        if request_id in self._pending:
            return False
        if len(self._pending) >= self.settings.capacity:
            self._evict_oldest("capacity")
        s = self.settings
        rec = Pending(request_id, route, variant, now + s.window_s, now + s.ttl_s)
        self._add(rec)
        self._sink.impression(route, variant)
        return True

    def restore(self, rec: Pending) -> None:
        """Re-add an impression saved at shutdown (already counted as an impression)."""
        if rec.request_id in self._pending:
            return
        if len(self._pending) >= self.settings.capacity:
            self._evict_oldest("capacity")
        self._add(rec)

    def _add(self, rec: Pending) -> None:
        self._gone.pop(rec.request_id, None)
        self._pending[rec.request_id] = rec
        if not rec.decided:
            self._undecided.append(rec)

    def feedback(self, request_id: str, event: str, now: float) -> Outcome:
        if event not in self.settings.events:
            return Outcome.UNKNOWN_EVENT
        self.expire(now)
        rec = self._pending.get(request_id)
        if rec is None:
            return Outcome.EXPIRED if request_id in self._gone else Outcome.UNKNOWN_ID
        if event == "click":
            if rec.decided:
                clicked = rec.events is not None and "click" in rec.events
                return Outcome.DUPLICATE if clicked else Outcome.EXPIRED
            rec.decided = True
            self._sink.click(rec.route, rec.variant)
        elif rec.events is not None and event in rec.events:
            return Outcome.DUPLICATE
        if rec.events is None:
            rec.events = set()
        rec.events.add(event)
        self._sink.event(rec.route, rec.variant, event)
        return Outcome.ACCEPTED

    def expire(self, now: float) -> None:
        """Decide every impression whose window has passed; forget those past their TTL."""
        und = self._undecided
        while und and und[0].window_deadline <= now:
            rec = und.popleft()
            if rec.live and not rec.decided:
                rec.decided = True
                self._sink.noclick(rec.route, rec.variant)
        pending = self._pending
        while pending:
            rec = next(iter(pending.values()))
            if rec.ttl_deadline > now:
                break
            self._forget(rec)

    def _evict_oldest(self, reason: str) -> None:
        rec = next(iter(self._pending.values()))
        if not rec.decided:
            self._sink.evicted(rec.route, rec.variant, reason)
        self._forget(rec)

    def _forget(self, rec: Pending) -> None:
        del self._pending[rec.request_id]
        rec.live = False
        self._gone[rec.request_id] = None
        if len(self._gone) > self.settings.capacity:
            del self._gone[next(iter(self._gone))]

    def drain(self) -> list[Pending]:
        """Remove and return every live record (for saving at shutdown)."""
        out = list(self._pending.values())
        for rec in out:
            rec.live = False
        self._pending.clear()
        self._undecided.clear()
        return out

"""The plumbing of one transition: the status being built, the actions asked for, history.

``transition.transition`` creates a run per call; ``rollout.Rollout`` adds the phase steps and
``transition`` the rules that pick one. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from shadowgate.core.lifecycle.observations import (
    Action,
    DeleteWorkload,
    EmitEvent,
    Observations,
    RestoreRoutes,
)
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import HISTORY_LIMIT, HistoryEntry, Status


def fresh_analysis(now: datetime | None = None) -> dict[str, Any]:
    """Status changes that start a phase's analysis afresh. A phase's first analysis waits one
    interval (``now``), so its gates see a full window of data."""
    return dict(last_analysis=now, inconclusive_count=0, query_error_count=0, unavailable_since=None)


class Run:
    def __init__(self, status: Status, obs: Observations, now: datetime) -> None:
        self.s = dataclasses.replace(status, observed_generation=obs.generation)
        self.obs = obs
        self.spec = obs.spec
        self.now = now
        self.actions: list[Action] = []

    # -- plumbing ---------------------------------------------------------------------------

    def update(self, **changes: Any) -> None:
        self.s = dataclasses.replace(self.s, **changes)

    def emit(self, reason: str, message: str, warning: bool = False) -> None:
        self.actions.append(EmitEvent(reason=reason, message=message, warning=warning))

    def goto(self, phase: Phase, reason: str, message: str, warning: bool = False, **changes: Any) -> None:
        entry = HistoryEntry(
            from_phase=str(self.s.phase),
            to_phase=str(phase),
            reason=reason,
            message=message,
            time=self.now,
            generation=self.obs.generation,
        )
        history = (*self.s.history, entry)[-HISTORY_LIMIT:]
        self.update(phase=phase, phase_since=self.now, reason=reason, message=message, history=history)
        self.update(**changes)
        self.emit(reason, message, warning)

    def elapsed(self, since: datetime | None) -> float:
        return (self.now - since).total_seconds() if since else 0.0

    def cleanup(self) -> None:
        """Put production routing back (only if this Candidate changed it) and remove the workload."""
        if self.s.routes_touched:
            self.actions.append(RestoreRoutes())
        self.actions.append(DeleteWorkload())

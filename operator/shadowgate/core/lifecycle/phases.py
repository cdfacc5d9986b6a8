"""Phases of a Candidate and the questions the controller asks about them."""

from __future__ import annotations

import enum


class Phase(enum.StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    DEPLOYING = "Deploying"
    EVALUATING = "Evaluating"
    SHADOW = "Shadow"
    CANARY = "Canary"
    PROMOTING = "Promoting"
    PROMOTED = "Promoted"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    PAUSED = "Paused"
    ABORTED = "Aborted"
    FAILED = "Failed"

    @property
    def terminal(self) -> bool:
        """No further transitions; the controller only keeps metrics for it."""
        return self in _TERMINAL

    @property
    def holds_target(self) -> bool:
        """The Candidate owns its target: others for the same target wait as Queued."""
        return self in _HOLDS_TARGET

    @property
    def analysing(self) -> bool:
        """Gates are evaluated every analysis interval in this phase."""
        return self in _ANALYSING

    @property
    def pausable(self) -> bool:
        return self in _PAUSABLE

    @property
    def approvable(self) -> bool:
        """``spec.approve`` promotes from here (Evaluating must pass first)."""
        return self in (Phase.SHADOW, Phase.CANARY)


_TERMINAL = frozenset({Phase.PROMOTED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED})
_HOLDS_TARGET = frozenset(
    {
        Phase.DEPLOYING,
        Phase.EVALUATING,
        Phase.SHADOW,
        Phase.CANARY,
        Phase.PROMOTING,
        Phase.ROLLING_BACK,
        Phase.PAUSED,
    }
)
_ANALYSING = frozenset({Phase.EVALUATING, Phase.SHADOW, Phase.CANARY})
_PAUSABLE = frozenset({Phase.DEPLOYING, Phase.EVALUATING, Phase.SHADOW, Phase.CANARY})


class InconclusiveAction(enum.StrEnum):
    HOLD = "hold"
    PAUSE = "pause"
    ROLLBACK = "rollback"


class Promotion(enum.StrEnum):
    AUTO = "auto"
    MANUAL = "manual"

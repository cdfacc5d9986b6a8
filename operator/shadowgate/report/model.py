"""The data a rollout report is drawn from: the Candidate's status plus Prometheus series."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shadowgate.core.lifecycle.status import Status


class ReportError(Exception):
    """A report cannot be built; the message says which input is wrong or unreachable."""


@dataclass(frozen=True)
class Series:
    """One Prometheus range-query series: its labels and (unix seconds, value) points."""

    labels: tuple[tuple[str, str], ...]
    points: tuple[tuple[float, float], ...]

    def label(self, name: str, default: str = "") -> str:
        return dict(self.labels).get(name, default)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    step_s: float


@dataclass(frozen=True)
class ReportData:
    """Everything the renderers need; no I/O happens after this is built."""

    namespace: str
    candidate: str
    route: str
    status: Status
    window: Window
    weight: tuple[Series, ...] = ()
    gate_values: tuple[Series, ...] = ()
    gate_thresholds: tuple[Series, ...] = ()
    # quantile ("p50", "p95", "p99") -> one series per variant
    latency: dict[str, tuple[Series, ...]] = field(default_factory=dict)
    latency_source: str = ""
    noclick_rate: tuple[Series, ...] = ()
    decided_impressions: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

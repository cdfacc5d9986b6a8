"""Gate verdicts and their evidence: the vocabulary shared by gates, lifecycle and status.

A verdict is Pass, Fail or Inconclusive. Inconclusive always carries a reason, because
"why can't we decide yet" is what a person watching a rollout needs to know (a QueryError is
an outage, InsufficientSamples is patience). Every Inconclusive analysis counts towards the
Candidate's ``policy.inconclusive.limit``; QueryErrors also count towards its own
``policy.queryErrorLimit`` when one is set (``lifecycle.gating`` / ``transition``).
Inconclusive is never Pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"

    @property
    def decisive(self) -> bool:
        return self is not Verdict.INCONCLUSIVE


class InconclusiveReason(enum.StrEnum):
    NO_DATA = "NoData"
    INSUFFICIENT_SAMPLES = "InsufficientSamples"
    QUERY_ERROR = "QueryError"
    NOT_DECISIVE = "NotDecisive"


@dataclass(frozen=True)
class Evidence:
    """What a verdict was based on. Every field is optional because gate kinds differ;
    the ones a gate kind fills are documented in docs/gates.md."""

    value: float | None = None
    baseline_value: float | None = None
    threshold: float | None = None
    candidate_samples: int | None = None
    baseline_samples: int | None = None
    statistic: str | None = None  # e.g. "msprt", "ratio", "p99"
    statistic_value: float | None = None  # e.g. the always-valid p-value
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != ""}


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict at one evaluation."""

    gate: str
    verdict: Verdict
    evidence: Evidence = field(default_factory=Evidence)
    reason: InconclusiveReason | None = None
    critical: bool = False
    message: str = ""

    def __post_init__(self) -> None:
        if self.verdict is Verdict.INCONCLUSIVE and self.reason is None:
            raise ValueError(f"gate {self.gate!r}: an Inconclusive verdict needs a reason")
        if self.verdict is not Verdict.INCONCLUSIVE and self.reason is not None:
            raise ValueError(f"gate {self.gate!r}: only Inconclusive verdicts carry a reason")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gate": self.gate, "verdict": str(self.verdict)}
        if self.reason is not None:
            out["reason"] = str(self.reason)
        if self.critical:
            out["critical"] = True
        if self.message:
            out["message"] = self.message
        out["evidence"] = self.evidence.to_dict()
        return out

"""A Candidate's status: everything the operator knows, so a restarted operator resumes.

``Status.from_dict`` reads what ``Status.to_dict`` wrote into the custom resource's
``status``; the field names there are the CRD's (camelCase). Times are RFC 3339 UTC strings
in the resource and aware datetimes here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.production import Template
from shadowgate.core.verdicts import GateResult

HISTORY_LIMIT = 30


def format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str
    last_transition: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": format_time(self.last_transition),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Condition:
        return cls(
            type=str(raw["type"]),
            status=str(raw.get("status", "Unknown")),
            reason=str(raw.get("reason", "")),
            message=str(raw.get("message", "")),
            last_transition=parse_time(raw.get("lastTransitionTime")) or datetime.fromtimestamp(0, UTC),
        )


@dataclass(frozen=True)
class HistoryEntry:
    from_phase: str
    to_phase: str
    reason: str
    message: str
    time: datetime
    generation: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_phase,
            "to": self.to_phase,
            "reason": self.reason,
            "message": self.message,
            "time": format_time(self.time),
            "generation": self.generation,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HistoryEntry:
        return cls(
            from_phase=str(raw.get("from", "")),
            to_phase=str(raw.get("to", "")),
            reason=str(raw.get("reason", "")),
            message=str(raw.get("message", "")),
            time=parse_time(raw.get("time")) or datetime.fromtimestamp(0, UTC),
            generation=int(raw.get("generation", 0)),
        )


@dataclass(frozen=True)
class GateStatus:
    """The latest verdict of one gate plus its hysteresis counter."""

    result: GateResult
    consecutive_failures: int
    evaluated: datetime
    phase: str

    def to_dict(self) -> dict[str, Any]:
        out = self.result.to_dict()
        out["name"] = out.pop("gate")
        out["consecutiveFailures"] = self.consecutive_failures
        out["lastEvaluated"] = format_time(self.evaluated)
        out["phase"] = self.phase
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GateStatus:
        from shadowgate.core.verdicts import Evidence, InconclusiveReason, Verdict

        evidence = raw.get("evidence") or {}
        known = {f.name for f in dataclasses.fields(Evidence)}
        result = GateResult(
            gate=str(raw["name"]),
            verdict=Verdict(raw["verdict"]),
            evidence=Evidence(**{k: v for k, v in evidence.items() if k in known}),
            reason=InconclusiveReason(raw["reason"]) if raw.get("reason") else None,
            critical=bool(raw.get("critical", False)),
            message=str(raw.get("message", "")),
        )
        return cls(
            result=result,
            consecutive_failures=int(raw.get("consecutiveFailures", 0)),
            evaluated=parse_time(raw.get("lastEvaluated")) or datetime.fromtimestamp(0, UTC),
            phase=str(raw.get("phase", "")),
        )


@dataclass(frozen=True)
class Status:
    phase: Phase = Phase.PENDING
    phase_since: datetime | None = None
    observed_generation: int = 0
    fingerprint: str = ""
    reason: str = ""
    message: str = ""
    step: int | None = None  # index into spec canary steps while in Canary
    step_since: datetime | None = None
    weight: int = 0
    mirror_percent: int = 0
    routes_touched: bool = False
    paused_from: Phase | None = None
    paused_by: str = ""  # "user" | "policy"
    last_analysis: datetime | None = None
    inconclusive_count: int = 0
    query_error_count: int = 0  # consecutive analyses with a QueryError gate
    failed_at: datetime | None = None  # the analysis that made a gate decisively fail
    unavailable_since: datetime | None = None
    # What production served when the promotion began, and what the promotion writes over it;
    # both recorded before production is touched, so a revert never depends on the spec.
    production_before: Template | None = None
    production_promotion: Template | None = None
    gates: tuple[GateStatus, ...] = ()
    conditions: tuple[Condition, ...] = ()
    history: tuple[HistoryEntry, ...] = field(default=())

    @property
    def gates_summary(self) -> str:
        passing = sum(1 for g in self.gates if str(g.result.verdict) == "Pass")
        return f"{passing}/{len(self.gates)}"

    def to_dict(self) -> dict[str, Any]:
        def t(when: datetime | None) -> str | None:
            return format_time(when) if when else None

        return {
            "phase": str(self.phase),
            "phaseSince": t(self.phase_since),
            "observedGeneration": self.observed_generation,
            "specFingerprint": self.fingerprint,
            "reason": self.reason,
            "message": self.message,
            "step": self.step,
            "stepSince": t(self.step_since),
            "weight": self.weight,
            "mirrorPercent": self.mirror_percent,
            "routesTouched": self.routes_touched,
            "pausedFrom": str(self.paused_from) if self.paused_from else None,
            "pausedBy": self.paused_by or None,
            "lastAnalysis": t(self.last_analysis),
            "inconclusiveCount": self.inconclusive_count,
            "queryErrorCount": self.query_error_count,
            "failedAt": t(self.failed_at),
            "unavailableSince": t(self.unavailable_since),
            "productionBefore": self.production_before.to_dict() if self.production_before else None,
            "productionPromotion": (
                self.production_promotion.to_dict() if self.production_promotion else None
            ),
            "gatesSummary": self.gates_summary,
            "gates": [g.to_dict() for g in self.gates],
            "conditions": [c.to_dict() for c in self.conditions],
            "history": [h.to_dict() for h in self.history],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Status:
        raw = raw or {}
        paused_from = raw.get("pausedFrom")
        return cls(
            phase=Phase(raw["phase"]) if raw.get("phase") else Phase.PENDING,
            phase_since=parse_time(raw.get("phaseSince")),
            observed_generation=int(raw.get("observedGeneration") or 0),
            fingerprint=str(raw.get("specFingerprint") or ""),
            reason=str(raw.get("reason") or ""),
            message=str(raw.get("message") or ""),
            step=raw.get("step"),
            step_since=parse_time(raw.get("stepSince")),
            weight=int(raw.get("weight") or 0),
            mirror_percent=int(raw.get("mirrorPercent") or 0),
            routes_touched=bool(raw.get("routesTouched", False)),
            paused_from=Phase(paused_from) if paused_from else None,
            paused_by=str(raw.get("pausedBy") or ""),
            last_analysis=parse_time(raw.get("lastAnalysis")),
            inconclusive_count=int(raw.get("inconclusiveCount") or 0),
            query_error_count=int(raw.get("queryErrorCount") or 0),
            failed_at=parse_time(raw.get("failedAt")),
            unavailable_since=parse_time(raw.get("unavailableSince")),
            production_before=Template.from_dict(before) if (before := raw.get("productionBefore")) else None,
            production_promotion=(
                Template.from_dict(promo) if (promo := raw.get("productionPromotion")) else None
            ),
            gates=tuple(GateStatus.from_dict(g) for g in raw.get("gates") or ()),
            conditions=tuple(Condition.from_dict(c) for c in raw.get("conditions") or ()),
            history=tuple(HistoryEntry.from_dict(h) for h in raw.get("history") or ()),
        )

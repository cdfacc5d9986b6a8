"""Hysteresis and roll-up: many gate results -> one decision for the lifecycle.

- Each gate keeps a count of consecutive Fail verdicts (a Pass resets it; an
  Inconclusive leaves it alone, so a scrape gap neither forgives nor adds a failure).
  A gate decides a rollback when its count reaches its failure limit: the gate's own
  ``failureLimit``, else the policy's. Critical gates use a limit of 1: they fail at once.
- The roll-up is Fail (naming the deciding gate) if any gate decided, Pass only if every
  gate passed this look, and otherwise Inconclusive with each gate's reason and how long
  the roll-up has been inconclusive. Inconclusive is never Pass.
- When the roll-up has been Inconclusive for ``inconclusive_timeout_seconds`` the decision
  carries the Candidate's policy action: hold (keep waiting), pause, or rollback.

The state is a small frozen dataclass the operator stores in the Candidate status
(``to_dict`` / ``from_dict`` round-trip through JSON).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shadowgate.core.gates.specs import GateSpec
from shadowgate.core.verdicts import GateResult, Verdict


class InconclusiveAction(enum.StrEnum):
    HOLD = "hold"
    PAUSE = "pause"
    ROLLBACK = "rollback"


class Outcome(enum.StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True)
class Policy:
    failure_limit: int = 3
    inconclusive_action: InconclusiveAction = InconclusiveAction.HOLD
    inconclusive_timeout_seconds: float = 1800.0
    # Per-gate failure limits (from each spec's failureLimit); see ``limits_from``.
    gate_limits: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.failure_limit < 1:
            raise ValueError(f"failure_limit must be >= 1, got {self.failure_limit}")
        if self.inconclusive_timeout_seconds < 0:
            raise ValueError("inconclusive_timeout_seconds must be >= 0")

    def limit_for(self, result: GateResult) -> int:
        return 1 if result.critical else self.gate_limits.get(result.gate, self.failure_limit)


def limits_from(specs: Iterable[GateSpec]) -> dict[str, int]:
    """The failure limits that gate specs set explicitly."""
    return {s.header.name: s.header.failure_limit for s in specs if s.header.failure_limit is not None}


@dataclass(frozen=True)
class GateState:
    consecutive_failures: int = 0
    total_failures: int = 0
    last_verdict: str | None = None


@dataclass(frozen=True)
class PolicyState:
    gates: Mapping[str, GateState] = field(default_factory=dict)
    inconclusive_since: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gates": {
                name: {
                    "consecutiveFailures": g.consecutive_failures,
                    "totalFailures": g.total_failures,
                    "lastVerdict": g.last_verdict,
                }
                for name, g in self.gates.items()
            },
            "inconclusiveSince": self.inconclusive_since,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> PolicyState:
        """Rebuild from ``to_dict`` output; raises ValueError naming a malformed field."""
        if not raw:
            return cls()
        gates_raw = raw.get("gates")
        if gates_raw is None:
            gates_raw = {}
        if not isinstance(gates_raw, Mapping):
            raise ValueError("gate state: 'gates' must be a mapping")
        gates = {}
        for name, g in gates_raw.items():
            if not isinstance(g, Mapping):
                raise ValueError(f"gate state: gates.{name} must be a mapping")
            consecutive, total = g.get("consecutiveFailures", 0), g.get("totalFailures", 0)
            for key, value in (("consecutiveFailures", consecutive), ("totalFailures", total)):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"gate state: gates.{name}.{key} must be an integer >= 0, got {value!r}")
            last = g.get("lastVerdict")
            if last is not None and last not in {str(v) for v in Verdict}:
                raise ValueError(f"gate state: gates.{name}.lastVerdict is not a verdict: {last!r}")
            gates[str(name)] = GateState(consecutive, total, last)
        since = raw.get("inconclusiveSince")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int | float)):
            raise ValueError(f"gate state: inconclusiveSince must be a number, got {since!r}")
        return cls(gates, float(since) if since is not None else None)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    gate: str | None = None  # the deciding gate of a Fail
    reasons: tuple[tuple[str, str], ...] = ()  # (gate, why) for an Inconclusive
    inconclusive_seconds: float = 0.0
    action: InconclusiveAction | None = None  # set once Inconclusive lasted past the timeout
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": str(self.outcome), "message": self.message}
        if self.gate:
            out["gate"] = self.gate
        if self.reasons:
            out["reasons"] = [{"gate": g, "reason": r} for g, r in self.reasons]
            out["inconclusiveSeconds"] = self.inconclusive_seconds
        if self.action:
            out["action"] = str(self.action)
        return out


def decide(
    results: list[GateResult], state: PolicyState, policy: Policy, *, now: float
) -> tuple[PolicyState, Decision]:
    """Fold one look's gate results into the state and decide. ``now`` is unix seconds."""
    gates = dict(state.gates)
    decided: list[GateResult] = []
    waiting: list[tuple[str, str]] = []
    for r in results:
        prev = gates.get(r.gate, GateState())
        if r.verdict is Verdict.FAIL:
            new = GateState(prev.consecutive_failures + 1, prev.total_failures + 1, str(r.verdict))
            limit = policy.limit_for(r)
            if new.consecutive_failures >= limit:
                decided.append(r)
            else:
                waiting.append((r.gate, f"failing {new.consecutive_failures}/{limit}: {r.message}"))
        elif r.verdict is Verdict.PASS:
            new = GateState(0, prev.total_failures, str(r.verdict))
        else:
            new = GateState(prev.consecutive_failures, prev.total_failures, str(r.verdict))
            waiting.append((r.gate, f"{r.reason}: {r.message}"))
        gates[r.gate] = new
    if decided:
        first = decided[0]
        kind = "critical gate" if first.critical else "gate"
        message = f"{kind} {first.gate} failed: {first.message}"
        return PolicyState(gates, None), Decision(Outcome.FAIL, gate=first.gate, message=message)
    if not waiting:
        message = "all gates passed" if results else "no gates apply"
        return PolicyState(gates, None), Decision(Outcome.PASS, message=message)
    since = state.inconclusive_since if state.inconclusive_since is not None else now
    seconds = max(0.0, now - since)
    action = policy.inconclusive_action if seconds >= policy.inconclusive_timeout_seconds else None
    message = f"inconclusive for {seconds:.0f}s: " + "; ".join(f"{g}: {why}" for g, why in waiting)
    if action is not None:
        message = f"{message} -> {action}"
    decision = Decision(
        Outcome.INCONCLUSIVE,
        reasons=tuple(waiting),
        inconclusive_seconds=seconds,
        action=action,
        message=message,
    )
    return PolicyState(gates, since), decision

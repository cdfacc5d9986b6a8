"""Conditions derived from a status: Progressing, GatesPassing and Ready.

A condition's lastTransitionTime moves only when its status value flips, as Kubernetes
conventions ask, so ``kubectl wait --for=condition=Ready`` and dashboards see real edges.
"""

from __future__ import annotations

from datetime import datetime

from shadowgate.core.lifecycle import gating
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import Condition, Status

# Kubernetes allows long condition messages; a screenful is enough to name every gate.
_MESSAGE_LIMIT = 1024


def _which(status: Status, verdict: str) -> str:
    """The gates with ``verdict`` and why (e.g. which source could not be reached)."""
    detail = "; ".join(gating.describe(g) for g in status.gates if str(g.result.verdict) == verdict)
    return detail if len(detail) <= _MESSAGE_LIMIT else detail[: _MESSAGE_LIMIT - 3] + "..."


def _gates(status: Status) -> tuple[str, str, str]:
    verdicts = [str(g.result.verdict) for g in status.gates]
    if not verdicts:
        return "Unknown", "NotEvaluated", "no gate has been evaluated yet"
    if "Fail" in verdicts:
        failing = f"{verdicts.count('Fail')} of {len(verdicts)} gates failing"
        return "False", "GateFailing", f"{failing}: {_which(status, 'Fail')}"
    if "Inconclusive" in verdicts:
        unsure = f"{verdicts.count('Inconclusive')} of {len(verdicts)} inconclusive"
        return "Unknown", "GateInconclusive", f"{unsure}: {_which(status, 'Inconclusive')}"
    return "True", "AllPassing", f"{len(verdicts)} gates passing"


def derive(status: Status, now: datetime) -> tuple[Condition, ...]:
    phase = status.phase
    reason = status.reason or str(phase)
    wanted = {
        "Progressing": (
            "False" if phase.terminal or phase is Phase.PAUSED else "True",
            reason,
            status.message,
        ),
        "GatesPassing": _gates(status),
        "Ready": ("True" if phase is Phase.PROMOTED else "False", reason, status.message),
    }
    previous = {c.type: c for c in status.conditions}
    out: list[Condition] = []
    for kind, (value, why, message) in wanted.items():
        old = previous.get(kind)
        since = old.last_transition if old is not None and old.status == value else now
        out.append(Condition(type=kind, status=value, reason=why, message=message, last_transition=since))
    return tuple(out)

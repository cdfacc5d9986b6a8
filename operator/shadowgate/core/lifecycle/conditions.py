"""Conditions derived from a status: Progressing, GatesPassing and Ready.

A condition's lastTransitionTime moves only when its status value flips, as Kubernetes
conventions ask, so ``kubectl wait --for=condition=Ready`` and dashboards see real edges.
"""

from __future__ import annotations

from datetime import datetime

from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import Condition, Status


def _gates(status: Status) -> tuple[str, str, str]:
    verdicts = [str(g.result.verdict) for g in status.gates]
    if not verdicts:
        return "Unknown", "NotEvaluated", "no gate has been evaluated yet"
    if "Fail" in verdicts:
        return "False", "GateFailing", f"{verdicts.count('Fail')} of {len(verdicts)} gates failing"
    if "Inconclusive" in verdicts:
        return (
            "Unknown",
            "GateInconclusive",
            f"{verdicts.count('Inconclusive')} of {len(verdicts)} inconclusive",
        )
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

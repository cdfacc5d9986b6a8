"""What the production Deployment serves, as far as a promotion changes it.

A promotion rewrites only a few fields of production's Deployment: the first container's
``command`` / ``args`` (the archive and handler flags) and the version and archive annotations
on the Deployment and its Pod template. ``Template`` captures exactly those fields, so the
lifecycle can record what production served before it promoted, tell whether production
still looks the way the operator left it, and put it back after a promotion that timed out.

A timed-out promotion is reverted only when production is exactly what the operator's own
promotion wrote. If someone else changed those fields meanwhile, the change is theirs and is
left alone (``State.FOREIGN``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    """The fields of production's Deployment that a promotion writes. ``None`` means absent."""

    container: str
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    # The managed annotation keys present on the Deployment and on its Pod template.
    annotations: tuple[tuple[str, str], ...] = ()
    pod_annotations: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # An absent field is left out, not null: a merge patch would drop a null anyway, and
        # status is compared with what was written to skip writes that change nothing.
        out: dict[str, Any] = {"container": self.container}
        if self.command is not None:
            out["command"] = list(self.command)
        if self.args is not None:
            out["args"] = list(self.args)
        out["annotations"] = dict(self.annotations)
        out["podAnnotations"] = dict(self.pod_annotations)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Template:
        def argv(key: str) -> tuple[str, ...] | None:
            value = raw.get(key)
            return None if value is None else tuple(str(v) for v in value)

        def pairs(key: str) -> tuple[tuple[str, str], ...]:
            return tuple(sorted((str(k), str(v)) for k, v in (raw.get(key) or {}).items()))

        return cls(
            container=str(raw.get("container") or ""),
            command=argv("command"),
            args=argv("args"),
            annotations=pairs("annotations"),
            pod_annotations=pairs("podAnnotations"),
        )


class State(enum.StrEnum):
    BEFORE = "before"  # what production served before the promotion (not yet promoted, or reverted)
    PROMOTED = "promoted"  # exactly what the operator's promotion wrote
    FOREIGN = "foreign"  # neither: someone else changed the promoted fields


def classify(current: Template, before: Template, promoted: Template) -> State:
    if current == before:
        return State.BEFORE
    if current == promoted:
        return State.PROMOTED
    return State.FOREIGN


def revert_to(current: Template, before: Template, promoted: Template) -> Template | None:
    """The template to write back when a promotion is abandoned: ``before`` if production is
    exactly what the operator's promotion wrote, else nothing (reverted already, or not ours)."""
    return before if classify(current, before, promoted) is State.PROMOTED else None


def describe(template: Template) -> str:
    """A short name for what a template serves, for status messages (the whole template is in
    status as ``productionBefore``)."""
    version = dict(template.annotations).get("shadowgate.dev/version")
    if version:
        return f"version {version}"
    return f"args {list(template.args or ())}"

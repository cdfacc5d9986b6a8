"""The stack's state file (``stack.json``): which processes run, on which ports.

Written atomically after every change, so a crash in the middle of ``up`` still leaves a
file ``down`` can use to stop what was started.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from shadowgate.devstack.layout import StackLayout
from shadowgate.devstack.processes import ProcessRecord


class StateError(RuntimeError):
    """The state file exists but cannot be read."""


@dataclass(frozen=True)
class StackState:
    stack_id: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    bin_dir: str = ""
    prometheus_binary: str = ""
    # "real" for a real node (kubelet, containerd); "" in a state file of an older version,
    # whose node agent's stand-in ran Pods as host processes.
    node: str = ""
    components: dict[str, ProcessRecord] = field(default_factory=dict)

    def with_component(self, record: ProcessRecord) -> StackState:
        return replace(self, components={**self.components, record.name: record})

    def stopped(self) -> StackState:
        # Ports are kept so the next `up` reuses them (stable kubeconfig and URLs).
        return replace(self, stack_id="", components={})

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["components"] = {name: {**asdict(r), "argv": list(r.argv)} for name, r in self.components.items()}
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> StackState:
        components = {
            name: ProcessRecord(
                name=name,
                pid=int(rec["pid"]),
                start_ticks=int(rec["start_ticks"]),
                argv=tuple(rec["argv"]),
                log=str(rec["log"]),
            )
            for name, rec in doc.get("components", {}).items()
        }
        return cls(
            stack_id=str(doc.get("stack_id", "")),
            ports={str(k): int(v) for k, v in doc.get("ports", {}).items()},
            bin_dir=str(doc.get("bin_dir", "")),
            prometheus_binary=str(doc.get("prometheus_binary", "")),
            node=str(doc.get("node", "")),
            components=components,
        )


def load(layout: StackLayout) -> StackState:
    """The saved state, or an empty one when the stack never ran here."""
    try:
        text = layout.state_file.read_text()
    except FileNotFoundError:
        return StackState()
    try:
        return StackState.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as err:
        raise StateError(
            f"cannot read {layout.state_file}: {err}; stop any stray processes and delete the file"
        ) from err


def save(layout: StackLayout, state: StackState) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    tmp = layout.state_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True))
    tmp.replace(layout.state_file)

"""``parse_gates``: a Candidate's ``spec.gates`` -> validated, frozen gate specs.

Accepted shapes (docs/gates.md has examples):

- a list of gate mappings, or
- ``{preset: <name>, overrides: {<gate>: {<field>: value}}, disable: [<gate>], extra: [<gate>]}``
  where every key is optional. Overrides deep-merge into the preset's raw gate mappings
  (a ``null`` value deletes the field), then everything is validated the same way.

Any problem raises ``GateSpecError`` naming the gate and the field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from shadowgate.core.gates import presets, registry
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.specs import GatePhase, GateSpec, GateSpecError, Header, Kind, Source

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TOP_KEYS = {"preset", "overrides", "disable", "extra"}


def parse_gates(raw: Any) -> list[GateSpec]:
    """Validate ``raw`` (the CR's ``spec.gates``) into gate specs, in declaration order."""
    if raw is None:
        return []
    if isinstance(raw, list):
        return _parse_list(raw)
    if not isinstance(raw, Mapping):
        raise GateSpecError("<gates>", "gates", f"must be a list or a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise GateSpecError("<gates>", f"gates.{unknown[0]}", f"unknown field (known: {sorted(_TOP_KEYS)})")
    gates: list[dict[str, Any]] = []
    preset = raw.get("preset")
    if preset is not None:
        if preset not in presets.PRESETS:
            raise GateSpecError(
                "<gates>", "gates.preset", f"unknown preset {preset!r} (known: {sorted(presets.PRESETS)})"
            )
        gates = copy.deepcopy(presets.PRESETS[preset]())
    by_name = {str(g["name"]): g for g in gates}
    overrides = raw.get("overrides") or {}
    if not isinstance(overrides, Mapping):
        raise GateSpecError("<gates>", "gates.overrides", "must be a mapping of gate name -> fields")
    for name, fields in overrides.items():
        if name not in by_name:
            raise GateSpecError(
                str(name), "gates.overrides", f"no such gate in the preset (known: {sorted(by_name)})"
            )
        if not isinstance(fields, Mapping):
            raise GateSpecError(str(name), "gates.overrides", "must be a mapping of field -> value")
        if "name" in fields or "kind" in fields:
            raise GateSpecError(str(name), "gates.overrides", "cannot change a preset gate's name or kind")
        _merge(by_name[name], fields)
    disable = raw.get("disable") or []
    if not isinstance(disable, list):
        raise GateSpecError("<gates>", "gates.disable", "must be a list of gate names")
    for name in disable:
        if name not in by_name:
            raise GateSpecError(str(name), "gates.disable", f"no such gate (known: {sorted(by_name)})")
    gates = [g for g in gates if g["name"] not in disable]
    extra = raw.get("extra") or []
    if not isinstance(extra, list):
        raise GateSpecError("<gates>", "gates.extra", "must be a list of gates")
    return _parse_list(gates + list(extra))


def _merge(into: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def _parse_list(raw: list[Any]) -> list[GateSpec]:
    out: list[GateSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise GateSpecError(f"<gate {i}>", "gates", f"each gate must be a mapping, got {item!r}")
        spec = parse_gate(item, position=i)
        if spec.header.name in seen:
            raise GateSpecError(spec.header.name, "name", "duplicate gate name")
        seen.add(spec.header.name)
        out.append(spec)
    return out


def parse_gate(raw: Mapping[str, Any], position: int = 0) -> GateSpec:
    """Validate one gate mapping."""
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise GateSpecError(f"<gate {position}>", "name", f"must be a DNS label (a-z, 0-9, -), got {name!r}")
    f = Fields(name, raw)
    f.used.add("name")
    kind = f.choice("kind", Kind)
    entry = registry.KINDS[kind]
    source = f.choice("source", Source, entry.default_source)
    if source not in entry.sources:
        allowed = sorted(str(s) for s in entry.sources)
        raise f.error("source", f"a {kind} gate reads from {allowed}, not {source}")
    phase_names = f.strings("phases", _default_phases(entry.live_phases, source))
    phases = set()
    for p in phase_names:
        if p not in {str(x) for x in GatePhase}:
            raise f.error("phases", f"unknown phase {p!r} (known: {[str(x) for x in GatePhase]})")
        phases.add(GatePhase(p))
    header = Header(
        name=name,
        kind=kind,
        source=source,
        phases=frozenset(phases),
        critical=f.boolean("critical", False),
        failure_limit=f.integer("failureLimit", None, low=1),
        description=f.string("description", ""),
        model_kinds=frozenset(_model_kinds(f)),
    )
    spec: GateSpec = entry.parse(f, header)
    f.finish()
    return spec


def _model_kinds(f: Fields) -> list[str]:
    kinds: list[str] = f.strings("modelKinds", [])
    for k in kinds:
        if not _NAME.match(k):
            raise f.error("modelKinds", f"must be model kind names like 'retriever', got {k!r}")
    return kinds


def _default_phases(live: tuple[GatePhase, ...], source: Source) -> list[str]:
    if source is Source.EVALUATION:
        return [GatePhase.EVALUATION.value]
    if source is Source.OPERATOR:
        return [GatePhase.SHADOW.value]
    return [p.value for p in live]

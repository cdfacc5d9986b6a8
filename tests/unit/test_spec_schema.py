"""The CRD schema and the operator's spec parser agree: every field, default and bound.

The API server applies the CRD's defaults and bounds; the operator's pydantic models (and
through them ``core.lifecycle.spec``, the only copy of the defaults) apply their own when a
resource skipped admission or a test builds a spec. This walks both trees side by side and
fails on any drift: a field one side lacks, a default, minimum, maximum or enum that differs.
"""

from __future__ import annotations

import enum
import pathlib
import types
import typing
from typing import Any, Literal

import annotated_types
import pytest
import yaml
from pydantic import BaseModel
from shadowgate.controller import candidate
from shadowgate.core.lifecycle import spec as defaults

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((ROOT / "crds" / "candidate.yaml").read_text())
SPEC = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
# Fields the operator reads as raw data and validates itself (core.gates.parsing).
OPAQUE = {"spec.gates", "spec.model.resources"}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [m for a in typing.get_args(annotation) if (m := _model_of(a)) is not None]
        return models[0] if models else None
    return None


def _enum_of(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    return None


def _pairs(
    model: type[BaseModel], schema: dict[str, Any], path: str
) -> list[tuple[str, Any, dict[str, Any]]]:
    """(path, pydantic field, CRD property) for every field, recursively; asserts both sides
    have the same fields."""
    props = schema.get("properties") or {}
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    assert set(fields) == set(props), f"{path}: operator {sorted(fields)} vs CRD {sorted(props)}"
    out = []
    for name, field in fields.items():
        where = f"{path}.{name}"
        out.append((where, field, props[name]))
        sub = _model_of(field.annotation)
        if sub is not None and where not in OPAQUE:
            out.extend(_pairs(sub, props[name], where))
    return out


def _default(field: Any) -> Any:
    """The field's own default, None when it is required, optional or built by a factory."""
    return None if field.is_required() or field.default_factory is not None else field.default


PAIRS = _pairs(candidate.CandidateSpec, SPEC, "spec")


@pytest.mark.parametrize(("path", "field", "prop"), [pytest.param(*p, id=p[0]) for p in PAIRS])
def test_defaults_bounds_and_enums_agree(path: str, field: Any, prop: dict[str, Any]) -> None:
    default = _default(field)
    if isinstance(default, BaseModel):
        assert prop.get("default") in ({}, None), f"{path}: an object's CRD default must be {{}}"
    elif default is not None or "default" in prop:
        value = default.value if isinstance(default, enum.Enum) else default
        assert prop.get("default") == value, f"{path}: CRD default {prop.get('default')!r} vs {value!r}"
    bounds = {type(m): m for m in field.metadata}
    for kind, key, attr in ((annotated_types.Ge, "minimum", "ge"), (annotated_types.Le, "maximum", "le")):
        mine = getattr(bounds[kind], attr) if kind in bounds else None
        assert prop.get(key) == mine, f"{path}: CRD {key} {prop.get(key)!r} vs operator {mine!r}"
    choices = _enum_of(field.annotation)
    if choices is not None or "enum" in prop:
        assert prop.get("enum") == choices, f"{path}: CRD enum {prop.get('enum')} vs operator {choices}"


def test_the_walk_covers_the_defaults() -> None:
    """Each default constant is reached by the walk (so a new one cannot escape the check)."""
    reached = {
        p for p, f, _ in PAIRS if f.default not in (None, ...) and not isinstance(f.default, BaseModel)
    }
    assert {
        "spec.target.provider",
        "spec.model.replicas",
        "spec.shadow.mirrorPercent",
        "spec.canary.stepDuration",
        "spec.canary.minSamples",
        "spec.canary.stickyKey",
        "spec.analysis.interval",
        "spec.policy.failureLimit",
        "spec.policy.inconclusive.action",
        "spec.policy.inconclusive.limit",
        "spec.policy.promotion",
        "spec.policy.deployTimeout",
        "spec.policy.promoteTimeout",
    } <= reached
    assert SPEC["properties"]["canary"]["properties"]["stickyKey"]["default"] == defaults.STICKY_KEY


def test_an_absent_section_means_the_same_as_the_crd_default() -> None:
    """What the API server fills in and what the operator assumes without it give one spec."""
    bare = {"target": {"deployment": "d", "route": "r"}, "model": {"archiveUri": "/m", "version": "1"}}
    filled = {**bare, "analysis": {"interval": "30s"}, "policy": {"failureLimit": 1}}
    a, b = candidate.admit(bare).lifecycle, candidate.admit(filled).lifecycle
    assert (a.failure_limit, a.analysis_interval_s, a.mirror_percent) == (
        b.failure_limit,
        b.analysis_interval_s,
        b.mirror_percent,
    )


def test_the_router_defaults_to_the_same_sticky_key() -> None:
    """A table without stickyKey pins users by the header the Candidate API defaults to."""
    from router import table

    assert table._RouteModel.model_fields["stickyKey"].default == defaults.STICKY_KEY

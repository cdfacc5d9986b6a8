"""The gate-kind registry: every kind has one entry, the CRD's kind enum is the registry's,
and each kind's plan is answered by the observation its evaluation reads."""

from __future__ import annotations

import pathlib
import typing

import pytest
import yaml
from shadowgate.core.gates import parsing, plans, presets, registry, specs

ROOT = pathlib.Path(__file__).resolve().parents[3]

# One small valid gate per kind (each kind module's own parser must accept it).
SAMPLES = {
    specs.Kind.THRESHOLD: {"metric": "sum(x)", "max": 1},
    specs.Kind.RELATIVE: {"metric": "sum(x)", "direction": "lower"},
    specs.Kind.WEIGHTED: {"metric": 'sum(x{k="{key}"})', "weights": {"a": 1}},
    specs.Kind.PROPORTION: {"events": "sum(e)", "trials": "sum(t)", "direction": "lower"},
    specs.Kind.LATENCY: {
        "query": "q{quantile}",
        "countQuery": "sum(c)",
        "quantiles": {"p95": {"maxRatio": 1.2}},
    },
    specs.Kind.CHECK: {"checks": ["rollback"]},
    specs.Kind.SLICE_REGRESSION: {},
}


def test_every_kind_has_one_entry() -> None:
    assert set(registry.KINDS) == set(specs.Kind) == set(SAMPLES)
    assert {k.spec for k in registry.KINDS.values()} == set(typing.get_args(specs.GateSpec))


def test_the_crd_kind_enum_is_the_registry() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "candidate.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    kind = spec["properties"]["gates"]["properties"]["extra"]["items"]["properties"]["kind"]
    assert kind["enum"] == [str(k) for k in registry.KINDS]


@pytest.mark.parametrize("kind", [pytest.param(k, id=str(k)) for k in specs.Kind])
def test_a_kinds_plan_is_answered_by_what_it_evaluates(kind: specs.Kind) -> None:
    spec = parsing.parse_gate({"name": "g", "kind": str(kind), **SAMPLES[kind]})
    entry = registry.of(spec)
    assert isinstance(spec, entry.spec) and entry.default_source in entry.sources
    assert plans.ANSWERS[type(registry.plan(spec))] is entry.observation


def test_the_crd_preset_enum_is_the_presets() -> None:
    """An unknown preset is rejected by the API server, not first by the operator."""
    crd = yaml.safe_load((ROOT / "crds" / "candidate.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["gates"]["properties"]["preset"]["enum"] == sorted(presets.PRESETS)

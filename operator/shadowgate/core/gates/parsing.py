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

from shadowgate.core.gates import presets, slices, templates
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.specs import (
    CheckSpec,
    Comparison,
    Direction,
    GateSpec,
    GateSpecError,
    Header,
    Hypothesis,
    Kind,
    LatencyBound,
    LatencySpec,
    MetricCheck,
    Phase,
    ProportionSpec,
    RelativeSpec,
    SliceRegressionSpec,
    Source,
    ThresholdSpec,
    WeightedSpec,
)

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Per-query metrics the evaluator reports (shadowgate.evaluation.ranking.query_metrics).
_PER_QUERY_METRIC = re.compile(r"^(recall@[1-9][0-9]*|ndcg@[1-9][0-9]*|mrr)$")
_RANKING_FAMILIES = ("retrieval", "reranking")
_TOP_KEYS = {"preset", "overrides", "disable", "extra"}
_ALLOWED_SOURCES = {
    Kind.THRESHOLD: {Source.PROMETHEUS, Source.EVALUATION},
    Kind.RELATIVE: {Source.PROMETHEUS, Source.EVALUATION},
    Kind.WEIGHTED: {Source.PROMETHEUS, Source.EVALUATION},
    Kind.PROPORTION: {Source.PROMETHEUS},
    Kind.LATENCY: {Source.PROMETHEUS},
    Kind.CHECK: {Source.OPERATOR},
    Kind.SLICE_REGRESSION: {Source.EVALUATION},
}


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
    source = f.choice("source", Source, _default_source(kind))
    if source not in _ALLOWED_SOURCES[kind]:
        allowed = sorted(str(s) for s in _ALLOWED_SOURCES[kind])
        raise f.error("source", f"a {kind} gate reads from {allowed}, not {source}")
    phase_names = f.strings("phases", _default_phases(kind, source))
    phases = set()
    for p in phase_names:
        if p not in {str(x) for x in Phase}:
            raise f.error("phases", f"unknown phase {p!r} (known: {[str(x) for x in Phase]})")
        phases.add(Phase(p))
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
    spec = _BUILDERS[kind](f, header)
    f.finish()
    return spec


def _model_kinds(f: Fields) -> list[str]:
    kinds: list[str] = f.strings("modelKinds", [])
    for k in kinds:
        if not _NAME.match(k):
            raise f.error("modelKinds", f"must be model kind names like 'retriever', got {k!r}")
    return kinds


def _default_source(kind: Kind) -> Source:
    if kind is Kind.SLICE_REGRESSION:
        return Source.EVALUATION
    return Source.OPERATOR if kind is Kind.CHECK else Source.PROMETHEUS


def _default_phases(kind: Kind, source: Source) -> list[str]:
    if source is Source.EVALUATION:
        return [Phase.EVALUATION.value]
    if source is Source.OPERATOR:
        return [Phase.SHADOW.value]
    if kind is Kind.PROPORTION:
        return [Phase.CANARY.value]  # clicks are credited only to the variant that served
    return [Phase.SHADOW.value, Phase.CANARY.value]


def _metric(f: Fields, key: str, value: str, source: Source, allowed: frozenset[str]) -> str:
    if source is Source.PROMETHEUS:
        unknown = templates.unknown_variables(value, allowed)
        if unknown:
            raise f.error(key, f"unknown template variable {{{unknown[0]}}} (known: {sorted(allowed)})")
        if not templates.balanced(value):
            raise f.error(key, "unbalanced brackets or quotes in the PromQL template")
    else:
        bare = value.replace("{key}", "") if "key" in allowed else value
        if any(c.isspace() for c in value) or "{" in bare or "}" in bare or value.startswith("."):
            raise f.error(
                key, f"must be a dotted key path like 'retrieval.slices.iyashikei.recall@3', got {value!r}"
            )
    return value


def _bounds(f: Fields) -> tuple[float | None, float | None]:
    low, high = f.number("min", None), f.number("max", None)
    if low is not None and high is not None and low > high:
        raise f.error("min", f"min {low} is above max {high}")
    return low, high


def _checks(f: Fields, header: Header, relative: bool) -> tuple[MetricCheck, ...]:
    if f.has("metric") == f.has("metrics"):
        raise f.error("metric", "give exactly one of 'metric' (one metric) or 'metrics' (a mapping)")
    if f.has("metric"):
        metric = _metric(f, "metric", f.string("metric"), header.source, templates.VARIABLES)
        low, high = _bounds(f)
        margin = f.number("margin", 0.0) if relative else None
        checks = [MetricCheck(metric, low, high, margin)]
    else:
        default_margin = f.number("margin", 0.0) if relative else None
        checks = []
        for metric, sub_raw in f.mapping("metrics").items():
            _metric(f, "metrics", metric, header.source, templates.VARIABLES)
            sub = f.nested("metrics", metric, sub_raw or {})
            low, high = _bounds(sub)
            margin = sub.number("margin", default_margin) if relative else None
            sub.finish()
            checks.append(MetricCheck(metric, low, high, margin))
    if not relative:
        for c in checks:
            if c.min is None and c.max is None:
                raise f.error("max", f"a threshold on {c.metric!r} needs min and/or max")
    return tuple(checks)


def _threshold(f: Fields, header: Header) -> GateSpec:
    return ThresholdSpec(header, _checks(f, header, False), f.integer("minSamples", 0, low=0))


def _relative(f: Fields, header: Header) -> GateSpec:
    direction = f.choice("direction", Direction)
    comparison = f.choice("comparison", Comparison, Comparison.DIFFERENCE)
    checks = _checks(f, header, True)
    return RelativeSpec(header, checks, direction, comparison, f.integer("minSamples", 0, low=0))


def _weighted(f: Fields, header: Header) -> GateSpec:
    metric = _metric(f, "metric", f.string("metric"), header.source, templates.WEIGHTED_VARIABLES)
    if "{key}" not in metric:
        raise f.error("metric", "must contain the {key} placeholder that each weight's key fills")
    weights = []
    for key, w in f.mapping("weights").items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not w > 0:
            raise f.error(f"weights.{key}", f"must be a positive number, got {w!r}")
        weights.append((key, float(w)))
    return WeightedSpec(
        header,
        metric,
        tuple(weights),
        f.choice("direction", Direction, Direction.LOWER),
        f.choice("comparison", Comparison, Comparison.DIFFERENCE),
        f.number("margin", 0.0),
        f.number("max", None, low=0.0),
    )


def _proportion(f: Fields, header: Header) -> GateSpec:
    events = _metric(f, "events", f.string("events"), header.source, templates.VARIABLES)
    trials = _metric(f, "trials", f.string("trials"), header.source, templates.VARIABLES)
    hypothesis = f.choice("hypothesis", Hypothesis, Hypothesis.SUPERIORITY)
    margin = f.number("margin", 0.0, low=0.0, high=1.0)
    if hypothesis is Hypothesis.NON_INFERIORITY and margin == 0.0:
        raise f.error("margin", "non-inferiority needs a margin > 0 (in rate units, e.g. 0.01)")
    if hypothesis is Hypothesis.SUPERIORITY and margin != 0.0:
        raise f.error("margin", "a superiority gate takes no margin; use hypothesis: non-inferiority")
    return ProportionSpec(
        header,
        events,
        trials,
        f.choice("direction", Direction),
        hypothesis,
        margin,
        f.number("alpha", 0.05, low=0.0, high=0.5, open_low=True),
        f.number("tau", 0.04, low=0.0, high=1.0, open_low=True),
        f.integer("minSamples", 500, low=1),
    )


def _quantile(f: Fields, name: str) -> float:
    try:
        q = float(name[1:]) / 100 if name.startswith("p") else float(name)
    except ValueError:
        q = -1.0
    if not 0.0 < q < 1.0:
        raise f.error(f"quantiles.{name}", "must be named like p95, p99.9 or 0.95")
    return q


def _latency(f: Fields, header: Header) -> GateSpec:
    query = _metric(f, "query", f.string("query"), header.source, templates.LATENCY_VARIABLES)
    if "{quantile}" not in query:
        raise f.error("query", "must contain the {quantile} placeholder")
    count_query = _metric(f, "countQuery", f.string("countQuery"), header.source, templates.VARIABLES)
    bounds = []
    for name, sub_raw in f.mapping("quantiles").items():
        q = _quantile(f, name)
        sub = f.nested("quantiles", name, sub_raw or {})
        bound = LatencyBound(
            q,
            sub.number("maxRatio", None, low=0.0, open_low=True),
            sub.number("maxSeconds", None, low=0.0, open_low=True),
            sub.number("slackSeconds", 0.0, low=0.0),
        )
        sub.finish()
        if bound.max_ratio is None and bound.max_seconds is None:
            raise f.error(f"quantiles.{name}", "needs maxRatio and/or maxSeconds")
        bounds.append(bound)
    return LatencySpec(
        header,
        query,
        count_query,
        tuple(bounds),
        f.integer("minSamples", 200, low=1),
        f.number("alpha", 0.01, low=0.0, high=0.5, open_low=True),
    )


def _check(f: Fields, header: Header) -> GateSpec:
    return CheckSpec(header, tuple(f.strings("checks")))


def _slice_regression(f: Fields, header: Header) -> GateSpec:
    family = f.string("family", "retrieval")
    if family not in _RANKING_FAMILIES:
        raise f.error("family", f"must be one of {list(_RANKING_FAMILIES)}, got {family!r}")
    metric = f.string("metric", "recall@3")
    if not _PER_QUERY_METRIC.match(metric):
        raise f.error(
            "metric", f"must be a per-query metric like 'recall@3', 'ndcg@10' or 'mrr', got {metric!r}"
        )
    alpha = f.number("alpha", 0.05, low=0.0, high=0.5, open_low=True)
    return SliceRegressionSpec(
        header,
        family,
        metric,
        f.number("margin", 0.0, low=0.0, high=1.0),
        alpha,
        f.integer("minQueries", slices.default_min_queries(alpha), low=1),
    )


_BUILDERS = {
    Kind.THRESHOLD: _threshold,
    Kind.RELATIVE: _relative,
    Kind.WEIGHTED: _weighted,
    Kind.PROPORTION: _proportion,
    Kind.LATENCY: _latency,
    Kind.CHECK: _check,
    Kind.SLICE_REGRESSION: _slice_regression,
}

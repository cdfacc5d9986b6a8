"""weighted: a business-weighted metric (sum of weight x metric per key), against the baseline's."""

from __future__ import annotations

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import outcomes, reading, templates
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.kinds.base import GateKind
from shadowgate.core.gates.outcomes import NO_DATA, Outcome
from shadowgate.core.gates.plans import Plan, ValuesPlan
from shadowgate.core.gates.specs import Comparison, Direction, Header, Kind, Source, WeightedSpec


def parse(f: Fields, header: Header) -> WeightedSpec:
    metric = reading.metric(f, "metric", f.string("metric"), header.source, templates.WEIGHTED_VARIABLES)
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


def plan(spec: WeightedSpec) -> Plan:
    return ValuesPlan(tuple(spec.metric_for(k) for k, _ in spec.weights), baseline=True)


def evaluate(spec: WeightedSpec, values: obs.Values) -> list[Outcome]:
    totals: dict[str, float] = {}
    for arm, mapping in (("candidate", values.candidate), ("baseline", values.baseline)):
        missing = [k for k, _ in spec.weights if outcomes.number(mapping, spec.metric_for(k)) is None]
        if missing:
            return [outcomes.inconclusive(NO_DATA, f"no {spec.metric} for the {arm} at keys {missing}")]
        weight = sum(w for _, w in spec.weights)
        total = sum(w * (outcomes.number(mapping, spec.metric_for(k)) or 0.0) for k, w in spec.weights)
        totals[arm] = total / weight
    name = f"weighted {spec.metric}"
    compared = outcomes.compare(
        name, totals["candidate"], totals["baseline"], spec.direction, spec.comparison, spec.margin
    )
    floor = outcomes.floors(name, totals["candidate"], None, spec.max, compared.evidence)
    return [floor or compared]


KIND = GateKind(
    kind=Kind.WEIGHTED,
    spec=WeightedSpec,
    observation=obs.Values,
    sources=frozenset({Source.PROMETHEUS, Source.EVALUATION}),
    default_source=Source.PROMETHEUS,
    parse=parse,
    plan=plan,
    evaluate=evaluate,
)

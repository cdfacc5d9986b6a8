"""relative: candidate versus baseline on one or more metrics, with optional absolute floors."""

from __future__ import annotations

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import outcomes, reading
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.kinds.base import GateKind
from shadowgate.core.gates.outcomes import NO_DATA, Outcome
from shadowgate.core.gates.plans import Plan, ValuesPlan
from shadowgate.core.gates.specs import Comparison, Direction, Header, Kind, RelativeSpec, Source


def parse(f: Fields, header: Header) -> RelativeSpec:
    direction = f.choice("direction", Direction)
    comparison = f.choice("comparison", Comparison, Comparison.DIFFERENCE)
    checks = reading.checks(f, header, True)
    return RelativeSpec(header, checks, direction, comparison, f.integer("minSamples", 0, low=0))


def plan(spec: RelativeSpec) -> Plan:
    return ValuesPlan(tuple(c.metric for c in spec.checks), baseline=True)


def evaluate(spec: RelativeSpec, values: obs.Values) -> list[Outcome]:
    short = outcomes.samples_short(spec.min_samples, values)
    if short:
        return [short]
    out = []
    for c in spec.checks:
        cand, base = outcomes.number(values.candidate, c.metric), outcomes.number(values.baseline, c.metric)
        if cand is None or base is None:
            arm = "candidate" if cand is None else "baseline"
            out.append(outcomes.inconclusive(NO_DATA, f"{c.metric}: no data for the {arm}"))
            continue
        compared = outcomes.compare(c.metric, cand, base, spec.direction, spec.comparison, c.margin or 0.0)
        floor = outcomes.floors(
            c.metric, cand, c.min, c.max, outcomes.with_(compared.evidence, statistic="value")
        )
        out.append(floor or compared)
    return out


KIND = GateKind(
    kind=Kind.RELATIVE,
    spec=RelativeSpec,
    observation=obs.Values,
    sources=frozenset({Source.PROMETHEUS, Source.EVALUATION}),
    default_source=Source.PROMETHEUS,
    parse=parse,
    plan=plan,
    evaluate=evaluate,
)

"""threshold: absolute bounds on the candidate's value of one or more metrics."""

from __future__ import annotations

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import outcomes, reading
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.kinds.base import GateKind
from shadowgate.core.gates.outcomes import NO_DATA, Outcome
from shadowgate.core.gates.plans import Plan, ValuesPlan
from shadowgate.core.gates.specs import Header, Kind, Source, ThresholdSpec
from shadowgate.core.verdicts import Evidence, Verdict


def parse(f: Fields, header: Header) -> ThresholdSpec:
    return ThresholdSpec(header, reading.checks(f, header, False), f.integer("minSamples", 0, low=0))


def plan(spec: ThresholdSpec) -> Plan:
    return ValuesPlan(tuple(c.metric for c in spec.checks))


def evaluate(spec: ThresholdSpec, values: obs.Values) -> list[Outcome]:
    short = outcomes.samples_short(spec.min_samples, values)
    if short:
        return [short]
    out = []
    for c in spec.checks:
        v = outcomes.number(values.candidate, c.metric)
        if v is None:
            out.append(outcomes.inconclusive(NO_DATA, f"{c.metric}: no data"))
            continue
        ev = Evidence(value=v, candidate_samples=values.candidate_samples, statistic="value", detail=c.metric)
        failed = outcomes.floors(c.metric, v, c.min, c.max, ev)
        bound = c.max if c.max is not None else c.min
        passed = Outcome(
            Verdict.PASS, f"{c.metric}={v:.4g} within bounds", outcomes.with_(ev, threshold=bound)
        )
        out.append(failed or passed)
    return out


KIND = GateKind(
    kind=Kind.THRESHOLD,
    spec=ThresholdSpec,
    observation=obs.Values,
    sources=frozenset({Source.PROMETHEUS, Source.EVALUATION}),
    default_source=Source.PROMETHEUS,
    parse=parse,
    plan=plan,
    evaluate=evaluate,
)

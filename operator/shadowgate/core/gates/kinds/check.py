"""check: named yes/no checks the operator performs itself (e.g. the rollback path works)."""

from __future__ import annotations

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import outcomes
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.kinds.base import GateKind
from shadowgate.core.gates.outcomes import NO_DATA, Outcome
from shadowgate.core.gates.plans import ChecksPlan, Plan
from shadowgate.core.gates.specs import CheckSpec, Header, Kind, Source
from shadowgate.core.verdicts import Evidence, Verdict


def parse(f: Fields, header: Header) -> CheckSpec:
    return CheckSpec(header, tuple(f.strings("checks")))


def plan(spec: CheckSpec) -> Plan:
    return ChecksPlan(spec.checks)


def evaluate(spec: CheckSpec, checks: obs.Checks) -> list[Outcome]:
    out = []
    for name in spec.checks:
        ok = checks.results.get(name)
        if ok is None:
            out.append(outcomes.inconclusive(NO_DATA, f"{name}: not performed yet"))
            continue
        detail = f" ({checks.detail})" if checks.detail and not ok else ""
        text = f"{name}: {'ok' if ok else 'FAILED'}{detail}"
        out.append(
            Outcome(Verdict.PASS if ok else Verdict.FAIL, text, Evidence(statistic="check", detail=name))
        )
    return out


KIND = GateKind(
    kind=Kind.CHECK,
    spec=CheckSpec,
    observation=obs.Checks,
    sources=frozenset({Source.OPERATOR}),
    default_source=Source.OPERATOR,
    parse=parse,
    plan=plan,
    evaluate=evaluate,
)

"""The gate kinds the operator knows, by ``specs.Kind``: one line per kind module.

Parsing (``parsing.parse_gate``), evaluation (``evaluating.evaluate``) and every source
(through ``plan``) look a kind up here instead of branching on spec types, and a test checks
the CRD's ``gates.extra[].kind`` enum against ``KINDS``.
"""

from __future__ import annotations

from shadowgate.core.gates.kinds import (
    check,
    latency,
    proportion,
    relative,
    slice_regression,
    threshold,
    weighted,
)
from shadowgate.core.gates.kinds.base import AnyKind
from shadowgate.core.gates.plans import Plan
from shadowgate.core.gates.specs import GateSpec, Kind

KINDS: dict[Kind, AnyKind] = {
    k.kind: k
    for k in (
        threshold.KIND,
        relative.KIND,
        weighted.KIND,
        proportion.KIND,
        latency.KIND,
        check.KIND,
        slice_regression.KIND,
    )
}


def of(spec: GateSpec) -> AnyKind:
    return KINDS[spec.header.kind]


def plan(spec: GateSpec) -> Plan:
    """What ``spec`` asks its source to measure."""
    return of(spec).plan(spec)

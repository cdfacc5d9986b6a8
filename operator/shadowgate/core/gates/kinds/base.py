"""``GateKind``: everything the operator knows about one gate kind, in one value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.outcomes import Outcome
from shadowgate.core.gates.plans import Plan
from shadowgate.core.gates.specs import GatePhase, Header, Kind, Source

S = TypeVar("S")
O = TypeVar("O")  # noqa: E741 - the observation type, as in the docstrings


@dataclass(frozen=True)
class GateKind(Generic[S, O]):
    kind: Kind
    spec: type[S]
    # The observation ``evaluate`` reads; a source answering another shape is a QueryError.
    observation: type[O]
    sources: frozenset[Source]
    default_source: Source
    parse: Callable[[Fields, Header], S]
    plan: Callable[[S], Plan]
    evaluate: Callable[[S, O], list[Outcome]]
    # Phases of a gate that reads live traffic (prometheus) when ``phases`` is not given.
    live_phases: tuple[GatePhase, ...] = (GatePhase.SHADOW, GatePhase.CANARY)


AnyKind = GateKind[Any, Any]

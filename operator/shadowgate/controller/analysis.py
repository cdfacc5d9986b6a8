"""Gate analysis for one reconcile: parse ``spec.gates``, measure each applicable gate through
its source, and turn the measurements into verdicts with the gates engine.

Sources sit behind ``shadowgate.sources.base.MetricSource``. A gate whose source is not
configured, or that raises, is Inconclusive (QueryError), never a number and never Pass: the
Candidate holds rather than promotes on missing data. ``operator`` checks (``rollback``: the
route accepts weight 0 and production is healthy) are answered from what ``observe`` saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shadowgate.core.gates import evaluating, observations, parsing, presets, specs
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.verdicts import GateResult, InconclusiveReason
from shadowgate.sources.base import MetricSource, QueryContext

_PHASES = {
    Phase.EVALUATING: specs.Phase.EVALUATION,
    Phase.SHADOW: specs.Phase.SHADOW,
    Phase.CANARY: specs.Phase.CANARY,
}


@dataclass(frozen=True)
class AnalysisRequest:
    context: QueryContext
    phase: Phase
    gates: Mapping[str, Any]
    # Operator checks answered from observations, e.g. {"rollback": True}.
    checks: Mapping[str, bool] = field(default_factory=dict)
    # The candidate's model kind (``retriever``...), so gates with ``modelKinds`` apply only to
    # their kind (a retriever has no classification metrics to wait for); None: every gate.
    model_kind: str | None = None


class Analyzer(Protocol):
    def validate(self, gates: Mapping[str, Any]) -> str:
        """An empty string, or why the gates cannot be evaluated (naming gate and field)."""
        ...

    def limits(self, gates: Mapping[str, Any]) -> dict[str, int]:
        """Per-gate failure limits that override the policy's."""
        ...

    def analyse(self, request: AnalysisRequest) -> tuple[GateResult, ...]: ...


def operator_checks(checks: Mapping[str, bool]) -> dict[str, bool]:
    """The observed facts under the names check gates use. ``observe`` reports ``rollback``
    (production is Available) only after the route table was reconciled, i.e. the route exists
    and takes writes, so weight 0 can be set; the mangaassist preset's rollback gate asks for
    ``presets.ROUTER_ACCEPTS_ZERO_WEIGHT`` and ``presets.PRIMARY_HEALTHY`` (e2e integration fix:
    without them the gate stayed NoData and every preset Candidate held in Shadow forever)."""
    out = dict(checks)
    if "rollback" in checks:
        out.setdefault(presets.ROUTER_ACCEPTS_ZERO_WEIGHT, True)
        out.setdefault(presets.PRIMARY_HEALTHY, bool(checks["rollback"]))
    return out


class _Checks:
    def __init__(self, checks: Mapping[str, bool]) -> None:
        self._checks = operator_checks(checks)

    async def observe(self, spec: specs.GateSpec, context: QueryContext) -> observations.Observation:
        return observations.Checks(results=dict(self._checks))


class EngineAnalyzer:
    """The gates engine (``shadowgate.core.gates``) over the configured sources."""

    def __init__(self, sources: Mapping[specs.Source, Callable[[], MetricSource]]) -> None:
        # Factories, not sources: each analysis runs in its own event loop (``asyncio.run`` in a
        # worker thread), and an async HTTP client must not outlive the loop it was used in.
        self._factories = dict(sources)

    def validate(self, gates: Mapping[str, Any]) -> str:
        try:
            parsing.parse_gates(dict(gates) if gates else None)
        except specs.GateSpecError as exc:
            return str(exc)
        return ""

    def limits(self, gates: Mapping[str, Any]) -> dict[str, int]:
        parsed = parsing.parse_gates(dict(gates) if gates else None)
        return {s.header.name: s.header.failure_limit for s in parsed if s.header.failure_limit is not None}

    def analyse(self, request: AnalysisRequest) -> tuple[GateResult, ...]:
        phase = _PHASES.get(request.phase)
        if phase is None:
            return ()
        parsed = parsing.parse_gates(dict(request.gates) if request.gates else None)
        wanted = specs.applicable(parsed, phase, request.model_kind)
        if not wanted:
            return ()
        # Handlers run in kopf's worker threads, which have no event loop of their own.
        return asyncio.run(self._all(wanted, request))

    async def _all(self, wanted: list[specs.GateSpec], request: AnalysisRequest) -> tuple[GateResult, ...]:
        sources: dict[specs.Source, MetricSource] = {s: make() for s, make in self._factories.items()}
        sources[specs.Source.OPERATOR] = _Checks(request.checks)
        try:
            measured = await asyncio.gather(*(self._one(spec, sources, request) for spec in wanted))
        finally:
            for source in sources.values():
                close = getattr(source, "aclose", None)
                if close is not None:
                    await close()
        return tuple(evaluating.evaluate(spec, obs) for spec, obs in zip(wanted, measured, strict=True))

    async def _one(
        self, spec: specs.GateSpec, sources: Mapping[specs.Source, MetricSource], request: AnalysisRequest
    ) -> observations.Observation:
        source = sources.get(spec.header.source)
        if source is None:
            detail = f"no {spec.header.source} source is configured in the operator"
            return observations.Unavailable(reason=InconclusiveReason.QUERY_ERROR, detail=detail)
        try:
            return await source.observe(spec, request.context)
        except Exception as exc:  # a source bug must hold the rollout, not crash the reconcile
            return observations.Unavailable(
                reason=InconclusiveReason.QUERY_ERROR, detail=f"{type(exc).__name__}: {exc}"
            )

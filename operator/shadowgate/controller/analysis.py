"""Gate analysis for one reconcile: measure each applicable gate (parsed once, in
``candidate.admit``) through its source, and turn the measurements into verdicts with the gates
engine.

Sources sit behind ``shadowgate.sources.base.MetricSource``. A gate whose source is not
configured, or that raises, is Inconclusive (QueryError), never a number and never Pass: the
Candidate holds rather than promotes on missing data. ``operator`` checks (``rollback``: the
route accepts weight 0 and production is healthy) are answered from what ``observe`` saw plus,
for ``router-accepts-zero-weight``, the data plane's own report of the route version it
applies (``traffic.applied``): proven or not answered, never assumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shadowgate.core.gates import evaluating, observations, plans, presets, registry, specs
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.verdicts import GateResult, InconclusiveReason
from shadowgate.sources.base import MetricSource, QueryContext
from shadowgate.sources.router_versions import RouterVersions
from shadowgate.traffic import applied
from shadowgate.traffic.base import RouteTarget, TrafficProvider

_log = logging.getLogger(__name__)
_PHASES = {
    Phase.EVALUATING: specs.GatePhase.EVALUATION,
    Phase.SHADOW: specs.GatePhase.SHADOW,
    Phase.CANARY: specs.GatePhase.CANARY,
}


@dataclass(frozen=True)
class AnalysisRequest:
    context: QueryContext
    phase: Phase
    # Every parsed gate of the spec; the analyzer picks those of the phase and model kind.
    gates: tuple[specs.GateSpec, ...]
    # Operator checks answered from observations, e.g. {"rollback": True}.
    checks: Mapping[str, bool] = field(default_factory=dict)
    # The candidate's model kind (``retriever``...), so gates with ``modelKinds`` apply only to
    # their kind (a retriever has no classification metrics to wait for); None: every gate.
    model_kind: str | None = None
    # What the traffic provider said about the route's applied state (``route_evidence``);
    # None: not gathered, so ``router-accepts-zero-weight`` stays unanswered.
    route: applied.RouteEvidence | None = None


class Analyzer(Protocol):
    def analyse(self, request: AnalysisRequest) -> tuple[GateResult, ...]: ...


def operator_checks(checks: Mapping[str, bool], route_applied: bool | None = None) -> dict[str, bool]:
    """The observed facts under the names check gates use (the mangaassist preset's rollback
    gate asks for ``presets.ROUTER_ACCEPTS_ZERO_WEIGHT`` and ``presets.PRIMARY_HEALTHY``).
    ``rollback`` is production's availability. The router check is answered only when
    ``route_applied`` is True: every data-plane replica APPLIES the route version the operator
    wrote, so a weight-0 write would be served too. Unproven, it is left out and the check gate
    is Inconclusive (NoData), which holds the Candidate; False would be a decisive failure of a
    critical gate, i.e. a rollback caused by a lagging or stopped router."""
    out = dict(checks)
    if "rollback" in checks:
        out.setdefault(presets.PRIMARY_HEALTHY, bool(checks["rollback"]))
    if route_applied:
        out.setdefault(presets.ROUTER_ACCEPTS_ZERO_WEIGHT, True)
    return out


def route_evidence(provider: TrafficProvider, target: RouteTarget) -> applied.RouteEvidence:
    """The provider's evidence; a failed read is evidence missing, never an exception."""
    try:
        return provider.applied(target)
    except Exception as exc:  # a read problem must hold the gate, not fail the reconcile
        return applied.RouteEvidence(written=None, missing=f"{type(exc).__name__}: {exc}")


class _Checks:
    def __init__(self, checks: Mapping[str, bool], route_applied: bool | None) -> None:
        self._checks = operator_checks(checks, route_applied)

    async def observe(self, spec: specs.GateSpec, context: QueryContext) -> observations.Observation:
        return observations.Checks(results=dict(self._checks))


def _asks_router(wanted: list[specs.GateSpec]) -> bool:
    return any(
        isinstance(plan := registry.plan(s), plans.ChecksPlan)
        and presets.ROUTER_ACCEPTS_ZERO_WEIGHT in plan.checks
        for s in wanted
    )


class EngineAnalyzer:
    """The gates engine (``shadowgate.core.gates``) over the configured sources."""

    def __init__(
        self,
        sources: Mapping[specs.Source, Callable[[], MetricSource]],
        router_versions: Callable[[], RouterVersions] | None = None,
    ) -> None:
        # Factories, not sources: each analysis runs in its own event loop (``asyncio.run`` in a
        # worker thread), and an async HTTP client must not outlive the loop it was used in.
        self._factories = dict(sources)
        self._router_versions = router_versions

    def analyse(self, request: AnalysisRequest) -> tuple[GateResult, ...]:
        phase = _PHASES.get(request.phase)
        if phase is None:
            return ()
        wanted = specs.applicable(list(request.gates), phase, request.model_kind)
        if not wanted:
            return ()
        # Handlers run in kopf's worker threads, which have no event loop of their own.
        return asyncio.run(self._all(wanted, request))

    async def _all(self, wanted: list[specs.GateSpec], request: AnalysisRequest) -> tuple[GateResult, ...]:
        sources: dict[specs.Source, MetricSource] = {s: make() for s, make in self._factories.items()}
        ok: bool | None = None
        if _asks_router(wanted):
            ok, why = await self._route_applied(request)
            if not ok:
                # The check gate can only say "not performed yet"; the operator log says why.
                _log.info(
                    "%s: %s not shown: %s", request.context.candidate, presets.ROUTER_ACCEPTS_ZERO_WEIGHT, why
                )
        sources[specs.Source.OPERATOR] = _Checks(request.checks, ok)
        try:
            measured = await asyncio.gather(*(self._one(spec, sources, request) for spec in wanted))
        finally:
            for source in sources.values():
                close = getattr(source, "aclose", None)
                if close is not None:
                    await close()
        return tuple(evaluating.evaluate(spec, obs) for spec, obs in zip(wanted, measured, strict=True))

    async def _route_applied(self, request: AnalysisRequest) -> tuple[bool | None, str]:
        """Whether the data plane applies the route version the operator wrote, and why not."""
        evidence = request.route
        if evidence is None:
            return None, "the route's applied version was not gathered"
        if evidence.missing:
            return None, evidence.missing
        reports = evidence.reports
        if reports is None:
            if self._router_versions is None:
                return None, "no Prometheus is configured to read the routers' applied table version"
            versions = self._router_versions()
            try:
                got = await versions.applied(request.context.route, request.context.at)
            finally:
                close = getattr(versions, "aclose", None)
                if close is not None:
                    await close()
            if isinstance(got, str):
                return None, got
            reports = tuple(applied.Report(replica, v) for replica, v in sorted(got.items()))
        return applied.decide(evidence.written, reports)

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

"""The first half of a reconcile: look at the world and describe it as ``Observations``.

Reads only. Every lookup that can fail for a reason the user should see (a missing target, a
route that is gone, a baseline that moved) becomes an observation, not an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shadowgate.controller import production as prod
from shadowgate.controller import workload
from shadowgate.controller.analysis import AnalysisRequest, route_evidence
from shadowgate.controller.runtime import Runtime, Subject
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import Status
from shadowgate.core.lifecycle.transition import analysis_due
from shadowgate.evaluation import launcher
from shadowgate.kube.base import NotFound, Obj
from shadowgate.sources.base import QueryContext
from shadowgate.sources.promapi import PrometheusError
from shadowgate.traffic.base import RouteNotFound

log = logging.getLogger("shadowgate.controller")
_BASELINE_CHECKED = (Phase.PENDING, Phase.QUEUED, Phase.DEPLOYING)


@dataclass(frozen=True)
class Seen:
    observations: o.Observations
    production: Obj | None  # the production Deployment, for the actions that need its template


def gather(rt: Runtime, subject: Subject, status: Status, queue_ahead: int, now: datetime) -> Seen:
    spec = subject.spec
    lifecycle = subject.lifecycle
    base: dict[str, Any] = dict(spec=lifecycle, generation=subject.generation, queue_ahead=queue_ahead)
    if subject.gate_error:
        return Seen(o.Observations(**base, spec_error=subject.gate_error), None)
    production, problem, reason = _target(rt, subject, status)
    if production is None:
        return Seen(
            o.Observations(**base, target_found=False, target_reason=reason, target_message=problem), None
        )
    if status.phase not in (Phase.PENDING, Phase.QUEUED):  # no workload before Deploying: save the read
        base["candidate"] = _workload(rt, subject)
    current = prod.template_of(production)
    base["production"] = current
    base["production_promotion"] = prod.promoted(current, spec, rt.flags)  # recorded on promoting
    if status.phase is Phase.PROMOTING:
        base["production_promoted"] = workload.serves(production, spec, rt.flags) and workload.available(
            production
        )
        base["production_rollout"] = prod.rollout(production)
    if analysis_due(status, lifecycle.analysis_interval_s, now):
        since = status.step_since if status.phase is Phase.CANARY else status.phase_since
        window_s = max(1.0, (now - since).total_seconds()) if since else lifecycle.analysis_interval_s
        request = AnalysisRequest(
            context=QueryContext(
                namespace=subject.namespace,
                target=spec.target.deployment,
                candidate=subject.name,
                route=spec.target.route,
                window=f"{int(window_s + 0.999)}s",
                at=now.timestamp(),
            ),
            phase=status.phase,
            gates=lifecycle.gates,
            checks={"rollback": workload.available(production)},
            model_kind=_model_kind(spec) if status.phase is Phase.EVALUATING else None,
            # Direct read, not the watch cache: the version must be at least the last write.
            route=route_evidence(rt.traffic(spec.target.provider), subject.route_target()),
        )
        base["gates"] = rt.analyzer.analyse(request)
        if rt.samples is not None:
            try:
                base["samples"] = rt.samples.count(status.phase, spec.target.route, window_s)
            except PrometheusError as exc:
                # Unknown is not "enough": the phase holds, and the log says why.
                log.warning("%s/%s: sample count unavailable: %s", subject.namespace, subject.name, exc)
    return Seen(o.Observations(**base), production)


def _target(rt: Runtime, subject: Subject, status: Status) -> tuple[Obj | None, str, str]:
    """The production Deployment, or None with (message, reason) when the target is not usable."""
    target = subject.spec.target
    try:
        production = rt.reader.get(subject.namespace, target.deployment)
    except NotFound:
        return (
            None,
            f"production Deployment {subject.namespace}/{target.deployment} not found",
            "TargetNotFound",
        )
    try:
        rt.observing_traffic(target.provider).reconcile(subject.route_target())
    except RouteNotFound as exc:
        return None, str(exc), "TargetNotFound"
    baseline = subject.spec.baseline
    if status.phase in _BASELINE_CHECKED and (baseline.archive_uri or baseline.version):
        serving = workload.production_model(production, rt.flags)
        expected = {"archiveUri": baseline.archive_uri, "version": baseline.version}
        if any(v and serving.get(k) != v for k, v in expected.items()):
            return None, f"production serves {serving}, not the baseline {expected}", "BaselineMismatch"
    return production, "", ""


def _workload(rt: Runtime, subject: Subject) -> o.Workload:
    try:
        deployment = rt.reader.get(subject.namespace, subject.workload)
    except NotFound:
        return o.Workload()
    # A candidate with no ready Pod serves nothing, even if scaled to 0 "successfully".
    serving = int((deployment.get("status") or {}).get("availableReplicas") or 0) >= 1
    return o.Workload(
        exists=True,
        available=workload.available(deployment) and serving,
        failure=workload.failure(deployment),
    )


_BUILT_IN_KINDS = frozenset({"retriever", "classifier", "reranker"})


def _model_kind(spec: Any) -> str | None:
    """The handler the candidate runs: ``model.handler`` if given, else its archive's manifest
    when the operator can read it (a local path or ``file://``); None means unknown, and then
    every evaluation gate applies (e2e integration fix: without the kind, the preset's
    classifier gates held a retriever in Evaluating forever)."""
    handler = spec.model.handler
    if not handler:
        try:
            handler = str(launcher.archive_manifest(spec.model.archive_uri).get("handler", ""))
        except launcher.LaunchError:
            return None
    return handler if handler in _BUILT_IN_KINDS else None

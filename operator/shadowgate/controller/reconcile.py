"""One reconcile of one Candidate: observe -> transition -> act -> status.

Free of kopf so it can be unit-tested with fakes and driven by the benchmark; ``handlers``
calls it from a kopf timer and patches the returned status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shadowgate.controller import act, candidate, observe, workload
from shadowgate.controller import production as prod
from shadowgate.controller.runtime import Runtime, Subject
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle import production
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.spec import LifecycleSpec
from shadowgate.core.lifecycle.status import Status
from shadowgate.core.lifecycle.transition import transition
from shadowgate.kube.base import NotFound

log = logging.getLogger("shadowgate.controller")


@dataclass(frozen=True)
class QueueEntry:
    """What the queue needs to know about each Candidate of a target."""

    created: str
    name: str
    phase: str

    @property
    def waiting_or_holding(self) -> bool:
        return not Phase(self.phase or "Pending").terminal


def queue_ahead(me: QueueEntry, others: Iterable[QueueEntry]) -> int:
    """Candidates for the same target created before ``me`` (ties by name) that are not finished."""
    return sum(1 for e in others if (e.created, e.name) < (me.created, me.name) and e.waiting_or_holding)


def reconcile(rt: Runtime, body: dict[str, Any], ahead: int) -> dict[str, Any] | None:
    """Returns the status to patch, or None when there is nothing to write."""
    started = time.perf_counter()
    meta, raw_status = body["metadata"], body.get("status") or {}
    status = Status.from_dict(raw_status)
    generation = int(meta.get("generation") or 1)
    if status.phase.terminal and status.observed_generation == generation:
        return None
    now = rt.clock()
    try:
        admitted = candidate.admit(body.get("spec") or {})
    except (ValidationError, ValueError) as exc:
        invalid = o.Observations(
            spec=LifecycleSpec(fingerprint="invalid"),
            generation=generation,
            spec_error=f"invalid spec: {exc}",
        )
        decision = transition(status, invalid, now)
        return decision.status.to_dict()
    subject = Subject(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=generation,
        spec=admitted.spec,
        body=body,
        lifecycle=admitted.lifecycle,
        gate_error=admitted.gate_error,
    )
    spec = admitted.spec
    try:
        seen = observe.gather(rt, subject, status, ahead, now)
        decision = transition(status, seen.observations, now)
        act.apply(rt, subject, seen.production, decision.actions)
    except Exception:
        rt.metrics.reconcile_errors.inc()
        raise
    finally:
        rt.metrics.reconcile_duration.observe(time.perf_counter() - started)
    out = decision.status.to_dict()
    baseline = raw_status.get("baseline")
    if not baseline and seen.production is not None:
        baseline = workload.production_model(seen.production, rt.flags) or None
    out["baseline"] = baseline
    rt.metrics.observe(subject.namespace, subject.name, spec.target.deployment, status, decision.status)
    for entry in (
        decision.status.history[len(status.history) :] if decision.status.history != status.history else ()
    ):
        log.info(
            "%s/%s: %s -> %s (%s) %s",
            subject.namespace,
            subject.name,
            entry.from_phase,
            entry.to_phase,
            entry.reason,
            entry.message,
        )
    # Most ticks change nothing; an unchanged status is not written (each write is an API call
    # and a watch event for every client of Candidates).
    if all(raw_status.get(key) == value for key, value in out.items()):
        return None
    return out


def cleanup(rt: Runtime, body: dict[str, Any]) -> None:
    """On deletion: production routing first, then a promotion in progress, then the candidate's
    resources."""
    meta = body["metadata"]
    try:
        admitted = candidate.admit(body.get("spec") or {})
    except (ValidationError, ValueError):
        return
    spec = admitted.spec
    subject = Subject(
        meta["namespace"],
        meta["name"],
        meta.get("uid", ""),
        int(meta.get("generation") or 1),
        spec,
        body,
        admitted.lifecycle,
    )
    rt.traffic(spec.target.provider).finalize(subject.route_target())
    _abandon_promotion(rt, subject, Status.from_dict(body.get("status")))
    rt.deployments.delete(subject.namespace, subject.workload)
    rt.services.delete(subject.namespace, subject.workload)
    rt.metrics.forget(subject.namespace, subject.name)


def _abandon_promotion(rt: Runtime, subject: Subject, status: Status) -> None:
    """A Candidate deleted while Promoting takes its promotion back, if production is still
    exactly what the promotion wrote (the status records both sides; someone else's change stays)."""
    before, promoted = status.production_before, status.production_promotion
    if status.phase is not Phase.PROMOTING or before is None or promoted is None:
        return
    try:
        current = rt.deployments.get(subject.namespace, subject.spec.target.deployment)
    except NotFound:
        return
    template = production.revert_to(prod.template_of(current), before, promoted)
    if template is not None:
        rt.deployments.patch(subject.namespace, subject.spec.target.deployment, prod.patch_to(template))

"""The second half of a reconcile: apply the transition's actions, in order, idempotently.

An action that fails raises, the reconcile is retried, and status is not patched, so the next
attempt recomputes the same decision from the same status. Actions run in order (routes go back
to production before the candidate's workload is deleted); inside one action, writes that do not
depend on each other (the candidate's Deployment and its Service) are issued together, because a
writing reconcile's time is its API-server round trips (docs/benchmarks.md, "Operator at scale").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from shadowgate.controller import production as prod
from shadowgate.controller import workload
from shadowgate.controller.runtime import Runtime, Subject
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle.production import Template
from shadowgate.core.lifecycle.status import parse_time
from shadowgate.kube.base import NotFound, Obj
from shadowgate.traffic.base import Routes, RouteTarget, TrafficProvider


def apply(rt: Runtime, subject: Subject, production: Obj | None, actions: tuple[o.Action, ...]) -> None:
    traffic = rt.traffic(subject.spec.target.provider)
    target = subject.route_target()
    for action in actions:
        if isinstance(action, o.EnsureWorkload):
            _ensure(rt, subject, production)
        elif isinstance(action, o.DeleteWorkload):
            together(
                lambda: rt.deployments.delete(subject.namespace, subject.workload),
                lambda: rt.services.delete(subject.namespace, subject.workload),
            )
        elif isinstance(action, o.SetRoutes):
            routes = Routes(action.primary_weight, action.canary_weight, action.mirror_percent)
            traffic.set_routes(target, routes)
            if routes.canary_weight > 0:
                _report_stickiness(rt, subject, traffic, target)
        elif isinstance(action, o.RestoreRoutes):
            traffic.finalize(target)
        elif isinstance(action, o.PromoteProduction):
            if action.template is None:
                _promote(rt, subject, production)
            else:
                _write(rt, subject, production, action.template)
        elif isinstance(action, o.RevertProduction):
            _write(rt, subject, production, action.template)
        elif isinstance(action, o.EmitEvent):
            rt.events(subject.body, "Warning" if action.warning else "Normal", action.reason, action.message)
        elif isinstance(action, o.RecordRollback):
            failed_at = parse_time(action.failed_at)
            if failed_at is not None:
                rt.metrics.rollback.observe(max(0.0, (rt.clock() - failed_at).total_seconds()))


def _report_stickiness(rt: Runtime, subject: Subject, traffic: TrafficProvider, target: RouteTarget) -> None:
    """A canary split that cannot pin users to one variant (a Gateway whose HTTPRoute CRD has no
    session persistence) is said on the Candidate, at each step, instead of passing silently."""
    notice = traffic.stickiness(target)
    if notice:
        rt.events(subject.body, "Warning", "StickinessUnsupported", notice)


def _ensure(rt: Runtime, subject: Subject, production: Obj | None) -> None:
    if production is None:
        raise NotFound(
            f"production Deployment {subject.spec.target.deployment} is needed to build the candidate"
        )
    try:
        service = rt.services.get(subject.namespace, subject.spec.target.production_service)
    except NotFound:
        service = None
    body = workload.candidate_deployment(
        production, service, subject.name, subject.uid, subject.spec, rt.flags
    )
    service_body = workload.candidate_service(production, subject.name, subject.uid)
    together(
        lambda: rt.deployments.apply(subject.namespace, body),
        lambda: rt.services.apply(subject.namespace, service_body),
    )


def together(first: Callable[[], object], second: Callable[[], object]) -> None:
    """Two independent writes at once: the reconcile waits for the slower one, not for both in
    turn. Both always run to completion; the first one's error is raised, else the second's."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadowgate-write") as pool:
        later = pool.submit(second)
        try:
            first()
        except BaseException:
            later.exception()  # wait, so nothing is still writing when the error surfaces
            raise
        later.result()


def _write(rt: Runtime, subject: Subject, production: Obj | None, template: Template) -> None:
    """Make production serve ``template`` (a promotion or its revert); nothing if it does."""
    if production is None:
        raise NotFound(f"production Deployment {subject.spec.target.deployment} is gone")
    if prod.template_of(production) == template:
        return
    rt.deployments.patch(subject.namespace, subject.spec.target.deployment, prod.patch_to(template))


def _promote(rt: Runtime, subject: Subject, production: Obj | None) -> None:
    if production is None:
        raise NotFound(f"production Deployment {subject.spec.target.deployment} is gone")
    if workload.serves(production, subject.spec, rt.flags):
        return
    patch = workload.promotion_patch(production, subject.spec, rt.flags)
    rt.deployments.patch(subject.namespace, subject.spec.target.deployment, patch)

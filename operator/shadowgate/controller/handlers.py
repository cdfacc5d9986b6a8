"""kopf registration: an index of Candidates per target, the reconcile timer, the finalizer.

Thin by design: each handler reads what kopf gives it, calls ``reconcile`` and hands back the
status patch. One timer per Candidate ticks every ``tick_s``; the Candidate's own analysis
interval is enforced in the lifecycle (``analysis_due``), so intervals can differ per
Candidate and survive restarts (the last analysis time is in status).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import kopf

from shadowgate.controller import reconcile
from shadowgate.controller.runtime import Runtime
from shadowgate.kube import cached

GROUP, VERSION, PLURAL = "shadowgate.dev", "v1alpha1", "candidates"


def register(registry: kopf.OperatorRegistry, runtime: Callable[[], Runtime], tick_s: float) -> None:
    @kopf.index(GROUP, VERSION, PLURAL, registry=registry, id="candidates_by_target")
    def candidates_by_target(**kwargs: Any) -> dict[tuple[str, str], reconcile.QueueEntry]:
        # kopf's handler Protocols pass everything by keyword; take what is used.
        meta, status = kwargs["meta"], kwargs["status"]
        key = _target_key(kwargs["namespace"], kwargs["spec"])
        entry = reconcile.QueueEntry(
            created=str(meta.get("creationTimestamp", "")),
            name=str(meta.get("name")),
            phase=status.get("phase", ""),
        )
        return {key: entry}

    # Watch caches: a quiet reconcile reads Deployments and route tables from memory.
    @kopf.index("apps", "v1", "deployments", registry=registry, id="deployments_by_name")
    def deployments_by_name(**kwargs: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return {(kwargs["namespace"], kwargs["name"]): dict(kwargs["body"])}

    @kopf.index(
        "",
        "v1",
        "configmaps",
        registry=registry,
        id="route_tables",
        labels={"shadowgate.dev/route-table": "true"},
    )
    def route_tables(**kwargs: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return {(kwargs["namespace"], kwargs["name"]): dict(kwargs["body"])}

    @kopf.timer(GROUP, VERSION, PLURAL, interval=tick_s, backoff=1.0, registry=registry, id="reconcile")
    def tick(**kwargs: Any) -> None:
        body, meta, patch = kwargs["body"], kwargs["meta"], kwargs["patch"]
        index: kopf.Index[tuple[str, str], reconcile.QueueEntry] = kwargs["candidates_by_target"]
        key = _target_key(kwargs["namespace"], kwargs["spec"])
        me = reconcile.QueueEntry(
            created=str(meta.get("creationTimestamp", "")), name=str(meta.get("name")), phase=""
        )
        ahead = reconcile.queue_ahead(me, index.get(key, []))
        rt = with_caches(runtime(), kwargs["deployments_by_name"], kwargs["route_tables"])
        try:
            status = reconcile.reconcile(rt, dict(body), ahead)
        except Exception as exc:
            # Retry soon: the next tick recomputes the same decision from the same status.
            raise kopf.TemporaryError(f"reconcile failed: {exc}", delay=tick_s) from exc
        if status is not None:
            patch.status.update(status)

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, backoff=1.0)
    def finalize(**kwargs: Any) -> None:
        try:
            reconcile.cleanup(runtime(), dict(kwargs["body"]))
        except Exception as exc:
            raise kopf.TemporaryError(f"cleanup failed: {exc}", delay=1.0) from exc


def _target_key(namespace: str, spec: Any) -> tuple[str, str]:
    return (namespace, str((spec.get("target") or {}).get("deployment", "")))


def _lookup(index: kopf.Index[tuple[str, str], dict[str, Any]]) -> Any:
    def lookup(namespace: str, name: str) -> dict[str, Any] | None:
        for body in index.get((namespace, name), []):
            return body
        return None

    return lookup


def with_caches(rt: Runtime, deployments: Any, configmaps: Any) -> Runtime:
    return dataclasses.replace(
        rt,
        cached_deployments=cached.CachedDeployments(rt.deployments, _lookup(deployments)),
        cached_configmaps=cached.CachedConfigMaps(rt.configmaps, _lookup(configmaps)),
    )

"""The Kubernetes table source: watched ConfigMaps for the table, Services and Pods for endpoints.

The kubernetes client is synchronous, so each list+watch runs in a daemon thread and posts
*copies* of its cache to the event loop with ``call_soon_threadsafe``; all merging happens on the
loop's thread. A failed list or watch marks the source down (the last good table keeps serving)
and retries with backoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from router.endpoints import Address, Endpoints
from router.sources import TableAssembler
from router.table import ServiceBackend

log = logging.getLogger(__name__)
LABEL = "shadowgate.dev/route-table=true"
KEY = "route.json"


@dataclasses.dataclass(frozen=True, slots=True)
class PodInfo:
    labels: tuple[tuple[str, str], ...]
    ip: str
    ready: bool
    ports: tuple[tuple[str, int], ...]  # named container ports


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceInfo:
    selector: tuple[tuple[str, str], ...]
    target_ports: tuple[tuple[int, int | str], ...]  # service port -> targetPort


def pod_info(pod: Any) -> PodInfo:
    st = pod.status
    ready = bool(
        st is not None
        and st.pod_ip
        and pod.metadata.deletion_timestamp is None
        and st.phase not in ("Failed", "Succeeded")
        and any(c.type == "Ready" and c.status == "True" for c in (st.conditions or []))
    )
    ports = tuple(
        (p.name, int(p.container_port))
        for c in (pod.spec.containers or [])
        for p in (c.ports or [])
        if p.name
    )
    labels = tuple(sorted((pod.metadata.labels or {}).items()))
    return PodInfo(labels, (st.pod_ip if st is not None else "") or "", ready, ports)


def service_info(svc: Any) -> ServiceInfo:
    sel = tuple(sorted((svc.spec.selector or {}).items()))
    tps = tuple(
        (int(p.port), p.target_port if p.target_port is not None else int(p.port))
        for p in svc.spec.ports or []
    )
    return ServiceInfo(sel, tps)


def endpoints_for(
    b: ServiceBackend, svc: ServiceInfo | None, pods: dict[str, PodInfo]
) -> tuple[Address, ...]:
    """Ready Pods selected by the Service, at the backend port mapped through targetPort."""
    if svc is None or not svc.selector:
        return ()
    target: int | str = dict(svc.target_ports).get(b.port, b.port)
    out: list[Address] = []
    for pod in pods.values():
        if not pod.ready or not set(svc.selector) <= set(pod.labels):
            continue
        if isinstance(target, str) and not target.isdigit():
            port = dict(pod.ports).get(target)
            if port is None:
                continue
        else:
            port = int(target)
        out.append((pod.ip, port))
    return tuple(out)


class _Watcher(threading.Thread):
    """List, then watch, one resource kind; post a copy of the cache after every change."""

    def __init__(
        self,
        name: str,
        list_fn: Callable[..., Any],
        convert: Callable[[Any], Any],
        post: Callable[[dict[str, Any] | None], None],
        stop: threading.Event,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._list_fn = list_fn
        self._convert = convert
        self._post = post
        self._stop_event = stop
        self._kwargs = kwargs

    def run(self) -> None:
        backoff = 0.2
        while not self._stop_event.is_set():
            try:
                self._list_and_watch()
                backoff = 0.2
            except Exception as exc:
                if self._stop_event.is_set():
                    return
                log.warning("%s: %s; retrying in %.1fs", self.name, exc, backoff)
                self._post(None)
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _list_and_watch(self) -> None:
        listed = self._list_fn(_request_timeout=5, **self._kwargs)
        cache = {_key(o): self._convert(o) for o in listed.items}
        self._post(dict(cache))
        w = k8s_watch.Watch()
        stream = w.stream(
            self._list_fn,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=10,
            _request_timeout=20,
            **self._kwargs,
        )
        for ev in stream:
            if self._stop_event.is_set():
                w.stop()
                return
            kind, obj = ev["type"], ev["object"]
            if kind == "ERROR":  # typically 410 Gone: relist
                return
            if kind == "DELETED":
                cache.pop(_key(obj), None)
            else:
                cache[_key(obj)] = self._convert(obj)
            self._post(dict(cache))


def _key(obj: Any) -> str:
    return f"{obj.metadata.namespace}/{obj.metadata.name}"


def _configmap(cm: Any) -> tuple[bytes, str] | None:
    raw = (cm.data or {}).get(KEY)
    return None if raw is None else (raw.encode(), cm.metadata.namespace)


class KubeSource:
    def __init__(
        self, api: k8s.ApiClient, namespace: str, endpoints: Endpoints, on_endpoints: Callable[[], None]
    ) -> None:
        self._core = k8s.CoreV1Api(api)
        self._namespace = namespace
        self._endpoints = endpoints
        self._on_endpoints = on_endpoints
        self._stop = threading.Event()
        self._services: dict[str, dict[str, ServiceInfo]] = {}
        self._pods: dict[str, dict[str, PodInfo]] = {}
        self._watched: set[str] = set()
        self._backends: set[ServiceBackend] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, assembler: TableAssembler) -> None:
        self._loop = asyncio.get_running_loop()
        loop = self._loop

        def post_cms(cache: dict[str, Any] | None) -> None:
            loop.call_soon_threadsafe(self._on_configmaps, assembler, cache)

        if self._namespace:
            fn: Callable[..., Any] = self._core.list_namespaced_config_map
            kw: dict[str, Any] = {"namespace": self._namespace}
        else:
            fn, kw = self._core.list_config_map_for_all_namespaces, {}
        _Watcher("configmaps", fn, _configmap, post_cms, self._stop, label_selector=LABEL, **kw).start()
        try:
            await asyncio.Event().wait()
        finally:
            self._stop.set()

    def _on_configmaps(self, assembler: TableAssembler, cache: dict[str, Any] | None) -> None:
        if cache is None:
            assembler.source_up(False)
            return
        assembler.source_up(True)
        assembler.update({f"configmap/{k}": v for k, v in cache.items() if v is not None})

    def watch_backends(self, backends: set[ServiceBackend]) -> None:
        """Called after each table swap: watch the namespaces these backends live in."""
        self._backends = set(backends)
        for ns in {b.namespace for b in backends} - self._watched:
            self._watched.add(ns)
            self._start_namespace(ns)
        self._recompute()

    def _start_namespace(self, ns: str) -> None:
        loop = self._loop
        assert loop is not None

        def post(kind: str) -> Callable[[dict[str, Any] | None], None]:
            def _post(cache: dict[str, Any] | None) -> None:
                if cache is not None:
                    loop.call_soon_threadsafe(self._on_objects, kind, ns, cache)

            return _post

        core = self._core
        _Watcher(
            f"services/{ns}",
            core.list_namespaced_service,
            service_info,
            post("svc"),
            self._stop,
            namespace=ns,
        ).start()
        _Watcher(
            f"pods/{ns}", core.list_namespaced_pod, pod_info, post("pod"), self._stop, namespace=ns
        ).start()

    def _on_objects(self, kind: str, ns: str, cache: dict[str, Any]) -> None:
        (self._services if kind == "svc" else self._pods)[ns] = cache
        self._recompute()

    def _recompute(self) -> None:
        sets = {
            b: endpoints_for(
                b,
                self._services.get(b.namespace, {}).get(f"{b.namespace}/{b.service}"),
                self._pods.get(b.namespace, {}),
            )
            for b in self._backends
        }
        self._endpoints.replace(sets)
        self._on_endpoints()

    def stop(self) -> None:
        self._stop.set()

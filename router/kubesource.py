"""The Kubernetes table source: watched ConfigMaps for the table, and a backend source's kinds
(:mod:`router.backends`: Services and Pods, or Services and EndpointSlices) for endpoints.

Each list+watch runs in a daemon thread (:mod:`router.kubewatch`) and posts *copies* of its cache
to the event loop with ``call_soon_threadsafe``; all merging happens on the loop's thread. A
failed list or watch of the ConfigMaps marks the source down (the last good table keeps serving);
every watch retries with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

from router import backends_pods, backends_slices, kubewatch
from router.backends import DEFAULT, SOURCES, Backends
from router.endpoints import Endpoints
from router.sources import TableAssembler
from router.table import ServiceBackend

log = logging.getLogger(__name__)
LABEL = "shadowgate.dev/route-table=true"
KEY = "route.json"


def make_backends(name: str, api: k8s.ApiClient) -> Backends:
    """The backend source a ``--backends`` value names."""
    if name == "pods":
        return backends_pods.PodBackends(k8s.CoreV1Api(api))
    if name == "endpointslices":
        return backends_slices.SliceBackends(k8s.CoreV1Api(api), k8s.DiscoveryV1Api(api))
    raise ValueError(f"backends must be one of {', '.join(SOURCES)}, got {name!r}")


def _configmap(cm: Any) -> tuple[bytes, str] | None:
    raw = (cm.data or {}).get(KEY)
    return None if raw is None else (raw.encode(), cm.metadata.namespace)


class KubeSource:
    def __init__(
        self,
        api: k8s.ApiClient,
        namespace: str,
        endpoints: Endpoints,
        on_endpoints: Callable[[], None],
        backends: Backends | None = None,
    ) -> None:
        self._core = k8s.CoreV1Api(api)
        self._namespace = namespace
        self._endpoints = endpoints
        self._on_endpoints = on_endpoints
        self._backends = backends if backends is not None else make_backends(DEFAULT, api)
        self._stop = threading.Event()
        # namespace -> watched kind -> "namespace/name" -> converted object
        self._caches: dict[str, dict[str, dict[str, Any]]] = {}
        self._watched: set[str] = set()
        self._wanted: set[ServiceBackend] = set()
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
        kubewatch.Watcher(
            "configmaps", fn, _configmap, post_cms, self._stop, label_selector=LABEL, **kw
        ).start()
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
        self._wanted = set(backends)
        for ns in {b.namespace for b in backends} - self._watched:
            self._watched.add(ns)
            self._start_namespace(ns)
        self._recompute()

    def _start_namespace(self, ns: str) -> None:
        loop = self._loop
        assert loop is not None

        def post(kind: str) -> kubewatch.Post:
            def _post(cache: dict[str, Any] | None) -> None:
                # A failed watch keeps its last cache: endpoints go stale rather than vanish.
                if cache is not None:
                    loop.call_soon_threadsafe(self._on_objects, kind, ns, cache)

            return _post

        for w in self._backends.watches():
            kw: dict[str, Any] = {"namespace": ns}
            if w.label_selector:
                kw["label_selector"] = w.label_selector
            kubewatch.Watcher(f"{w.kind}/{ns}", w.list_fn, w.convert, post(w.kind), self._stop, **kw).start()

    def _on_objects(self, kind: str, ns: str, cache: dict[str, Any]) -> None:
        self._caches.setdefault(ns, {})[kind] = cache
        self._recompute()

    def _recompute(self) -> None:
        sets = {b: self._backends.endpoints(b, self._caches.get(b.namespace, {})) for b in self._wanted}
        self._endpoints.replace(sets)
        self._on_endpoints()

    def stop(self) -> None:
        self._stop.set()

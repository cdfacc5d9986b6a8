"""Service backends resolved by watching Services and the Pods their selector matches.

The alternative to EndpointSlices (``--backends pods``) for a cluster whose Pod IPs get no
slices (the API server refuses loopback addresses in them) or where the router may read Pods but
not slices. A Pod counts while it has an IP, is not being deleted, has not ended and is Ready;
the Service port maps through ``targetPort`` (a number, or a container port name looked up in each
Pod), as the EndpointSlice controller would map it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s

from router.backends import Caches, ServiceInfo, Watch, service_info, service_of
from router.endpoints import Address
from router.table import ServiceBackend


@dataclasses.dataclass(frozen=True, slots=True)
class PodInfo:
    labels: tuple[tuple[str, str], ...]
    ip: str
    ready: bool
    ports: tuple[tuple[str, int], ...]  # named container ports


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


def endpoints_for(
    b: ServiceBackend, svc: ServiceInfo | None, pods: Mapping[str, PodInfo]
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


class PodBackends:
    name = "pods"

    def __init__(self, core: k8s.CoreV1Api) -> None:
        self._core = core

    def watches(self) -> tuple[Watch, ...]:
        return (
            Watch("svc", self._core.list_namespaced_service, service_info),
            Watch("pod", self._core.list_namespaced_pod, pod_info),
        )

    def endpoints(self, backend: ServiceBackend, caches: Caches) -> tuple[Address, ...]:
        return endpoints_for(backend, service_of(backend, caches), caches.get("pod", {}))

"""Service backends resolved from EndpointSlices, the way kube-proxy reads them.

A Service's slices are the ``discovery.k8s.io/v1`` EndpointSlices labelled
``kubernetes.io/service-name: <service>`` in its namespace, whoever manages them (the
EndpointSlice controller for a selector, a user or mirroring for a selectorless Service). The
backend names a Service port; a slice's ports carry only the port's *name*, so the Service is
watched too, to map the number to the name (the controller has already resolved a named
``targetPort`` to each Pod's number). Conditions follow the API contract and kube-proxy: ``ready``
and ``serving`` unset mean true, ``terminating`` unset means false; the ready endpoints are used,
and only when none is ready the serving-and-terminating ones, so a rollout whose old Pods are
draining still has somewhere to send requests. FQDN slices are ignored, as kube-proxy does. An
address listed in several slices (slices are rewritten one at a time) counts once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s

from router.backends import Caches, ServiceInfo, Watch, service_info, service_of
from router.endpoints import Address
from router.table import ServiceBackend

SERVICE_NAME = "kubernetes.io/service-name"
ADDRESS_TYPES = ("IPv4", "IPv6")


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    addresses: tuple[str, ...]
    ready: bool
    serving: bool
    terminating: bool


@dataclasses.dataclass(frozen=True, slots=True)
class SliceInfo:
    service: str  # the kubernetes.io/service-name label; "" for a slice without it
    address_type: str
    ports: tuple[tuple[str, int], ...]  # port name ("" when unnamed) -> port number
    endpoints: tuple[Endpoint, ...]


def _flag(value: bool | None, unset: bool) -> bool:
    return unset if value is None else bool(value)


def slice_info(es: Any) -> SliceInfo:
    endpoints = []
    for ep in es.endpoints or []:
        cond = ep.conditions
        endpoints.append(
            Endpoint(
                addresses=tuple(ep.addresses or ()),
                ready=_flag(cond.ready if cond is not None else None, True),
                serving=_flag(cond.serving if cond is not None else None, True),
                terminating=_flag(cond.terminating if cond is not None else None, False),
            )
        )
    # The API allows a port without a number in slices not derived from a Service; it gives no
    # address to send to, so it is left out.
    ports = tuple((p.name or "", int(p.port)) for p in es.ports or [] if p.port is not None)
    service = (es.metadata.labels or {}).get(SERVICE_NAME, "")
    return SliceInfo(service, es.address_type or "", ports, tuple(endpoints))


def endpoints_from_slices(
    b: ServiceBackend, svc: ServiceInfo | None, slices: Mapping[str, SliceInfo]
) -> tuple[Address, ...]:
    """The backend's ready addresses, or its serving-terminating ones when none is ready."""
    if svc is None:
        return ()
    names = dict(svc.port_names)
    if b.port not in names:  # as on a cluster: a port the Service does not declare reaches nothing
        return ()
    name = names[b.port]
    ready: set[Address] = set()
    draining: set[Address] = set()
    for s in slices.values():
        if s.service != b.service or s.address_type not in ADDRESS_TYPES:
            continue
        port = dict(s.ports).get(name)
        if port is None:
            continue
        for ep in s.endpoints:
            if ep.ready:
                ready.update((a, port) for a in ep.addresses)
            elif ep.serving and ep.terminating:
                draining.update((a, port) for a in ep.addresses)
    return tuple(sorted(ready or draining))


class SliceBackends:
    name = "endpointslices"

    def __init__(self, core: k8s.CoreV1Api, discovery: k8s.DiscoveryV1Api) -> None:
        self._core = core
        self._discovery = discovery

    def watches(self) -> tuple[Watch, ...]:
        return (
            Watch("svc", self._core.list_namespaced_service, service_info),
            # Only slices that belong to a Service: the label's existence is the selector.
            Watch("slice", self._discovery.list_namespaced_endpoint_slice, slice_info, SERVICE_NAME),
        )

    def endpoints(self, backend: ServiceBackend, caches: Caches) -> tuple[Address, ...]:
        return endpoints_from_slices(backend, service_of(backend, caches), caches.get("slice", {}))

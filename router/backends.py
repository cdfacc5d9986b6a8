"""Where a Service backend's addresses come from: one small interface, two implementations.

A :class:`Backends` names the resource kinds the Kubernetes source must watch in each namespace a
table uses, and turns those caches into the ready addresses of one backend. The source owns the
threads and the merging; an implementation is pure apart from naming its list calls, so tests
feed it plain objects.

- ``endpointslices`` (:mod:`router.backends_slices`, the default): Services and their
  EndpointSlices, as kube-proxy reads them (ready endpoints, serving-terminating ones when none is
  ready); works for selectorless Services too and needs no access to Pods.
- ``pods`` (:mod:`router.backends_pods`): Services and the Pods their selector matches, for a
  cluster whose Pod IPs get no EndpointSlices (the API server refuses loopback addresses in them)
  or where the router may read Pods but not slices; it needs ``pods`` RBAC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from router.endpoints import Address
from router.table import ServiceBackend

# kind -> "namespace/name" -> the converted object, for one namespace.
Caches = Mapping[str, Mapping[str, Any]]
SOURCES = ("pods", "endpointslices")
# What kube-proxy and every other client of a Service read, and the narrower RBAC.
DEFAULT = "endpointslices"


@dataclasses.dataclass(frozen=True, slots=True)
class Watch:
    """One resource kind to list and watch per namespace."""

    kind: str  # the key of its cache in ``Caches``
    list_fn: Callable[..., Any]  # a namespaced list call (namespace=..., label_selector=..., watch)
    convert: Callable[[Any], Any]  # client object -> the frozen value the cache keeps
    label_selector: str = ""


class Backends(Protocol):
    name: str

    def watches(self) -> tuple[Watch, ...]:
        """The kinds to watch in each namespace a backend lives in."""

    def endpoints(self, backend: ServiceBackend, caches: Caches) -> tuple[Address, ...]:
        """The backend's addresses now, from that namespace's caches; () when none is ready."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceInfo:
    selector: tuple[tuple[str, str], ...]
    target_ports: tuple[tuple[int, int | str], ...]  # service port -> targetPort
    # service port -> port name ("" when unnamed): EndpointSlice ports carry only the name.
    port_names: tuple[tuple[int, str], ...] = ()


def service_info(svc: Any) -> ServiceInfo:
    sel = tuple(sorted((svc.spec.selector or {}).items()))
    ports = svc.spec.ports or []
    tps = tuple((int(p.port), p.target_port if p.target_port is not None else int(p.port)) for p in ports)
    names = tuple((int(p.port), p.name or "") for p in ports)
    return ServiceInfo(sel, tps, names)


def service_of(backend: ServiceBackend, caches: Caches) -> ServiceInfo | None:
    svc: ServiceInfo | None = caches.get("svc", {}).get(f"{backend.namespace}/{backend.service}")
    return svc

"""Backend resolution: a table backend -> one (host, port) to send this request to.

URL backends resolve to themselves. Service backends resolve to the addresses the Kubernetes
source reports for them (ready Pods or EndpointSlice endpoints, see ``router.backends``);
requests round-robin over them. The endpoint sets are replaced whole, from the
event loop's thread, so a lookup never sees a half-updated set.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from router.table import Backend, ServiceBackend, UrlBackend

Address = tuple[str, int]


class Endpoints:
    def __init__(self) -> None:
        self._sets: dict[ServiceBackend, tuple[Address, ...]] = {}
        self._rr: dict[ServiceBackend, itertools.count[int]] = {}

    def resolve(self, backend: Backend) -> Address | None:
        if isinstance(backend, UrlBackend):
            return (backend.host, backend.port)
        addrs = self._sets.get(backend)
        if not addrs:
            return None
        if len(addrs) == 1:
            return addrs[0]
        rr = self._rr.get(backend)
        if rr is None:
            rr = self._rr[backend] = itertools.count()
        return addrs[next(rr) % len(addrs)]

    def replace(self, sets: Mapping[ServiceBackend, tuple[Address, ...]]) -> None:
        """Install new endpoint sets (sorted, so round-robin order is stable across updates)."""
        self._sets = {k: tuple(sorted(v)) for k, v in sets.items()}

    def addresses(self) -> set[Address]:
        return {a for addrs in self._sets.values() for a in addrs}

    def get(self, backend: ServiceBackend) -> tuple[Address, ...]:
        return self._sets.get(backend, ())

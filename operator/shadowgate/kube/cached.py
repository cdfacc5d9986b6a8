"""Reads served from a watch cache, writes passed through.

The operator keeps kopf indexes of Deployments and route-table ConfigMaps, so a quiet reconcile
makes no API call. A cache miss is not trusted as "not found" (the watch event of an object
created a moment ago may not have arrived): it falls back to a direct read.
"""

from __future__ import annotations

from collections.abc import Callable

from shadowgate.kube.base import ConfigMaps, Deployments, Obj

Lookup = Callable[[str, str], Obj | None]


class CachedDeployments:
    def __init__(self, direct: Deployments, lookup: Lookup) -> None:
        self._direct, self._lookup = direct, lookup

    def get(self, namespace: str, name: str) -> Obj:
        cached = self._lookup(namespace, name)
        return cached if cached is not None else self._direct.get(namespace, name)

    def apply(self, namespace: str, body: Obj) -> None:
        self._direct.apply(namespace, body)

    def patch(self, namespace: str, name: str, patch: Obj) -> None:
        self._direct.patch(namespace, name, patch)

    def delete(self, namespace: str, name: str) -> None:
        self._direct.delete(namespace, name)


class CachedConfigMaps:
    """For reads that need not be fresh (does the route exist?). Writers that need the current
    resourceVersion use the direct implementation."""

    def __init__(self, direct: ConfigMaps, lookup: Lookup) -> None:
        self._direct, self._lookup = direct, lookup

    def get(self, namespace: str, name: str) -> Obj:
        cached = self._lookup(namespace, name)
        return cached if cached is not None else self._direct.get(namespace, name)

    def update_data(self, namespace: str, name: str, data: dict[str, str], resource_version: str) -> None:
        self._direct.update_data(namespace, name, data, resource_version)

"""Protocols for the few Kubernetes operations shadowgate needs, and their errors.

Objects travel as plain dicts in the API's JSON shape (camelCase), so a fake is a dict of dicts.
"""

from __future__ import annotations

from typing import Any, Protocol

Obj = dict[str, Any]


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """A write lost an optimistic-concurrency race (HTTP 409)."""


class ConfigMaps(Protocol):
    def get(self, namespace: str, name: str) -> Obj: ...

    def update_data(self, namespace: str, name: str, data: dict[str, str], resource_version: str) -> None: ...


class Deployments(Protocol):
    def get(self, namespace: str, name: str) -> Obj: ...

    def apply(self, namespace: str, body: Obj) -> None:
        """Create, or replace the spec and labels of the existing object with the same name."""
        ...

    def patch(self, namespace: str, name: str, patch: Obj) -> None: ...

    def delete(self, namespace: str, name: str) -> None:
        """Delete (foreground); a missing object is not an error."""
        ...


class Services(Protocol):
    def get(self, namespace: str, name: str) -> Obj: ...

    def apply(self, namespace: str, body: Obj) -> None: ...

    def delete(self, namespace: str, name: str) -> None: ...


class CustomObjects(Protocol):
    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> Obj: ...

    def replace(self, group: str, version: str, plural: str, namespace: str, name: str, body: Obj) -> None:
        """Replace with ``body``'s resourceVersion; raise ``Conflict`` if it moved."""
        ...

"""The route-table version each built-in router replica reports it APPLIES, read from Prometheus.

Every router replica exports ``shadowgate_router_table_version{route}`` (docs/architecture.md,
Router), set when it swaps in a table, not when the ConfigMap is written. Prometheus already
scrapes the routers for the gates, so reading the gauge there costs one query and no new
permissions or network paths from the operator to the router Pods. A replica whose scrape fails
is marked stale by Prometheus and drops out of the answer, and an answer with no replica at all
is "no evidence", so a stopped router never counts as having applied anything.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from shadowgate.core.gates import templates
from shadowgate.sources.promapi import ONE_TRY, PrometheusAPI, PrometheusError, RetryPolicy
from shadowgate.sources.prometheus_response import parse_versions

__all__ = ["QUERY", "PrometheusRouterVersions", "RouterVersions", "parse_versions"]

# ``{route}`` is filled per Candidate. Router series carry no namespace (docs/architecture.md).
QUERY = 'shadowgate_router_table_version{route="{route}"}'


class RouterVersions(Protocol):
    async def applied(self, route: str, at: float | None = None) -> dict[str, int] | str:
        """Replica -> the table version it applies for ``route``, or why that cannot be read."""
        ...


class PrometheusRouterVersions:
    def __init__(
        self,
        base_url: str,
        *,
        query: str = QUERY,
        api: PrometheusAPI | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy = ONE_TRY,
    ) -> None:
        self._owned = api is None
        self.api = api or PrometheusAPI(base_url, policy=policy, transport=transport)
        self._query = query

    async def aclose(self) -> None:
        if self._owned:
            await self.api.aclose()

    async def applied(self, route: str, at: float | None = None) -> dict[str, int] | str:
        try:
            body = await self.api.query(templates.render(self._query, {"route": route}), at)
        except PrometheusError as exc:
            return str(exc)
        return parse_versions(body)

"""The route-table version each built-in router replica reports it APPLIES, read from Prometheus.

Every router replica exports ``shadowgate_router_table_version{route}`` (docs/architecture.md,
Router), set when it swaps in a table, not when the ConfigMap is written. Prometheus already
scrapes the routers for the gates, so reading the gauge there costs one query and no new
permissions or network paths from the operator to the router Pods. A replica whose scrape fails
is marked stale by Prometheus and drops out of the answer, and an answer with no replica at all
is "no evidence", so a stopped router never counts as having applied anything.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import httpx

from shadowgate.core.gates import templates

# ``{route}`` is filled per Candidate. Router series carry no namespace (docs/architecture.md).
QUERY = 'shadowgate_router_table_version{route="{route}"}'
# Labels that name the replica in a report, the first present wins, then the whole label set.
_REPLICA_LABELS = ("pod", "instance")


class RouterVersions(Protocol):
    async def applied(self, route: str, at: float | None = None) -> dict[str, int] | str:
        """Replica -> the table version it applies for ``route``, or why that cannot be read."""
        ...


def parse_versions(body: Any) -> dict[str, int] | str:
    """The replicas' versions from an instant-vector answer (pure); an empty dict is an answer."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error", "malformed answer") if isinstance(body, dict) else "malformed answer"
        return f"prometheus: {error}"
    data = body.get("data") or {}
    if data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        return f"prometheus: expected an instant vector, got {data.get('resultType')!r}"
    out: dict[str, int] = {}
    for series in data["result"]:
        labels = series.get("metric") or {}
        name = next((str(labels[k]) for k in _REPLICA_LABELS if k in labels), "")
        replica = name or ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
        try:
            value = float(series["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            return f"prometheus: malformed sample {series!r}"
        if not math.isfinite(value):
            return f"prometheus: replica {replica} reports version {value}"
        # Two series for one replica name (e.g. relabelled twice): the lower one decides.
        out[replica] = min(int(value), out.get(replica, int(value)))
    return out


class PrometheusRouterVersions:
    def __init__(self, base_url: str, *, query: str = QUERY, timeout_s: float = 3.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)
        self._query = query

    async def aclose(self) -> None:
        await self._client.aclose()

    async def applied(self, route: str, at: float | None = None) -> dict[str, int] | str:
        params = {"query": templates.render(self._query, {"route": route})}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            resp = await self._client.get("/api/v1/query", params=params)
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            return f"prometheus unreachable or not answering JSON: {type(exc).__name__}: {exc}"
        return parse_versions(body)

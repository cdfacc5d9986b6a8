"""The built-in router: one routing-table ConfigMap per route (docs/router.md).

The ConfigMap ``shadowgate-route-<route>`` holds ``route.json``. The operator edits only the
fields it owns (canary, canaryWeight, shadow, mirrorPercent, stickyKey, stickySalt, comparison
while mirroring) and keeps the rest, bumps ``version`` on every write, and writes with the
read ``resourceVersion`` so a concurrent writer causes a retry instead of a lost update.
"""

from __future__ import annotations

import json
from typing import Any

from shadowgate.kube.base import ConfigMaps, Conflict, NotFound
from shadowgate.traffic.applied import RouteEvidence
from shadowgate.traffic.base import RouteNotFound, Routes, RouteTarget

KEY = "route.json"
LABEL = "shadowgate.dev/route-table"
_RETRIES = 5


def configmap_name(route: str) -> str:
    return f"shadowgate-route-{route}"


def desired_table(table: dict[str, Any], target: RouteTarget, routes: Routes) -> dict[str, Any]:
    """The table with this Candidate's routing applied (pure; ``version`` untouched)."""
    out = dict(table)
    candidate = {"service": target.candidate_service, "namespace": target.namespace, "port": target.port}
    out["canary"] = candidate if routes.canary_weight > 0 else None
    out["canaryWeight"] = routes.canary_weight
    out["shadow"] = candidate if routes.mirror_percent > 0 else None
    out["mirrorPercent"] = routes.mirror_percent
    if routes.canary_weight > 0 or routes.mirror_percent > 0:
        out["stickyKey"] = target.sticky_key
        out["stickySalt"] = target.salt or target.route
    if routes.mirror_percent > 0:
        comparison = dict(out.get("comparison") or {})
        # Shadow-phase agreement gates need compared pairs; the router compares none by default.
        if not comparison.get("sampleRate"):
            comparison["sampleRate"] = 1.0
        out["comparison"] = comparison
    return out


def routes_of(table: dict[str, Any]) -> Routes:
    weight = round(float(table.get("canaryWeight") or 0)) if table.get("canary") else 0
    mirror = round(float(table.get("mirrorPercent", 100) or 0)) if table.get("shadow") else 0
    return Routes(primary_weight=100 - weight, canary_weight=weight, mirror_percent=mirror)


class RouterTableProvider:
    def __init__(self, configmaps: ConfigMaps) -> None:
        self._configmaps = configmaps

    def _read(self, target: RouteTarget) -> tuple[dict[str, Any], str]:
        try:
            cm = self._configmaps.get(target.namespace, configmap_name(target.route))
        except NotFound as exc:
            name = f"{target.namespace}/{configmap_name(target.route)}"
            raise RouteNotFound(f"route {target.route!r}: ConfigMap {name} not found") from exc
        raw = (cm.get("data") or {}).get(KEY)
        if not raw:
            raise RouteNotFound(f"route {target.route!r}: ConfigMap has no {KEY}")
        try:
            table = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RouteNotFound(f"route {target.route!r}: {KEY} is not JSON: {exc}") from exc
        if not isinstance(table, dict) or not table.get("primary"):
            raise RouteNotFound(f"route {target.route!r}: {KEY} has no primary backend")
        return table, str(cm["metadata"]["resourceVersion"])

    def _write(self, target: RouteTarget, change: Any) -> None:
        for _ in range(_RETRIES):
            table, version = self._read(target)
            wanted = change(table)
            if wanted == table:
                return
            wanted["version"] = int(table.get("version") or 0) + 1
            try:
                self._configmaps.update_data(
                    target.namespace, configmap_name(target.route), {KEY: json.dumps(wanted)}, version
                )
                return
            except Conflict:
                continue
        raise Conflict(f"route {target.route!r}: gave up after {_RETRIES} conflicting writes")

    def reconcile(self, target: RouteTarget) -> None:
        self._read(target)

    def set_routes(self, target: RouteTarget, routes: Routes) -> None:
        self._write(target, lambda table: desired_table(table, target, routes))

    def get_routes(self, target: RouteTarget) -> Routes:
        return routes_of(self._read(target)[0])

    def applied(self, target: RouteTarget) -> RouteEvidence:
        # Each router replica reports the version it applies as a metric, not in the ConfigMap;
        # the analysis reads those reports from Prometheus (reports=None).
        return RouteEvidence(written=int(self._read(target)[0].get("version") or 0))

    def stickiness(self, target: RouteTarget) -> str:
        return ""  # the router hashes stickyKey itself (docs/router.md)

    def finalize(self, target: RouteTarget) -> None:
        try:
            self._write(target, lambda table: desired_table(table, target, Routes.production()))
        except RouteNotFound:
            return

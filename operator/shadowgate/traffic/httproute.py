"""Gateway API ``HTTPRoute``: backendRefs weights plus a RequestMirror filter.

The HTTPRoute named by the target's route is owned by the platform; shadowgate edits only the
rules that send traffic to the production Service: it sets the primary and candidate
backendRefs' weights and adds or removes a ``RequestMirror`` filter (``percent``, Gateway API
>= v1.2) pointing at the candidate. Other rules, matches and filters are left as they are.
Gateway API has no sticky split, so ``sticky_key`` does not apply here.
"""

from __future__ import annotations

import copy
from typing import Any

from shadowgate.kube.base import Conflict, CustomObjects, NotFound
from shadowgate.traffic.base import RouteNotFound, Routes, RouteTarget

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"
_RETRIES = 5


def _is(ref: dict[str, Any], service: str) -> bool:
    return ref.get("name") == service and ref.get("kind", "Service") == "Service" and not ref.get("group")


def _steered(rule: dict[str, Any], target: RouteTarget) -> bool:
    return any(_is(ref, target.primary_service) for ref in rule.get("backendRefs") or [])


def desired_route(route: dict[str, Any], target: RouteTarget, routes: Routes) -> dict[str, Any]:
    """The HTTPRoute with this Candidate's routing applied (pure)."""
    out = copy.deepcopy(route)
    for rule in out.get("spec", {}).get("rules") or []:
        if not _steered(rule, target):
            continue
        refs = [r for r in rule.get("backendRefs") or [] if not _is(r, target.candidate_service)]
        for ref in refs:
            if _is(ref, target.primary_service):
                ref["weight"] = routes.primary_weight
        if routes.canary_weight > 0:
            refs.append(
                {"name": target.candidate_service, "port": target.port, "weight": routes.canary_weight}
            )
        rule["backendRefs"] = refs
        filters = [f for f in rule.get("filters") or [] if not _mirrors_candidate(f, target)]
        if routes.mirror_percent > 0:
            filters.append(
                {
                    "type": "RequestMirror",
                    "requestMirror": {
                        "backendRef": _service_ref(target.candidate_service, target.port),
                        "percent": routes.mirror_percent,
                    },
                }
            )
        if filters:
            rule["filters"] = filters
        else:
            rule.pop("filters", None)
    return out


def _service_ref(name: str, port: int) -> dict[str, Any]:
    # Spelled out as the API server defaults it, so a re-read route compares equal and an
    # unchanged route is not rewritten.
    return {"group": "", "kind": "Service", "name": name, "port": port}


def _mirrors_candidate(f: dict[str, Any], target: RouteTarget) -> bool:
    ref = (f.get("requestMirror") or {}).get("backendRef") or {}
    return f.get("type") == "RequestMirror" and ref.get("name") == target.candidate_service


def routes_of(route: dict[str, Any], target: RouteTarget) -> Routes:
    for rule in route.get("spec", {}).get("rules") or []:
        if not _steered(rule, target):
            continue
        weights = {r["name"]: int(r.get("weight", 1)) for r in rule.get("backendRefs") or [] if "name" in r}
        primary = weights.get(target.primary_service, 0)
        canary = weights.get(target.candidate_service, 0)
        total = primary + canary
        canary_pct = round(100 * canary / total) if total else 0
        mirror = 0
        for f in rule.get("filters") or []:
            if _mirrors_candidate(f, target):
                mirror = int(f["requestMirror"].get("percent", 100))
        return Routes(primary_weight=100 - canary_pct, canary_weight=canary_pct, mirror_percent=mirror)
    raise RouteNotFound(
        f"HTTPRoute {target.route!r} has no rule sending traffic to {target.primary_service!r}"
    )


class HTTPRouteProvider:
    def __init__(self, objects: CustomObjects) -> None:
        self._objects = objects

    def _read(self, target: RouteTarget) -> dict[str, Any]:
        try:
            route = self._objects.get(GROUP, VERSION, PLURAL, target.namespace, target.route)
        except NotFound as exc:
            raise RouteNotFound(f"HTTPRoute {target.namespace}/{target.route} not found") from exc
        routes_of(route, target)  # raises if no rule reaches production
        return route

    def _write(self, target: RouteTarget, routes: Routes) -> None:
        for _ in range(_RETRIES):
            route = self._read(target)
            wanted = desired_route(route, target, routes)
            if wanted == route:
                return
            try:
                self._objects.replace(GROUP, VERSION, PLURAL, target.namespace, target.route, wanted)
                return
            except Conflict:
                continue
        raise Conflict(f"HTTPRoute {target.route!r}: gave up after {_RETRIES} conflicting writes")

    def reconcile(self, target: RouteTarget) -> None:
        self._read(target)

    def set_routes(self, target: RouteTarget, routes: Routes) -> None:
        self._write(target, routes)

    def get_routes(self, target: RouteTarget) -> Routes:
        return routes_of(self._read(target), target)

    def finalize(self, target: RouteTarget) -> None:
        try:
            self._write(target, Routes.production())
        except RouteNotFound:
            return

"""Gateway API ``HTTPRoute``: backendRefs weights plus a RequestMirror filter.

The HTTPRoute named by the target's route is owned by the platform; shadowgate edits only the
rules that send traffic to the production Service: it sets the primary and candidate
backendRefs' weights and adds or removes a ``RequestMirror`` filter (``percent``, Gateway API
>= v1.2) pointing at the candidate. Other rules, matches and filters are left as they are.

Stickiness: while the candidate takes a share, the steered rules get the Gateway API's session
persistence (GEP-1619: ``sessionPersistence`` with ``type: Header`` and ``sessionName`` = the
Candidate's sticky key), marked as shadowgate's by the route annotation ``ANNOTATION`` so that
production routing removes exactly what shadowgate added and keeps a platform's own setting.
``sessionPersistence`` exists only in the experimental channel's CRD (gateway-api v1.3.0); the
standard channel's API server prunes it on write. The provider does not guess which one is
installed: ``stickiness`` reads the stored route back, and a rule without the persistence means
the split is per request, which the operator reports as ``StickinessUnsupported``.
Applied state: ``applied`` reports each parent Gateway's ``Accepted`` condition's
``observedGeneration`` against the route's ``generation`` (``traffic.applied``).
"""

from __future__ import annotations

import copy
from typing import Any

from shadowgate.kube.base import Conflict, CustomObjects, NotFound
from shadowgate.traffic.applied import Report, RouteEvidence
from shadowgate.traffic.base import RouteNotFound, Routes, RouteTarget

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"
# The sticky key whose sessionPersistence shadowgate added to the steered rules.
ANNOTATION = "shadowgate.dev/session-persistence"
_RETRIES = 5


def _is(ref: dict[str, Any], service: str) -> bool:
    return ref.get("name") == service and ref.get("kind", "Service") == "Service" and not ref.get("group")


def _steered(rule: dict[str, Any], target: RouteTarget) -> bool:
    return any(_is(ref, target.primary_service) for ref in rule.get("backendRefs") or [])


def persistence(sticky_key: str) -> dict[str, str]:
    # Both fields spelled out (``type`` defaults to Cookie), so a re-read rule compares equal.
    return {"sessionName": sticky_key, "type": "Header"}


def desired_route(route: dict[str, Any], target: RouteTarget, routes: Routes) -> dict[str, Any]:
    """The HTTPRoute with this Candidate's routing applied (pure)."""
    out = copy.deepcopy(route)
    annotations = out.setdefault("metadata", {}).get("annotations") or {}
    ours = persistence(annotations[ANNOTATION]) if ANNOTATION in annotations else None
    sticky = False
    for rule in out.get("spec", {}).get("rules") or []:
        if not _steered(rule, target):
            continue
        if routes.canary_weight > 0:
            # A platform's own session persistence is left alone; ours follows the sticky key.
            if "sessionPersistence" not in rule or rule["sessionPersistence"] == ours:
                rule["sessionPersistence"] = persistence(target.sticky_key)
                sticky = True
        elif ours is not None and rule.get("sessionPersistence") == ours:
            del rule["sessionPersistence"]
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
    if sticky:
        annotations = {**annotations, ANNOTATION: target.sticky_key}
    elif routes.canary_weight == 0:
        annotations = {k: v for k, v in annotations.items() if k != ANNOTATION}
    if annotations:
        out["metadata"]["annotations"] = annotations
    else:
        out["metadata"].pop("annotations", None)
    return out


def stickiness_of(route: dict[str, Any], target: RouteTarget) -> str:
    """Empty when every steered rule that splits to the candidate pins users by the sticky
    key; else why the split is per request (pure, over the route as the API server stored it)."""
    for rule in route.get("spec", {}).get("rules") or []:
        splits = any(_is(r, target.candidate_service) for r in rule.get("backendRefs") or [])
        if not (_steered(rule, target) and splits):
            continue
        have = rule.get("sessionPersistence")
        if have is None:
            return (
                f"HTTPRoute {target.namespace}/{target.route}: the installed HTTPRoute CRD dropped"
                " sessionPersistence (Gateway API standard channel), so the canary split is per"
                f" request, not per user: {target.sticky_key} does not pin a user to one variant"
            )
        if have != persistence(target.sticky_key):
            return (
                f"HTTPRoute {target.namespace}/{target.route} keeps the platform's sessionPersistence"
                f" {have}; users are pinned by that, not by {target.sticky_key}"
            )
    return ""


def _parent_key(ref: dict[str, Any], namespace: str) -> tuple[str, ...]:
    return (
        str(ref.get("group", GROUP)),
        str(ref.get("kind", "Gateway")),
        str(ref.get("namespace", namespace)),
        str(ref.get("name", "")),
        str(ref.get("sectionName", "")),
        str(ref.get("port", "")),
    )


def applied_of(route: dict[str, Any]) -> RouteEvidence:
    """Each parent's ``Accepted`` generation versus the route's ``generation`` (pure)."""
    meta = route.get("metadata") or {}
    namespace = str(meta.get("namespace", ""))
    generation = meta.get("generation")
    accepted: dict[tuple[str, ...], list[int | None]] = {}
    for parent in (route.get("status") or {}).get("parents") or []:
        cond = next((c for c in parent.get("conditions") or [] if c.get("type") == "Accepted"), None)
        ok = cond is not None and cond.get("status") == "True" and "observedGeneration" in cond
        version = int(cond["observedGeneration"]) if ok and cond is not None else None
        accepted.setdefault(_parent_key(parent.get("parentRef") or {}, namespace), []).append(version)
    reports = []
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        seen = accepted.get(_parent_key(ref, namespace)) or [None]
        version = None if None in seen else min(v for v in seen if v is not None)
        reports.append(Report(replica=f"Gateway {ref.get('name', '')}", version=version))
    return RouteEvidence(written=int(generation) if generation is not None else None, reports=tuple(reports))


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

    def applied(self, target: RouteTarget) -> RouteEvidence:
        return applied_of(self._read(target))

    def stickiness(self, target: RouteTarget) -> str:
        return stickiness_of(self._read(target), target)

    def finalize(self, target: RouteTarget) -> None:
        try:
            self._write(target, Routes.production())
        except RouteNotFound:
            return

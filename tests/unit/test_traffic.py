"""Traffic providers against in-memory fakes: the router table and the Gateway API HTTPRoute."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from shadowgate.kube.base import Conflict, NotFound, Obj
from shadowgate.traffic import httproute, router_table
from shadowgate.traffic.base import RouteNotFound, Routes, RouteTarget
from shadowgate.traffic.factory import provider_for

TARGET = RouteTarget(
    namespace="manga",
    route="retriever",
    primary_service="retriever",
    candidate_service="adapter-cand",
    sticky_key="X-User-Id",
    salt="adapter",
)
PRIMARY = {"service": "retriever", "port": 8080}
CANDIDATE = {"service": "adapter-cand", "namespace": "manga", "port": 8080}


class FakeConfigMaps:
    def __init__(self, tables: dict[str, Any] | None = None, conflicts: int = 0) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.writes = 0
        self.conflicts = conflicts
        for route, table in (tables or {}).items():
            name = router_table.configmap_name(route)
            self.objects[("manga", name)] = {
                "metadata": {"name": name, "resourceVersion": "1"},
                "data": {"route.json": table if isinstance(table, str) else json.dumps(table)},
            }

    def get(self, namespace: str, name: str) -> Obj:
        if (namespace, name) not in self.objects:
            raise NotFound(name)
        return copy.deepcopy(self.objects[(namespace, name)])

    def update_data(self, namespace: str, name: str, data: dict[str, str], resource_version: str) -> None:
        current = self.objects[(namespace, name)]
        if self.conflicts:
            self.conflicts -= 1
            current["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
            raise Conflict("moved")
        if current["metadata"]["resourceVersion"] != resource_version:
            raise Conflict("moved")
        current["data"] = dict(data)
        current["metadata"]["resourceVersion"] = str(int(resource_version) + 1)
        self.writes += 1

    def table(self, route: str = "retriever") -> dict[str, Any]:
        raw = self.objects[("manga", router_table.configmap_name(route))]["data"]["route.json"]
        out: dict[str, Any] = json.loads(raw)
        return out


def base_table(**extra: Any) -> dict[str, Any]:
    return {"route": "retriever", "version": 3, "kind": "retriever", "primary": PRIMARY, **extra}


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        pytest.param(
            Routes(100, 0, 100),
            {"canary": None, "canaryWeight": 0, "shadow": CANDIDATE, "mirrorPercent": 100},
            id="shadow-mirrors-to-candidate",
        ),
        pytest.param(
            Routes(90, 10, 0),
            {"canary": CANDIDATE, "canaryWeight": 10, "shadow": None, "mirrorPercent": 0},
            id="canary-step",
        ),
        pytest.param(
            Routes(100, 0, 0),
            {"canary": None, "canaryWeight": 0, "shadow": None, "mirrorPercent": 0},
            id="production",
        ),
    ],
)
def test_router_table_set_routes(routes: Routes, expected: dict[str, Any]) -> None:
    cms = FakeConfigMaps({"retriever": base_table(comparison={"k": 3})})
    provider = router_table.RouterTableProvider(cms)
    provider.set_routes(TARGET, routes)
    table = cms.table()
    assert {k: table[k] for k in expected} == expected
    assert table["primary"] == PRIMARY and table["kind"] == "retriever"  # fields it does not own are kept
    assert table["version"] == 4
    assert provider.get_routes(TARGET) == routes


def test_router_table_sets_sticky_salt_and_comparison_while_mirroring() -> None:
    cms = FakeConfigMaps({"retriever": base_table(comparison={"k": 3})})
    router_table.RouterTableProvider(cms).set_routes(TARGET, Routes(100, 0, 50))
    table = cms.table()
    assert (table["stickyKey"], table["stickySalt"]) == ("X-User-Id", "adapter")
    assert table["comparison"] == {"k": 3, "sampleRate": 1.0}


def test_router_table_same_routes_write_nothing() -> None:
    cms = FakeConfigMaps({"retriever": base_table()})
    provider = router_table.RouterTableProvider(cms)
    provider.set_routes(TARGET, Routes(90, 10, 0))
    provider.set_routes(TARGET, Routes(90, 10, 0))
    assert cms.writes == 1 and cms.table()["version"] == 4


def test_router_table_retries_a_conflicting_write() -> None:
    cms = FakeConfigMaps({"retriever": base_table()}, conflicts=2)
    router_table.RouterTableProvider(cms).set_routes(TARGET, Routes(50, 50, 0))
    assert cms.table()["canaryWeight"] == 50


def test_router_table_gives_up_after_persistent_conflicts() -> None:
    cms = FakeConfigMaps({"retriever": base_table()}, conflicts=100)
    with pytest.raises(Conflict, match="gave up"):
        router_table.RouterTableProvider(cms).set_routes(TARGET, Routes(50, 50, 0))


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        pytest.param({}, "not found", id="no-configmap"),
        pytest.param({"retriever": "{not json"}, "not JSON", id="bad-json"),
        pytest.param({"retriever": {"route": "retriever", "version": 1}}, "no primary", id="no-primary"),
    ],
)
def test_router_table_missing_route(tables: dict[str, Any], message: str) -> None:
    provider = router_table.RouterTableProvider(FakeConfigMaps(tables))
    with pytest.raises(RouteNotFound, match=message):
        provider.reconcile(TARGET)
    provider.finalize(TARGET)  # restoring a route that is gone is not an error


def test_router_table_finalize_restores_production() -> None:
    cms = FakeConfigMaps({"retriever": base_table(canary=CANDIDATE, canaryWeight=50, shadow=CANDIDATE)})
    router_table.RouterTableProvider(cms).finalize(TARGET)
    assert router_table.routes_of(cms.table()) == Routes.production()


class FakeObjects:
    def __init__(self, route: Obj | None) -> None:
        self.route = route
        self.writes = 0

    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> Obj:
        if self.route is None or name != self.route["metadata"]["name"]:
            raise NotFound(name)
        return copy.deepcopy(self.route)

    def replace(self, group: str, version: str, plural: str, namespace: str, name: str, body: Obj) -> None:
        self.route = copy.deepcopy(body)
        self.writes += 1


def http_route(extra_rule: bool = True) -> Obj:
    rules: list[Obj] = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "filters": [
                {
                    "type": "RequestHeaderModifier",
                    "requestHeaderModifier": {"add": [{"name": "x", "value": "1"}]},
                }
            ],
            "backendRefs": [{"name": "retriever", "port": 8080}],
        }
    ]
    if extra_rule:
        rules.append({"backendRefs": [{"name": "other", "port": 80}]})
    return {"metadata": {"name": "retriever", "resourceVersion": "7"}, "spec": {"rules": rules}}


@pytest.mark.parametrize(
    ("routes", "refs", "mirror"),
    [
        pytest.param(Routes(100, 0, 30), [("retriever", 100)], 30, id="shadow"),
        pytest.param(Routes(75, 25, 0), [("retriever", 75), ("adapter-cand", 25)], None, id="canary"),
        pytest.param(Routes(100, 0, 0), [("retriever", 100)], None, id="production"),
    ],
)
def test_httproute_set_routes(routes: Routes, refs: list[tuple[str, int]], mirror: int | None) -> None:
    objects = FakeObjects(http_route())
    provider = httproute.HTTPRouteProvider(objects)
    provider.set_routes(TARGET, routes)
    assert objects.route is not None
    rule, other = objects.route["spec"]["rules"]
    assert [(r["name"], r["weight"]) for r in rule["backendRefs"]] == refs
    mirrors = [f["requestMirror"]["percent"] for f in rule["filters"] if f["type"] == "RequestMirror"]
    assert mirrors == ([mirror] if mirror else [])
    assert rule["filters"][0]["type"] == "RequestHeaderModifier"  # other filters kept
    assert other == {"backendRefs": [{"name": "other", "port": 80}]}  # other rules untouched
    assert provider.get_routes(TARGET) == routes


def test_httproute_finalize_and_idempotence() -> None:
    objects = FakeObjects(http_route())
    provider = httproute.HTTPRouteProvider(objects)
    provider.set_routes(TARGET, Routes(50, 50, 100))
    provider.set_routes(TARGET, Routes(50, 50, 100))
    assert objects.writes == 1
    provider.finalize(TARGET)
    assert provider.get_routes(TARGET) == Routes.production()
    assert objects.route is not None
    assert [r["name"] for r in objects.route["spec"]["rules"][0]["backendRefs"]] == ["retriever"]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        pytest.param(None, "not found", id="no-httproute"),
        pytest.param(
            {"metadata": {"name": "retriever"}, "spec": {"rules": [{"backendRefs": [{"name": "x"}]}]}},
            "no rule sending traffic",
            id="route-not-to-production",
        ),
    ],
)
def test_httproute_missing(route: Obj | None, message: str) -> None:
    provider = httproute.HTTPRouteProvider(FakeObjects(route))
    with pytest.raises(RouteNotFound, match=message):
        provider.reconcile(TARGET)
    provider.finalize(TARGET)


def test_factory_rejects_unknown_provider() -> None:
    with pytest.raises(ValueError, match="unknown traffic provider 'istio'"):
        provider_for("istio", FakeConfigMaps(), FakeObjects(None))

"""The Gateway API provider's sticky key: GEP-1619 ``sessionPersistence`` (type Header,
sessionName = the Candidate's sticky key) on the steered rules while the candidate takes a share,
removed at weight 0 only where shadowgate added it, and reported when the installed CRD drops it
(a fake that prunes the field the way the standard channel's API server does)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from shadowgate.controller import act, candidate
from shadowgate.controller.metrics import Metrics
from shadowgate.controller.runtime import Runtime, Subject
from shadowgate.core.lifecycle import observations as o
from shadowgate.kube.base import Obj
from shadowgate.traffic import httproute
from shadowgate.traffic.base import Routes, RouteTarget
from shadowgate.traffic.router_table import RouterTableProvider
from test_controller import FakeDeployments, FakeServices, ScriptedAnalyzer, production
from test_controller import spec as controller_spec
from test_traffic import FakeConfigMaps, FakeObjects, http_route

TARGET = RouteTarget("manga", "retriever", "retriever", "adapter-cand", sticky_key="X-Session-Id")
OURS = {"sessionName": "X-Session-Id", "type": "Header"}
PLATFORM = {"sessionName": "mangaassist-session", "type": "Cookie"}


class PruningObjects(FakeObjects):
    """The standard channel: the schema has no ``sessionPersistence``, so writes lose it."""

    def replace(self, group: str, version: str, plural: str, namespace: str, name: str, body: Obj) -> None:
        body = copy.deepcopy(body)
        for rule in body["spec"]["rules"]:
            rule.pop("sessionPersistence", None)
        super().replace(group, version, plural, namespace, name, body)


def _with_rule_persistence(value: dict[str, Any]) -> Obj:
    route = http_route()
    route["spec"]["rules"][0]["sessionPersistence"] = dict(value)
    return route


def _steered(route: Obj) -> dict[str, Any]:
    rule: dict[str, Any] = route["spec"]["rules"][0]
    return rule


@pytest.mark.parametrize(
    ("start", "routes", "persistence", "annotated"),
    [
        pytest.param(http_route(), Routes(90, 10, 0), OURS, True, id="canary-adds-ours"),
        pytest.param(http_route(), Routes(100, 0, 50), None, False, id="shadow-only-no-split"),
        pytest.param(http_route(), Routes(100, 0, 0), None, False, id="production"),
        pytest.param(
            _with_rule_persistence(PLATFORM), Routes(90, 10, 0), PLATFORM, False, id="platform-kept"
        ),
        pytest.param(
            _with_rule_persistence(PLATFORM), Routes(100, 0, 0), PLATFORM, False, id="platform-kept-at-zero"
        ),
    ],
)
def test_desired_route_persistence(
    start: Obj, routes: Routes, persistence: dict[str, str] | None, annotated: bool
) -> None:
    out = httproute.desired_route(start, TARGET, routes)
    assert _steered(out).get("sessionPersistence") == persistence
    assert "sessionPersistence" not in out["spec"]["rules"][1]  # only the steered rule
    annotations = out["metadata"].get("annotations") or {}
    assert (annotations.get(httproute.ANNOTATION) == "X-Session-Id") is annotated


def test_weight_zero_removes_only_what_shadowgate_added() -> None:
    route = http_route()
    route["metadata"]["annotations"] = {"team": "search"}
    canary = httproute.desired_route(route, TARGET, Routes(50, 50, 0))
    back = httproute.desired_route(canary, TARGET, Routes.production())
    assert "sessionPersistence" not in _steered(back)
    assert back["metadata"]["annotations"] == {"team": "search"}
    assert back == httproute.desired_route(route, TARGET, Routes.production())


def test_a_new_sticky_key_replaces_ours() -> None:
    canary = httproute.desired_route(http_route(), TARGET, Routes(80, 20, 0))
    other = RouteTarget("manga", "retriever", "retriever", "adapter-cand", sticky_key="X-User-Id")
    again = httproute.desired_route(canary, other, Routes(60, 40, 0))
    assert _steered(again)["sessionPersistence"] == {"sessionName": "X-User-Id", "type": "Header"}
    assert again["metadata"]["annotations"][httproute.ANNOTATION] == "X-User-Id"


@pytest.mark.parametrize(
    ("objects", "routes", "notice"),
    [
        pytest.param(FakeObjects(http_route()), Routes(90, 10, 0), "", id="experimental-sticky"),
        pytest.param(
            PruningObjects(http_route()),
            Routes(90, 10, 0),
            "dropped sessionPersistence",
            id="standard-per-request",
        ),
        pytest.param(PruningObjects(http_route()), Routes(100, 0, 100), "", id="no-split-nothing-to-pin"),
        pytest.param(
            FakeObjects(_with_rule_persistence(PLATFORM)),
            Routes(90, 10, 0),
            "keeps the platform's sessionPersistence",
            id="platform-persistence",
        ),
    ],
)
def test_provider_stickiness(objects: FakeObjects, routes: Routes, notice: str) -> None:
    provider = httproute.HTTPRouteProvider(objects)
    provider.set_routes(TARGET, routes)
    got = provider.stickiness(TARGET)
    assert (notice in got) if notice else got == ""
    if notice == "dropped sessionPersistence":
        assert "per request, not per user" in got and "X-Session-Id" in got


def test_experimental_canary_is_idempotent_and_finalize_cleans_up() -> None:
    objects = FakeObjects(http_route())
    provider = httproute.HTTPRouteProvider(objects)
    provider.set_routes(TARGET, Routes(90, 10, 0))
    provider.set_routes(TARGET, Routes(90, 10, 0))
    assert objects.writes == 1
    provider.finalize(TARGET)
    assert objects.route is not None
    assert "sessionPersistence" not in _steered(objects.route)
    assert "annotations" not in objects.route["metadata"]


def test_standard_channel_finalize_drops_the_annotation() -> None:
    objects = PruningObjects(http_route())
    provider = httproute.HTTPRouteProvider(objects)
    provider.set_routes(TARGET, Routes(90, 10, 0))
    assert objects.route is not None
    assert objects.route["metadata"]["annotations"] == {httproute.ANNOTATION: "X-Session-Id"}
    provider.finalize(TARGET)
    assert "annotations" not in objects.route["metadata"]
    assert provider.stickiness(TARGET) == ""


def test_router_table_is_always_sticky() -> None:
    table = {"route": "retriever", "version": 1, "primary": {"url": "http://p"}}
    assert RouterTableProvider(FakeConfigMaps({"retriever": table})).stickiness(TARGET) == ""


def _subject(objects: FakeObjects, sticky_key: str = "X-Session-Id") -> tuple[Runtime, Subject, list[Any]]:
    raw = controller_spec(
        target={"deployment": "retriever", "route": "retriever", "provider": "gateway"},
        canary={"steps": [10, 50], "stepDuration": "10s", "stickyKey": sticky_key},
    )
    events: list[Any] = []
    rt = Runtime(
        deployments=FakeDeployments({"retriever": production()}),
        services=FakeServices({}),
        configmaps=FakeConfigMaps({}),
        objects=objects,
        analyzer=ScriptedAnalyzer(),
        samples=None,
        metrics=Metrics(),
        events=lambda body, kind, reason, message: events.append((kind, reason, message)),
    )
    body = {"metadata": {"name": "adapter", "namespace": "manga", "uid": "u1", "generation": 1}, "spec": raw}
    admitted = candidate.admit(raw)
    subject = Subject("manga", "adapter", "u1", 1, admitted.spec, body, admitted.lifecycle)
    return rt, subject, events


@pytest.mark.parametrize(
    ("objects", "action", "want"),
    [
        pytest.param(
            PruningObjects(http_route()),
            o.SetRoutes(90, 10, 0),
            ["StickinessUnsupported"],
            id="standard-canary",
        ),
        pytest.param(FakeObjects(http_route()), o.SetRoutes(90, 10, 0), [], id="experimental-canary"),
        pytest.param(PruningObjects(http_route()), o.SetRoutes(100, 0, 100), [], id="standard-shadow"),
    ],
)
def test_act_reports_a_per_request_split(objects: FakeObjects, action: o.Action, want: list[str]) -> None:
    rt, subject, events = _subject(objects)
    act.apply(rt, subject, production(), (action,))
    assert [reason for _, reason, _ in events] == want
    if want:
        kind, _, message = events[0]
        assert kind == "Warning" and "per request, not per user" in message and "X-Session-Id" in message

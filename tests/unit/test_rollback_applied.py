"""The rollback gate's ``router-accepts-zero-weight`` is proven from the data plane's own report
of the route version it APPLIES, never inferred from a write: the pure decision, the Prometheus
answer parser, the providers' evidence, and the analyzer end to end with a fake version source."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from shadowgate.controller.analysis import AnalysisRequest, EngineAnalyzer, route_evidence
from shadowgate.core.gates import parsing, presets
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.verdicts import Verdict
from shadowgate.sources.base import QueryContext
from shadowgate.sources.promapi import PrometheusAPI, RetryPolicy
from shadowgate.sources.router_versions import PrometheusRouterVersions, parse_versions
from shadowgate.traffic import httproute
from shadowgate.traffic.applied import Report, RouteEvidence, decide
from shadowgate.traffic.base import RouteNotFound, RouteTarget
from shadowgate.traffic.router_table import RouterTableProvider
from test_controller import body_for, harness, run
from test_controller import spec as controller_spec
from test_traffic import FakeConfigMaps

TARGET = RouteTarget("manga", "retriever", "retriever", "adapter-cand")


@pytest.mark.parametrize(
    ("written", "reports", "want"),
    [
        pytest.param(4, [Report("r-0", 4)], True, id="one-replica-applied"),
        pytest.param(4, [Report("r-0", 5), Report("r-1", 4)], True, id="every-replica-at-or-past"),
        pytest.param(4, [Report("r-0", 4), Report("r-1", 3)], None, id="one-replica-behind"),
        pytest.param(4, [Report("r-0", None)], None, id="replica-names-no-version"),
        pytest.param(4, [], None, id="no-replica-reports"),
        pytest.param(None, [Report("r-0", 4)], None, id="written-unknown"),
        pytest.param(0, [Report("r-0", 0)], True, id="never-written-table"),
    ],
)
def test_decide(written: int | None, reports: list[Report], want: bool | None) -> None:
    ok, why = decide(written, reports)
    assert ok is want
    assert why  # every answer says why, for the operator log


NO_WAIT = RetryPolicy(tries=3, backoff_s=0.0)


def test_decide_names_the_lagging_replica() -> None:
    _, why = decide(7, [Report("router-a", 7), Report("router-b", 6)])
    assert "router-b=6" in why and "router-a" not in why


def _vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": m, "value": [1.0, v]} for m, v in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.mark.parametrize(
    ("body", "want"),
    [
        pytest.param(
            _vector(({"instance": "127.0.0.1:1", "route": "r"}, "3"), ({"pod": "router-b"}, "4")),
            {"127.0.0.1:1": 3, "router-b": 4},
            id="replicas-by-pod-or-instance",
        ),
        pytest.param(_vector(), {}, id="no-series-is-an-empty-answer"),
        pytest.param(
            _vector(({"instance": "a"}, "5"), ({"instance": "a", "job": "x"}, "4")), {"a": 4}, id="lower-wins"
        ),
        pytest.param(_vector(({"job": "j", "route": "r"}, "2")), {"job=j,route=r": 2}, id="unnamed-replica"),
        pytest.param({"status": "error", "error": "bad query"}, "prometheus error: bad query", id="error"),
        pytest.param(
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            "prometheus: expected an instant vector, got 'matrix'",
            id="not-a-vector",
        ),
        pytest.param(
            _vector(({"instance": "a"}, "NaN")), "prometheus: replica a reports version nan", id="nan"
        ),
        pytest.param(["no"], "prometheus: malformed answer: not a Prometheus API object", id="malformed"),
    ],
)
def test_parse_versions(body: Any, want: dict[str, int] | str) -> None:
    assert parse_versions(body) == want


def test_prometheus_router_versions_queries_the_route() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_vector(({"instance": "a"}, "9")))

    async def run() -> dict[str, int] | str:
        versions = PrometheusRouterVersions("http://prom", transport=httpx.MockTransport(handler))
        try:
            return await versions.applied("retriever", at=12.5)
        finally:
            await versions.aclose()

    assert asyncio.run(run()) == {"a": 9}
    assert seen[0].url.params["query"] == 'shadowgate_router_table_version{route="retriever"}'
    assert seen[0].url.params["time"] == "12.500"


def test_prometheus_router_versions_unreachable_is_a_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async def run() -> dict[str, int] | str:
        versions = PrometheusRouterVersions(
            "http://prom",
            api=PrometheusAPI("http://prom", policy=NO_WAIT, transport=httpx.MockTransport(handler)),
        )
        try:
            return await versions.applied("retriever")
        finally:
            await versions.aclose()

    got = asyncio.run(run())
    assert isinstance(got, str) and "ConnectError" in got and "3 tries" in got


def test_prometheus_router_versions_try_once_by_default() -> None:
    """Asked again at every analysis, so an outage costs one try per reconcile."""
    assert PrometheusRouterVersions("http://prom").api.policy.tries == 1


@pytest.mark.parametrize(
    ("table", "want"),
    [
        pytest.param({"route": "retriever", "version": 12, "primary": {"url": "http://p"}}, 12, id="version"),
        pytest.param({"route": "retriever", "primary": {"url": "http://p"}}, 0, id="never-bumped"),
    ],
)
def test_router_table_evidence_is_the_written_version(table: dict[str, Any], want: int) -> None:
    evidence = RouterTableProvider(FakeConfigMaps({"retriever": table})).applied(TARGET)
    assert evidence == RouteEvidence(written=want, reports=None)  # reports come from Prometheus


class _Raising:
    def applied(self, target: RouteTarget) -> RouteEvidence:
        raise RouteNotFound("route 'retriever': ConfigMap manga/shadowgate-route-retriever not found")


def test_route_evidence_turns_a_read_failure_into_missing_evidence() -> None:
    evidence = route_evidence(_Raising(), TARGET)  # type: ignore[arg-type]
    assert evidence.written is None and "not found" in evidence.missing


def _gateway_route(generation: int, parents: list[dict[str, Any]], refs: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "retriever", "namespace": "manga", "generation": generation},
        "spec": {"parentRefs": [{"name": n} for n in refs], "rules": []},
        "status": {"parents": parents},
    }


def _parent(name: str, status: str, generation: int, namespace: str = "manga") -> dict[str, Any]:
    return {
        "parentRef": {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": name,
            "namespace": namespace,
        },
        "controllerName": "example.com/gw",
        "conditions": [{"type": "Accepted", "status": status, "observedGeneration": generation}],
    }


@pytest.mark.parametrize(
    ("route", "want"),
    [
        pytest.param(_gateway_route(3, [_parent("gw", "True", 3)], ["gw"]), True, id="accepted-current"),
        pytest.param(_gateway_route(4, [_parent("gw", "True", 3)], ["gw"]), None, id="accepted-older"),
        pytest.param(_gateway_route(3, [_parent("gw", "False", 3)], ["gw"]), None, id="not-accepted"),
        pytest.param(_gateway_route(3, [], ["gw"]), None, id="no-controller-status"),
        pytest.param(
            _gateway_route(3, [_parent("gw", "True", 3)], ["gw", "gw2"]), None, id="one-parent-silent"
        ),
        pytest.param(
            _gateway_route(3, [_parent("gw", "True", 3, namespace="other")], ["gw"]),
            None,
            id="other-namespace",
        ),
        pytest.param(_gateway_route(3, [_parent("gw", "True", 3)], []), None, id="no-parents"),
    ],
)
def test_gateway_evidence(route: dict[str, Any], want: bool | None) -> None:
    evidence = httproute.applied_of(route)
    assert evidence.written == route["metadata"]["generation"]
    assert evidence.reports is not None
    assert decide(evidence.written, evidence.reports)[0] is want


class _Versions:
    def __init__(self, answer: dict[str, int] | str) -> None:
        self.answer = answer
        self.asked: list[tuple[str, float | None]] = []
        self.closed = False

    async def applied(self, route: str, at: float | None = None) -> dict[str, int] | str:
        self.asked.append((route, at))
        return self.answer

    async def aclose(self) -> None:
        self.closed = True


def _analyse(route: RouteEvidence | None, versions: _Versions | None, available: bool = True) -> Verdict:
    request = AnalysisRequest(
        context=QueryContext(namespace="manga", target="retriever", candidate="c", route="retriever", at=5.0),
        phase=Phase.SHADOW,
        gates=tuple(parsing.parse_gates({"preset": "mangaassist"})),
        checks={"rollback": available},
        route=route,
    )
    analyzer = EngineAnalyzer({}, (lambda: versions) if versions is not None else None)  # type: ignore[arg-type,return-value]
    return {r.gate: r for r in analyzer.analyse(request)}["rollback"].verdict


@pytest.mark.parametrize(
    ("route", "answer", "want"),
    [
        pytest.param(RouteEvidence(written=5), {"r-0": 5, "r-1": 6}, Verdict.PASS, id="routers-applied"),
        pytest.param(
            RouteEvidence(written=5), {"r-0": 5, "r-1": 4}, Verdict.INCONCLUSIVE, id="one-router-behind"
        ),
        pytest.param(RouteEvidence(written=5), {}, Verdict.INCONCLUSIVE, id="router-stopped-no-series"),
        pytest.param(
            RouteEvidence(written=5), "prometheus unreachable", Verdict.INCONCLUSIVE, id="prometheus-down"
        ),
        pytest.param(
            RouteEvidence(written=None, missing="gone"), {"r-0": 5}, Verdict.INCONCLUSIVE, id="route-gone"
        ),
        pytest.param(None, {"r-0": 5}, Verdict.INCONCLUSIVE, id="not-gathered"),
    ],
)
def test_analyzer_rollback_gate(
    route: RouteEvidence | None, answer: dict[str, int] | str, want: Verdict
) -> None:
    versions = _Versions(answer)
    assert _analyse(route, versions) is want
    if route is not None and not route.missing:
        assert versions.asked == [("retriever", 5.0)] and versions.closed


def test_analyzer_without_prometheus_never_assumes() -> None:
    assert _analyse(RouteEvidence(written=5), None) is Verdict.INCONCLUSIVE


def test_analyzer_gateway_reports_need_no_prometheus() -> None:
    versions = _Versions("must not be asked")
    evidence = RouteEvidence(written=2, reports=(Report("Gateway gw", 2),))
    assert _analyse(evidence, versions) is Verdict.PASS
    assert versions.asked == []


def test_unhealthy_primary_still_fails_decisively() -> None:
    assert _analyse(RouteEvidence(written=5), _Versions({"r-0": 5}), available=False) is Verdict.FAIL


def test_router_check_name_is_the_presets() -> None:
    # The preset's rollback gate asks for exactly this name; a rename would silently hold forever.
    gate = next(g for g in presets.mangaassist() if g["name"] == "rollback")
    assert presets.ROUTER_ACCEPTS_ZERO_WEIGHT in gate["checks"]


def test_reconcile_hands_the_written_table_version_to_the_analysis() -> None:
    table = {"route": "retriever", "version": 1, "primary": {"service": "retriever", "port": 8080}}
    rt, deployments, _, analyzer, clock = harness({"retriever": table})
    body = body_for(controller_spec())
    run(rt, body, clock)
    deployments.make_available("adapter-cand")
    for _ in range(4):
        run(rt, body, clock, 6)
    shadow = [r for r in analyzer.requests if r.phase is Phase.SHADOW]
    assert shadow, [r.phase for r in analyzer.requests]
    # Shadow began by writing mirror on (version 1 -> 2): its analyses see that write's version.
    assert {r.route for r in shadow} == {RouteEvidence(written=2, reports=None)}

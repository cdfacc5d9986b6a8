"""Every dashboard query returns data from the real Prometheus when the real components' metric
registries are scraped: the router's ``RouterMetrics``, the model server's ``ServerMetrics`` and the
operator's ``Metrics``, driven through their own APIs and served on loopback. This proves the
dashboard and the components agree on metric and label names; the e2e test repeats the check
after a real rollout with ``shadowgate.report.dashboard.queries``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import GateStatus, HistoryEntry, Status
from shadowgate.core.verdicts import Evidence, GateResult, Verdict
from shadowgate.report import dashboard

pytestmark = pytest.mark.integration

ROUTE = "retriever"


def _serve(registry: CollectorRegistry) -> tuple[Any, str]:
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    return server, f"127.0.0.1:{server.server_address[1]}"


def _drive(router: Any, servers: list[Any], operator: Any, namespace: str, tick: int) -> None:
    for variant, latency, noclick_every in (("primary", 0.004, 3), ("canary", 0.006, 2)):
        vm = router.variant(ROUTE, variant)
        for i in range(20):
            router.requests.labels(ROUTE, variant, "200").inc()
            vm.duration.observe(latency * (1 + i % 5))
            vm.impressions.inc()
            (vm.noclicks if i % noclick_every == 0 else vm.clicks).inc()
    router.mirror.labels(ROUTE, "shadow", "sent").inc(10)
    router.mirror.labels(ROUTE, "shadow", "completed").inc(9)
    router.mirror.labels(ROUTE, "shadow", "dropped_budget").inc(1)
    router.top1.labels(ROUTE, "shadow", "true").inc(8)
    router.top1.labels(ROUTE, "shadow", "false").inc(2)
    router.jaccard.labels(ROUTE, "shadow").observe(0.7)
    for metrics in servers:
        bound = metrics.bind("retriever", "1.0.0")
        for i in range(10):
            bound.request_duration.observe(0.003 * (1 + i % 4))
            bound.count(200)
    now = datetime.now(UTC)
    before = Status(phase=Phase.SHADOW)
    after = Status(
        phase=Phase.CANARY,
        weight=10,
        last_analysis=now,
        gates=(
            GateStatus(
                GateResult("noclick-rate", Verdict.PASS, Evidence(value=0.4, threshold=0.45)),
                0,
                now,
                "Canary",
            ),
        ),
        history=(HistoryEntry("Shadow", "Canary", "ShadowPassed", "", now - timedelta(seconds=tick), 1),),
    )
    with operator.reconcile_duration.time():
        operator.observe(namespace, "iyashikei-adapter", ROUTE, before, after)


@pytest.fixture(scope="module")
def fed_prometheus(stack: Any) -> Iterator[str]:
    from shadowgate.controller.metrics import Metrics

    from model_server.metrics import ServerMetrics
    from router.metrics import RouterMetrics

    router, operator = RouterMetrics(), Metrics()
    servers = [ServerMetrics("primary"), ServerMetrics("canary")]
    namespace = "dash-test"
    targets = []
    try:
        for job, registry, labels in (
            ("dash-router", router.registry, {"namespace": namespace}),
            ("dash-operator", operator.registry, {}),
            ("dash-model-primary", servers[0].registry, {"namespace": namespace}),
            ("dash-model-canary", servers[1].registry, {"namespace": namespace}),
        ):
            server, address = _serve(registry)
            targets.append((job, address, server))
            stack.add_scrape_target(job, address, labels)
        # rate() needs two scrapes inside its window and histogram_quantile a rising bucket:
        # keep driving while Prometheus scrapes every second.
        for tick in range(12):
            _drive(router, servers, operator, namespace, tick)
            time.sleep(1)
        yield stack.prometheus_url
    finally:
        for job, address, server in targets:
            stack.remove_scrape_target(job, address)
            server.shutdown()


def _params() -> list[Any]:
    return [pytest.param(q, id=f"{q.panel}-{q.ref_id}") for q in dashboard.queries()]


@pytest.mark.parametrize("query", _params())
def test_dashboard_query_returns_data(fed_prometheus: str, query: dashboard.PanelQuery) -> None:
    resp = httpx.get(f"{fed_prometheus}/api/v1/query", params={"query": query.expr}, timeout=10)
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "success", body
    result = body["data"]["result"]
    assert result, f"{query.panel}: no data for {query.expr}"
    values = [float(r["value"][1]) for r in result]
    assert any(v == v for v in values), f"{query.panel}: only NaN for {query.expr}"  # NaN != NaN

"""PrometheusSource against the stack's REAL Prometheus scraping real prometheus_client metrics.

Three loopback "pods" are scrape targets: a router (click counters per route/variant) and
a canary and a primary model server (latency histograms, request counters, CPU seconds),
labelled as the chart's PodMonitor labels Pods (namespace, target, variant: shadowgate.core.labels).
The MangaAssist preset's own query templates are used.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import parsing
from shadowgate.core.gates.evaluating import evaluate
from shadowgate.core.gates.specs import GateSpec
from shadowgate.core.labels import NAMESPACE, TARGET, VARIANT
from shadowgate.core.verdicts import InconclusiveReason as R
from shadowgate.core.verdicts import Verdict
from shadowgate.devstack.stack import Stack
from shadowgate.sources.base import QueryContext
from shadowgate.sources.prometheus import PrometheusSource

pytestmark = pytest.mark.integration

BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# (variant, no-clicks, clicks, requests, latency of every request, CPU seconds)
ARMS = {"canary": (440, 560, 1000, 0.015, 2.0), "primary": (400, 600, 1000, 0.030, 3.0)}


@dataclass
class Pods:
    namespace: str
    route: str
    job: str


def _serve(registry: CollectorRegistry) -> tuple[object, str]:
    server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    return server, f"127.0.0.1:{server.server_address[1]}"


def _wait(prom: str, query: str, want: float, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        body = httpx.get(f"{prom}/api/v1/query", params={"query": query}, timeout=5).json()
        result = body.get("data", {}).get("result", [])
        if result and float(result[0]["value"][1]) == want:
            return
        got = result
        time.sleep(0.5)
    raise AssertionError(f"prometheus never saw {query} == {want}: {got}")


@pytest.fixture(scope="module")
def pods(stack: Stack) -> Iterator[Pods]:
    ns, route, job = (
        f"gates-{uuid.uuid4().hex[:6]}",
        f"recs-{uuid.uuid4().hex[:6]}",
        f"gates-{uuid.uuid4().hex[:6]}",
    )
    router_reg = CollectorRegistry()
    noclicks = Counter("shadowgate_router_noclicks", "", ["route", "variant"], registry=router_reg)
    clicks = Counter("shadowgate_router_clicks", "", ["route", "variant"], registry=router_reg)
    servers = []
    server, address = _serve(router_reg)
    servers.append((server, address))
    stack.add_scrape_target(
        job, address, {"namespace": "shadowgate-system", "app_kubernetes_io_name": "router"}
    )
    children = {}
    for variant in (*ARMS, "shadow"):
        reg = CollectorRegistry()
        hist = Histogram("model_server_request_duration_seconds", "", ["model", "version", "variant"],
                         buckets=BUCKETS, registry=reg)  # fmt: skip
        reqs = Counter("model_server_requests", "", ["model", "version", "variant", "code"], registry=reg)
        cpu = Counter("process_cpu_seconds", "", registry=reg)
        children[variant] = (
            hist.labels("retriever", "1", variant),
            reqs.labels("retriever", "1", variant, "200"),
            cpu,
        )
        noclicks.labels(route, variant)
        clicks.labels(route, variant)
        server, address = _serve(reg)
        servers.append((server, address))
        labels = {NAMESPACE: ns, TARGET: "retriever", VARIANT: variant}
        stack.add_scrape_target(job, address, labels)
    # Let Prometheus see every series at zero first, so increase() counts all that follows.
    _wait(stack.prometheus_url, f'count(shadowgate_router_clicks_total{{route="{route}"}})', 3)
    _wait(stack.prometheus_url, f'count(model_server_requests_total{{namespace="{ns}"}})', 3)
    time.sleep(2)
    for variant, (nc, c, n, latency, cpu_s) in ARMS.items():
        noclicks.labels(route, variant).inc(nc)
        clicks.labels(route, variant).inc(c)
        hist, reqs, cpu = children[variant]
        for _ in range(n):
            hist.observe(latency)
        reqs.inc(n)
        cpu.inc(cpu_s)
    _wait(stack.prometheus_url, f'sum(shadowgate_router_clicks_total{{route="{route}"}})', 1160)
    _wait(stack.prometheus_url, f'sum(model_server_requests_total{{namespace="{ns}"}})', 2000)
    # increase() extrapolates to the window's end by up to ~1.1 scrape intervals, i.e. by
    # (1.1 s / series span) here: a long flat tail keeps that under ~6 %.
    time.sleep(10)
    try:
        yield Pods(ns, route, job)
    finally:
        for server, address in servers:
            stack.remove_scrape_target(job, address)
            server.shutdown()  # type: ignore[attr-defined]


def _gate(name: str, **overrides: object) -> GateSpec:
    raw = {"preset": "mangaassist", "overrides": {name: overrides} if overrides else {}}
    return next(g for g in parsing.parse_gates(raw) if g.header.name == name)


def _ctx(pods: Pods, candidate_variant: str = "canary", baseline_variant: str = "primary") -> QueryContext:
    return QueryContext(
        namespace=pods.namespace,
        target="retriever",
        candidate="adapter",
        route=pods.route,
        window="5m",
        candidate_variant=candidate_variant,
        baseline_variant=baseline_variant,
    )


async def test_counts_from_increase(stack: Stack, pods: Pods) -> None:
    source = PrometheusSource(stack.prometheus_url)
    got = await source.observe(_gate("user-visible-quality", minSamples=100), _ctx(pods))
    await source.aclose()
    assert isinstance(got, obs.Counts), got
    # increase() extrapolates a little past the first/last samples: within a few percent.
    assert got.candidate_trials == pytest.approx(1000, rel=0.08)
    assert got.baseline_trials == pytest.approx(1000, rel=0.08)
    assert got.candidate_events / got.candidate_trials == pytest.approx(0.44, abs=0.005)
    assert got.baseline_events / got.baseline_trials == pytest.approx(0.40, abs=0.005)
    result = evaluate(_gate("user-visible-quality", minSamples=100), got)
    assert result.verdict is Verdict.INCONCLUSIVE and result.reason is R.NOT_DECISIVE  # 1,000/arm is too few


async def test_quantiles_and_latency_verdict(stack: Stack, pods: Pods) -> None:
    source = PrometheusSource(stack.prometheus_url)
    latency = _gate("latency")
    got = await source.observe(latency, _ctx(pods))
    assert isinstance(got, obs.Quantiles), got
    assert got.baseline is not None
    # Every canary request took 15 ms (bucket 10-20 ms): histogram_quantile interpolates linearly.
    assert got.candidate.values[0.95] == pytest.approx(0.0195, rel=1e-6)
    assert got.candidate.values[0.99] == pytest.approx(0.0199, rel=1e-6)
    assert got.baseline.values[0.95] == pytest.approx(0.02 + 0.03 * 0.95, rel=1e-6)
    assert got.candidate.count == pytest.approx(1000, rel=0.08)
    assert evaluate(latency, got).verdict is Verdict.PASS  # faster than primary
    swapped = await source.observe(
        latency, _ctx(pods, candidate_variant="primary", baseline_variant="canary")
    )
    # Confidence bounds are real histogram_quantile answers at the order statistics' levels:
    # inside the same 10-20 ms bucket, just below (candidate) and above (baseline) the p95.
    assert 0.01 < got.candidate.lower[0.95] < got.candidate.values[0.95]  # type: ignore[operator]
    assert got.baseline.values[0.95] < got.baseline.upper[0.95] < 0.05  # type: ignore[operator]
    failed = evaluate(latency, swapped)
    assert failed.verdict is Verdict.FAIL, failed.message  # 48.5 ms vs 19.5 ms is over 1.2x
    assert "shown over the limit" in failed.message
    # A variant whose histogram exists but saw no request: NaN quantile, zero count.
    idle = await source.observe(latency, _ctx(pods, candidate_variant="shadow"))
    assert isinstance(idle, obs.Quantiles) and idle.candidate.count == 0
    assert evaluate(latency, idle).reason is R.INSUFFICIENT_SAMPLES
    await source.aclose()


async def test_cost_per_1000_requests(stack: Stack, pods: Pods) -> None:
    source = PrometheusSource(stack.prometheus_url)
    cost = _gate("cost")
    got = await source.observe(cost, _ctx(pods))
    await source.aclose()
    assert isinstance(got, obs.Values), got
    assert next(iter(got.candidate.values())) == pytest.approx(2.0, rel=0.08)  # 2 CPU-s / 1,000 requests
    assert next(iter(got.baseline.values())) == pytest.approx(3.0, rel=0.08)
    assert evaluate(cost, got).verdict is Verdict.PASS


async def test_no_data_for_a_missing_series(stack: Stack, pods: Pods) -> None:
    source = PrometheusSource(stack.prometheus_url)
    ctx = QueryContext(namespace=pods.namespace, target="retriever", candidate="c", route="no-such-route")
    got = await source.observe(_gate("user-visible-quality"), ctx)
    assert isinstance(got, obs.Unavailable) and got.reason is R.NO_DATA
    cost = await source.observe(_gate("cost"), _ctx(pods, candidate_variant="no-such-variant"))
    assert evaluate(_gate("cost"), cost).reason is R.NO_DATA
    await source.aclose()


async def test_query_error_for_a_bad_query_and_an_unreachable_server(stack: Stack) -> None:
    source = PrometheusSource(stack.prometheus_url)
    bad = await source.query("no_such_function(up)")
    await source.aclose()
    assert isinstance(bad, obs.Unavailable) and bad.reason is R.QUERY_ERROR and "bad_data" in bad.detail
    gate = parsing.parse_gates([{"name": "t", "kind": "threshold", "metric": "sum by (le) foo", "max": 1}])[0]
    source = PrometheusSource(stack.prometheus_url)
    result = evaluate(gate, await source.observe(gate, QueryContext("ns", "t", "c")))
    await source.aclose()
    assert result.reason is R.QUERY_ERROR
    down = PrometheusSource("http://127.0.0.1:9", retries=1, backoff=0.01, timeout=1.0)
    got = await down.query("up")
    await down.aclose()
    assert isinstance(got, obs.Unavailable) and got.reason is R.QUERY_ERROR and "2 tries" in got.detail

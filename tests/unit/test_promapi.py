"""The one Prometheus client and the callers that share it, on httpx.MockTransport: its retry
policy, range answers for reports, and sample counts that fail loudly instead of reading 0."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from shadowgate.controller.samples import PrometheusSamples
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.report.model import ReportError, Series
from shadowgate.report.prometheus import HttpPrometheus
from shadowgate.sources.promapi import PrometheusAPI, PrometheusError, RetryPolicy
from shadowgate.sources.prometheus_response import parse_range

FAST = RetryPolicy(tries=3, backoff_s=0.0)
T0, T1 = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, 0, 5, tzinfo=UTC)


def vector(value: str | None) -> dict[str, Any]:
    result = [] if value is None else [{"metric": {}, "value": [1.0, value]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def matrix(*series: tuple[dict[str, str], list[list[Any]]]) -> dict[str, Any]:
    result = [{"metric": m, "values": v} for m, v in series]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def scripted(answers: list[Any]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """Answers in order: an int is a bare status, a dict a 200 JSON body, 'connect' refuses."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if answer == "connect":
            raise httpx.ConnectError("refused")
        if isinstance(answer, int):
            return httpx.Response(answer, text="busy")
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(handler), seen


@pytest.mark.parametrize(
    ("answers", "calls", "ok"),
    [
        pytest.param([vector("1")], 1, True, id="first-try"),
        pytest.param([503, "connect", vector("1")], 3, True, id="5xx-and-refused-retried"),
        pytest.param([503, 503, 503], 3, False, id="exhausted"),
    ],
)
async def test_retry_policy(answers: list[Any], calls: int, ok: bool) -> None:
    transport, seen = scripted(answers)
    api = PrometheusAPI("http://prom/", policy=FAST, transport=transport)
    try:
        if ok:
            assert (await api.query("up", at=2.0))["status"] == "success"
        else:
            with pytest.raises(PrometheusError, match=r"after 3 tries \(http://prom\): HTTP 503"):
                await api.query("up")
    finally:
        await api.aclose()
    assert len(seen) == calls and seen[0].url.path == "/api/v1/query"


async def test_a_4xx_envelope_is_returned_for_the_parser_and_not_retried() -> None:
    bad = {"status": "error", "errorType": "bad_data", "error": "parse error"}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(400, json=bad)

    api = PrometheusAPI("http://prom", policy=FAST, transport=httpx.MockTransport(handler))
    assert await api.query("sum(") == bad
    await api.aclose()
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("body", "want"),
    [
        pytest.param(
            matrix(({"variant": "canary"}, [[1, "0.5"], [2, "0.25"]])),
            [((("variant", "canary"),), ((1.0, 0.5), (2.0, 0.25)))],
            id="series",
        ),
        pytest.param(vector("1"), "expected a range matrix for 'q', got 'vector'", id="not-a-matrix"),
        pytest.param({"status": "error", "error": "boom"}, "prometheus error for 'q': boom", id="error"),
    ],
)
def test_parse_range(body: Any, want: Any) -> None:
    assert parse_range(body, "q") == want


def test_report_reads_series_through_the_client() -> None:
    transport, seen = scripted([matrix(({"gate": "latency"}, [[10, "1"]]))])
    got = HttpPrometheus("http://prom", transport=transport).query_range("x", T0, T1, 15)
    assert got == [Series(labels=(("gate", "latency"),), points=((10.0, 1.0),))]
    assert seen[0].url.path == "/api/v1/query_range" and seen[0].url.params["step"] == "15.000"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        pytest.param([{"status": "error", "error": "bad"}], "rejected 'x'", id="rejected"),
        pytest.param(["connect"], "unreachable after 3 tries", id="unreachable"),
    ],
)
def test_report_errors_name_the_query_or_the_outage(answers: list[Any], message: str) -> None:
    transport, _ = scripted(answers)
    source = HttpPrometheus("http://prom", transport=transport)
    source._policy = FAST  # no backoff in a unit test
    with pytest.raises(ReportError, match=message):
        source.query_range("x", T0, T1, 15)


def _samples(answers: list[Any]) -> tuple[PrometheusSamples, list[httpx.Request]]:
    transport, seen = scripted(answers)
    return PrometheusSamples("http://prom", policy=FAST, transport=transport), seen


@pytest.mark.parametrize(
    ("answers", "want"),
    [
        pytest.param([vector("41.6")], 42, id="rounded"),
        pytest.param([vector(None)], None, id="no-series-yet"),
    ],
)
def test_sample_counts(answers: list[Any], want: int | None) -> None:
    samples, seen = _samples(answers)
    assert samples.count(Phase.SHADOW, "retriever", 12.2) == want
    assert "[13s]" in seen[0].url.params["query"]


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(["connect"], id="unreachable"),
        pytest.param([{"status": "error", "errorType": "bad_data", "error": "x"}], id="rejected"),
    ],
)
def test_sample_count_errors_are_raised_not_read_as_zero(answers: list[Any]) -> None:
    samples, _ = _samples(answers)
    with pytest.raises(PrometheusError):
        samples.count(Phase.CANARY, "retriever", 30)


def test_a_failed_sample_count_holds_the_phase_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    from test_controller import body_for, harness, run, spec

    class Down:
        def count(self, phase: Phase, route: str, window_s: float) -> int | None:
            raise PrometheusError("prometheus unreachable after 3 tries (http://prom): ConnectError")

    table = {"route": "retriever", "version": 1, "primary": {"service": "retriever", "port": 8080}}
    rt, deployments, _, _, clock = harness({"retriever": table})
    rt = dataclasses.replace(rt, samples=Down())
    body = body_for(spec(shadow={"duration": "1s", "minRequests": 10}))
    run(rt, body, clock)
    deployments.make_available("adapter-cand")
    with caplog.at_level(logging.WARNING, logger="shadowgate.controller"):
        phases = [run(rt, body, clock, 6)["status"]["phase"] for _ in range(4)]
    assert phases == ["Shadow"] * 4  # gates pass, but the requests behind them are unknown
    assert "sample count unavailable" in caplog.text and "unreachable after 3 tries" in caplog.text

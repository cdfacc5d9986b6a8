"""PrometheusSource on httpx.MockTransport: answers, malformed answers, retries, observations per kind."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import parsing
from shadowgate.core.gates.specs import GateSpec, LatencySpec
from shadowgate.core.stats import quantiles
from shadowgate.core.verdicts import InconclusiveReason as R
from shadowgate.sources.base import QueryContext
from shadowgate.sources.prometheus import PrometheusSource
from shadowgate.sources.prometheus_response import parse_instant

CTX = QueryContext(
    namespace="ns", target="retriever", candidate="adapter-v2", route="recs", window="900s", at=1000.0
)


BAD_DATA = {"status": "error", "errorType": "bad_data", "error": "parse error"}


def _ok(result_type: str, result: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": result_type, "result": result}}


def _vector(*values: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1000, v]} for v in values]},
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(_vector("42"), 42.0, id="one-sample"),
        pytest.param(_ok("scalar", [1, "0.5"]), 0.5, id="scalar"),
        pytest.param(_vector(), R.NO_DATA, id="empty-vector"),
        pytest.param(_vector("NaN"), R.NO_DATA, id="nan"),
        pytest.param(_vector("+Inf"), R.NO_DATA, id="inf"),
        pytest.param(_vector("1", "2"), R.QUERY_ERROR, id="two-series"),
        pytest.param(_vector("abc"), R.QUERY_ERROR, id="not-a-number"),
        pytest.param(BAD_DATA, R.QUERY_ERROR, id="error"),
        pytest.param(_ok("matrix", []), R.QUERY_ERROR, id="matrix"),
        pytest.param(_ok("vector", "x"), R.QUERY_ERROR, id="bad-list"),
        pytest.param(_ok("vector", [1]), R.QUERY_ERROR, id="bad-series"),
        pytest.param(_ok("vector", [{"value": [1]}]),
                     R.QUERY_ERROR, id="bad-sample"),
        pytest.param({"status": "success"}, R.QUERY_ERROR, id="no-data-object"),
        pytest.param([1, 2], R.QUERY_ERROR, id="not-an-object"),
        pytest.param(None, R.QUERY_ERROR, id="null"),
    ],
)  # fmt: skip
def test_parse_instant(body: Any, expected: float | R) -> None:
    got = parse_instant(body, "q")
    if isinstance(expected, float):
        assert got == expected
    else:
        assert isinstance(got, obs.Unavailable) and got.reason is expected and got.detail


def _source(handler: Callable[[httpx.Request], httpx.Response], retries: int = 2) -> PrometheusSource:
    return PrometheusSource(
        "http://prom:9090/", transport=httpx.MockTransport(handler), retries=retries, backoff=0.0
    )


async def test_query_sends_query_and_time() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_vector("7"))

    source = _source(handler)
    assert await source.query("up", at=1234.5) == 7.0
    await source.aclose()
    assert seen[0].url.path == "/api/v1/query"
    assert seen[0].url.params["query"] == "up" and seen[0].url.params["time"] == "1234.500"


@pytest.mark.parametrize(
    ("responses", "calls", "expected"),
    [
        pytest.param([503, 502, 200], 3, 1.0, id="5xx-retried-then-ok"),
        pytest.param([503, 503, 503], 3, R.QUERY_ERROR, id="5xx-exhausted"),
        pytest.param(["connect", 200], 2, 1.0, id="connect-error-retried"),
        pytest.param(["timeout", "timeout", "timeout"], 3, R.QUERY_ERROR, id="timeouts-exhausted"),
        pytest.param([400], 1, R.QUERY_ERROR, id="4xx-not-retried"),
        pytest.param(["not-json"], 1, R.QUERY_ERROR, id="not-json"),
    ],
)
async def test_retries(responses: list[Any], calls: int, expected: float | R) -> None:
    made: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        step = responses[len(made)]
        made.append(1)
        if step == "connect":
            raise httpx.ConnectError("refused", request=request)
        if step == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if step == "not-json":
            return httpx.Response(200, text="<html>proxy</html>")
        if step == 400:
            return httpx.Response(
                400, json={"status": "error", "errorType": "bad_data", "error": "parse error"}
            )
        if step != 200:
            return httpx.Response(step, text="unavailable")
        return httpx.Response(200, json=_vector("1"))

    got = await _source(handler).query("up")
    assert len(made) == calls
    if isinstance(expected, float):
        assert got == expected
    else:
        assert isinstance(got, obs.Unavailable) and got.reason is expected


def _fake_prometheus(answers: Mapping[str, str | None]) -> Callable[[httpx.Request], httpx.Response]:
    """Answers by the first (regex) key that matches the rendered query; None -> empty vector."""

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        assert "{" not in re.sub(r'\{[^{}]*="[^"]*"[^{}]*\}', "", query), f"unrendered placeholder in {query}"
        for pattern, value in answers.items():
            if re.search(pattern, query):
                return httpx.Response(200, json=_vector(value) if value is not None else _vector())
        return httpx.Response(200, json=_vector())

    return handler


def _gate(name: str) -> GateSpec:
    return next(g for g in parsing.parse_gates({"preset": "mangaassist"}) if g.header.name == name)


async def test_proportion_counts_per_arm() -> None:
    answers = {
        r'^sum\(increase\(\w+_noclicks_total\{route="recs",variant="canary"\}\[900s\]\)\)$': "440.2",
        r'^sum\(increase\(\w+_noclicks_total\{route="recs",variant="primary"\}\[900s\]\)\)$': "400",
        r'variant="canary".*\+': "1000.4",
        r'variant="primary".*\+': "1000",
    }
    got = await _source(_fake_prometheus(answers)).observe(_gate("user-visible-quality"), CTX)
    assert got == obs.Counts(440, 1000, 400, 1000)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param({"canary": None}, R.NO_DATA, id="missing-series"),
        pytest.param({"canary": "NaN"}, R.NO_DATA, id="nan"),
    ],
)
async def test_proportion_no_data(answers: dict[str, str | None], expected: R) -> None:
    got = await _source(_fake_prometheus({**answers, "primary": "10"})).observe(
        _gate("user-visible-quality"), CTX
    )
    assert isinstance(got, obs.Unavailable) and got.reason is expected


async def test_latency_quantiles_counts_and_confidence_bounds() -> None:
    # Each level answers 0.1 s x its level, so the test reads back which level was asked.
    asked: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        variant = "canary" if 'variant="canary"' in query else "primary"
        if query.startswith("histogram_quantile("):
            level = float(query[len("histogram_quantile(") :].split(",")[0])
            asked.append((variant, level))
            value = "NaN" if variant == "canary" and level == 0.99 else repr(0.1 * level)
            return httpx.Response(200, json=_vector(value))
        return httpx.Response(200, json=_vector("1200" if variant == "canary" else "9000"))

    spec = _gate("latency")
    assert isinstance(spec, LatencySpec) and spec.alpha == 0.01
    got = await _source(handler).observe(spec, CTX)
    # The candidate's lower bounds and the baseline's upper ones, each at alpha / 2.
    lo95, lo99 = (quantiles.levels(1200, q, 0.005).lower for q in (0.95, 0.99))
    hi95, hi99 = (quantiles.levels(9000, q, 0.005).upper for q in (0.95, 0.99))
    assert lo95 is not None and lo99 is not None and hi95 is not None and hi99 is not None
    assert lo95 < 0.95 < hi95 and lo99 < 0.99 < hi99
    assert sorted(asked) == sorted(
        [
            *[("canary", 0.95), ("canary", lo95), ("canary", 0.99), ("canary", lo99)],
            *[("primary", 0.95), ("primary", hi95), ("primary", 0.99), ("primary", hi99)],
        ]
    )
    assert got == obs.Quantiles(
        obs.QuantileArm({0.95: 0.095, 0.99: None}, 1200, lower={0.95: 0.1 * lo95, 0.99: 0.1 * lo99}),
        obs.QuantileArm({0.95: 0.095, 0.99: 0.099}, 9000, upper={0.95: 0.1 * hi95, 0.99: 0.1 * hi99}),
    )


async def test_latency_skips_bounds_too_few_requests_allow() -> None:
    # 200 requests bound p95 from below but not p99 from above (that needs 740 at alpha 0.005).
    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        if query.startswith("histogram_quantile("):
            return httpx.Response(200, json=_vector("0.05"))
        return httpx.Response(200, json=_vector("200"))

    got = await _source(handler).observe(_gate("latency"), CTX)
    assert isinstance(got, obs.Quantiles) and got.baseline is not None
    assert got.baseline.upper == {0.95: 0.05, 0.99: None}
    assert got.candidate.lower == {0.95: 0.05, 0.99: 0.05}


async def test_relative_values_and_query_error_wins() -> None:
    cost = _gate("cost")
    got = await _source(_fake_prometheus({"canary": "1.5", "primary": "1.2"})).observe(cost, CTX)
    assert isinstance(got, obs.Values)
    assert list(got.candidate.values()) == [1.5] and list(got.baseline.values()) == [1.2]

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"status": "error", "errorType": "bad_data", "error": "unknown function"}
        )

    err = await _source(broken).observe(cost, CTX)
    assert (
        isinstance(err, obs.Unavailable) and err.reason is R.QUERY_ERROR and "unknown function" in err.detail
    )


async def test_unreachable_and_unsupported_kinds_never_raise() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    source = _source(down, retries=1)
    for name in ("user-visible-quality", "latency", "cost", "rollback"):
        got = await source.observe(_gate(name), CTX)
        assert isinstance(got, obs.Unavailable) and got.reason is R.QUERY_ERROR, name


async def test_escaping_of_values() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["query"])
        return httpx.Response(200, json=_vector("1"))

    ctx = QueryContext(namespace='n"s', target="t", candidate="c", route="r\\x")
    gate = parsing.parse_gates(
        [{"name": "t", "kind": "threshold", "metric": 'x{ns="{namespace}",r="{route}"}', "max": 2}]
    )[0]
    await _source(handler).observe(gate, ctx)
    assert seen == ['x{ns="n\\"s",r="r\\\\x"}']
    assert json.dumps(seen)  # plain strings

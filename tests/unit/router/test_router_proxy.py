"""The router against real HTTP backends on loopback: forwarding, split, faults, bad input."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from router_support import Backend, RouterUnderTest, route_doc

MakeBackend = Callable[..., Awaitable[Backend]]
MakeRouter = Callable[..., Awaitable[RouterUnderTest]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_forwards_path_query_body_and_headers(backends: MakeBackend, make_router: MakeRouter) -> None:
    p = await backends("p")
    r = await make_router()
    r.set_routes(route_doc("retriever", p))
    async with httpx.AsyncClient(base_url=r.base) as c:
        resp = await c.post(
            "/r/retriever/predictions/retriever?x=1",
            content=b'{"query": "iyashikei"}',
            headers={"X-Custom": "yes"},
        )
        own = await c.get("/r/retriever/ping", headers={"X-Request-Id": "caller-id-1"})
        bare = await c.get("/r/retriever?q=2")
    assert resp.status_code == 200 and resp.json()["version"] == "p"
    assert resp.headers["x-served-by"] == "primary"
    rid = resp.headers["x-request-id"]
    assert len(rid) == 32
    seen = p.seen[0]
    assert (seen.method, seen.path, seen.body) == (
        "POST",
        "/predictions/retriever?x=1",
        b'{"query": "iyashikei"}',
    )
    assert seen.headers["x-custom"] == "yes" and seen.headers["x-request-id"] == rid
    assert own.headers["x-request-id"] == "caller-id-1" and p.seen[1].headers["x-request-id"] == "caller-id-1"
    assert p.seen[2].path == "/?q=2"
    assert bare.status_code == 200
    assert r.metric("shadowgate_router_requests_total", route="retriever", variant="primary", code="200") == 3
    assert r.metric("shadowgate_router_impressions_total", route="retriever", variant="primary") == 3


async def test_url_prefix_is_prepended(backends: MakeBackend, make_router: MakeRouter) -> None:
    p = await backends("p")
    r = await make_router()
    r.set_routes(route_doc("cls", p.url + "/base"))
    async with httpx.AsyncClient(base_url=r.base) as c:
        await c.get("/r/cls/predictions/x")
    assert p.seen[0].path == "/base/predictions/x"


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        pytest.param("GET", "/r/nope/x", 404, "unknown route", id="unknown-route"),
        pytest.param("GET", "/elsewhere", 404, "no such path", id="unknown-path"),
        pytest.param("GET", "/feedback", 405, "POST", id="feedback-get"),
    ],
)
async def test_bad_requests_get_json_4xx(
    backends: MakeBackend, make_router: MakeRouter, method: str, path: str, status: int, error: str
) -> None:
    p = await backends("p")
    r = await make_router()
    r.set_routes(route_doc("retriever", p))
    async with httpx.AsyncClient(base_url=r.base) as c:
        resp = await c.request(method, path)
    assert resp.status_code == status
    assert error in resp.json()["error"]
    if path.startswith("/r/"):
        assert resp.headers["x-request-id"]


async def raw_exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    return out


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        pytest.param(b"GARBAGE\r\n\r\n", 400, b"malformed HTTP request", id="garbage"),
        pytest.param(
            b"GET /r/x HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400, b"malformed", id="bad-cl"
        ),
        pytest.param(
            b"POST /r/retriever/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n",
            413,
            b"over 1000",
            id="too-big-cl",
        ),
        pytest.param(
            b"POST /feedback HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n"
            + b"x" * 2000
            + b"\r\n",
            413,
            b"over 1000",
            id="too-big-chunked",
        ),
    ],
)
async def test_protocol_errors(
    backends: MakeBackend, make_router: MakeRouter, raw: bytes, status: int, error: bytes
) -> None:
    p = await backends("p")
    r = await make_router(max_body_bytes=1000)
    r.set_routes(route_doc("retriever", p))
    out = await raw_exchange(r.svc.port, raw)
    assert out.startswith(b"HTTP/1.1 %d" % status)
    assert b"application/json" in out and error in out
    assert not p.seen


async def test_oversized_counted_per_surface(backends: MakeBackend, make_router: MakeRouter) -> None:
    p = await backends("p")
    r = await make_router(max_body_bytes=100)
    r.set_routes(route_doc("retriever", p))
    async with httpx.AsyncClient(base_url=r.base) as c:
        assert (await c.post("/r/retriever/x", content=b"x" * 500)).status_code == 413
        assert (await c.post("/feedback", content=b"x" * 500)).status_code == 413
    assert r.metric("shadowgate_router_requests_total", route="retriever", variant="", code="413") == 1
    assert r.metric("shadowgate_router_feedback_rejected_total", reason="too_large") == 1


async def test_primary_down_is_502_and_counted(make_router: MakeRouter) -> None:
    r = await make_router()
    r.set_routes(route_doc("retriever", f"http://127.0.0.1:{free_port()}"))
    async with httpx.AsyncClient(base_url=r.base) as c:
        resp = await c.get("/r/retriever/x")
    assert resp.status_code == 502
    body = resp.json()
    assert "primary backend failed" in body["error"] and body["route"] == "retriever"
    assert resp.headers["x-served-by"] == "primary" and resp.headers["x-request-id"]
    assert (
        r.metric(
            "shadowgate_router_upstream_errors_total", route="retriever", variant="primary", kind="connect"
        )
        == 1
    )
    assert r.metric("shadowgate_router_requests_total", route="retriever", variant="primary", code="502") == 1
    assert r.metric("shadowgate_router_impressions_total", route="retriever", variant="primary") == 0


async def test_no_ready_endpoint_is_503(make_router: MakeRouter) -> None:
    r = await make_router()
    r.set_routes(
        {"route": "retriever", "version": 1, "primary": {"service": "s", "namespace": "n", "port": 80}}
    )
    async with httpx.AsyncClient(base_url=r.base) as c:
        resp = await c.get("/r/retriever/x")
    assert resp.status_code == 503 and "no ready endpoint" in resp.json()["error"]


async def test_slow_primary_is_504(backends: MakeBackend, make_router: MakeRouter) -> None:
    p = await backends("p")
    p.delay_s = 1.0
    r = await make_router(upstream_timeout_s=0.1)
    r.set_routes(route_doc("retriever", p))
    async with httpx.AsyncClient(base_url=r.base) as c:
        resp = await c.get("/r/retriever/x")
    assert resp.status_code == 504 and "did not answer in time" in resp.json()["error"]


async def test_backend_error_status_passes_through(backends: MakeBackend, make_router: MakeRouter) -> None:
    p = await backends("p", reply=lambda seen: (422, {"error": "bad query"}))
    r = await make_router()
    r.set_routes(route_doc("retriever", p))
    async with httpx.AsyncClient(base_url=r.base) as c:
        resp = await c.post("/r/retriever/x", content=b"{}")
    assert resp.status_code == 422 and resp.json() == {"error": "bad query"}
    assert r.metric("shadowgate_router_impressions_total", route="retriever", variant="primary") == 0


@pytest.mark.parametrize("weight", [0, 30, 100], ids=lambda w: f"w{w}")
async def test_sticky_split(backends: MakeBackend, make_router: MakeRouter, weight: int) -> None:
    p, cnd = await backends("p"), await backends("c")
    r = await make_router()
    r.set_routes(
        route_doc("retriever", p, canary={"url": cnd.url}, canaryWeight=weight, stickyKey="X-User-Id")
    )
    served: dict[str, set[str]] = {}
    async with httpx.AsyncClient(base_url=r.base) as c:
        for _rep in range(2):
            for u in range(150):
                resp = await c.get("/r/retriever/x", headers={"X-User-Id": f"u{u}"})
                assert resp.json()["version"] == resp.headers["x-served-by"][0]
                served.setdefault(f"u{u}", set()).add(resp.headers["x-served-by"])
    assert all(len(v) == 1 for v in served.values())  # sticky across repeats
    canary_users = sum("canary" in v for v in served.values())
    if weight == 0:
        assert canary_users == 0 and not cnd.seen
    elif weight == 100:
        assert canary_users == 150 and not p.seen
    else:
        assert 20 <= canary_users <= 70  # 45 expected; binomial sd 5.6


async def test_feedback_credits_the_serving_variant(backends: MakeBackend, make_router: MakeRouter) -> None:
    from router.attribution import Settings

    p, cnd = await backends("p"), await backends("c")
    r = await make_router(attribution=Settings(window_s=1.5, ttl_s=5))
    r.set_routes(route_doc("retriever", p, canary={"url": cnd.url}, canaryWeight=50))
    ids: dict[str, list[str]] = {"primary": [], "canary": []}
    async with httpx.AsyncClient(base_url=r.base) as c:
        for u in range(40):
            resp = await c.get("/r/retriever/x", headers={"X-Session-Id": f"s{u}"})
            ids[resp.headers["x-served-by"]].append(resp.headers["x-request-id"])
        # The latest ones: a loaded machine may take most of a window to send 40 requests.
        clicks = ids["primary"][-3:] + ids["canary"][-5:]
        resp = await c.post("/feedback", json=[{"request_id": i, "event": "click"} for i in clicks])
        assert resp.status_code == 200
        await asyncio.sleep(1.6)
        late = await c.post("/feedback", json={"request_id": ids["primary"][0], "event": "click"})
    assert late.status_code == 410
    for variant, n_clicks in (("primary", 3), ("canary", 5)):
        labels: dict[str, Any] = {"route": "retriever", "variant": variant}
        assert r.metric("shadowgate_router_impressions_total", **labels) == len(ids[variant])
        assert r.metric("shadowgate_router_clicks_total", **labels) == n_clicks
        assert r.metric("shadowgate_router_noclicks_total", **labels) == len(ids[variant]) - n_clicks


async def test_metrics_exposition_is_valid_for_promtool(
    backends: MakeBackend, make_router: MakeRouter
) -> None:
    p, s = await backends("p"), await backends("s")
    r = await make_router()
    r.set_routes(
        route_doc("retriever", p, kind="retriever", shadow={"url": s.url}, comparison={"sampleRate": 1})
    )
    async with httpx.AsyncClient(base_url=r.base) as c:
        resp = await c.get("/r/retriever/x")
        await c.post("/feedback", json={"request_id": resp.headers["x-request-id"], "event": "click"})
        await c.post("/feedback", json={"request_id": "nope", "event": "click"})
        await asyncio.sleep(0.2)
        text = (await c.get("/metrics")).text
    assert "shadowgate_router_shadow_jaccard_bucket" in text
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr  # parse errors and lint warnings both fail


async def test_health_and_readiness(make_router: MakeRouter) -> None:
    r = await make_router()
    async with httpx.AsyncClient(base_url=r.base) as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 503
        r.set_routes()
        assert (await c.get("/readyz")).status_code == 200


async def read_responses(port: int, data: bytes, count: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = b""
    while out.count(b"HTTP/1.1 ") < count or not out.endswith(b"}"):
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        out += chunk
    writer.close()
    return out


@pytest.mark.parametrize(
    ("raw", "count", "check"),
    [
        pytest.param(
            b"GET /r/retriever/a HTTP/1.1\r\nHost: x\r\n\r\nGET /r/retriever/b HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            3,
            lambda out: out.index(b'"version":"p"') < out.rindex(b'"status":"ok"'),
            id="pipelined-in-order",
        ),
        pytest.param(
            b"POST /r/retriever/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n{}",
            2,
            lambda out: out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"),
            id="expect-100-continue",
        ),
    ],
)
async def test_connection_semantics(
    backends: MakeBackend, make_router: MakeRouter, raw: bytes, count: int, check: Callable[[bytes], bool]
) -> None:
    p = await backends("p")
    r = await make_router()
    r.set_routes(route_doc("retriever", p))
    out = await read_responses(r.svc.port, raw, count)
    assert check(out), out
    assert all("expect" not in s.headers for s in p.seen)


async def test_head_answer_has_no_body(backends: MakeBackend, make_router: MakeRouter) -> None:
    p = await backends("p")
    r = await make_router()
    r.set_routes(route_doc("retriever", p))
    raw = b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    out = await read_responses(r.svc.port, raw, 2)
    first, _, rest = out.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200") and b"content-length: 15" in first
    assert rest.startswith(b"HTTP/1.1 200")  # the HEAD answer carried no body before the next one

"""Mirroring against real HTTP backends: invisible to callers, bounded, counted, compared."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from router_support import Backend, RouterUnderTest, Seen, route_doc
from test_router_proxy import free_port

MakeBackend = Callable[..., Awaitable[Backend]]
MakeRouter = Callable[..., Awaitable[RouterUnderTest]]


async def settle(r: RouterUnderTest, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while r.svc.mirror.inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)


def mirror(r: RouterUnderTest, result: str, route: str = "retriever") -> float:
    return r.metric("shadowgate_router_mirror_total", route=route, variant="shadow", result=result)


async def test_healthy_shadow_gets_a_copy_caller_gets_primary(
    backends: MakeBackend, make_router: MakeRouter
) -> None:
    p, s = await backends("p"), await backends("s")
    r = await make_router()
    r.set_routes(route_doc("retriever", p, shadow={"url": s.url}))
    async with httpx.AsyncClient(base_url=r.base) as c:
        resp = await c.post("/r/retriever/predictions/retriever", content=b'{"query": "q"}')
    await settle(r)
    assert resp.json()["version"] == "p" and resp.headers["x-served-by"] == "primary"
    assert len(s.seen) == 1
    copy = s.seen[0]
    assert (copy.path, copy.body) == ("/predictions/retriever", b'{"query": "q"}')
    assert copy.headers["x-shadowgate-mirror"] == "1"
    assert copy.headers["x-request-id"] == resp.headers["x-request-id"]
    assert (mirror(r, "sent"), mirror(r, "completed")) == (1, 1)
    # Shadow answers are never impressions.
    assert r.metric("shadowgate_router_impressions_total", route="retriever", variant="shadow") == 0


@pytest.mark.parametrize("shadow_state", ["refused", "erroring", "slow"])
async def test_broken_shadow_is_invisible(
    backends: MakeBackend, make_router: MakeRouter, shadow_state: str
) -> None:
    p = await backends("p")
    if shadow_state == "refused":
        shadow_url = f"http://127.0.0.1:{free_port()}"
    else:
        s = await backends(
            "s", reply=(lambda seen: (500, {"error": "x"})) if shadow_state == "erroring" else None
        )
        s.delay_s = 2.0 if shadow_state == "slow" else 0.0
        shadow_url = s.url
    r = await make_router(mirror_timeout_s=0.2, mirror_max_inflight=4)
    r.set_routes(route_doc("retriever", p, shadow={"url": shadow_url}))
    worst = 0.0
    async with httpx.AsyncClient(base_url=r.base) as c:
        for _ in range(20):
            t0 = time.perf_counter()
            resp = await c.get("/r/retriever/x")
            worst = max(worst, time.perf_counter() - t0)
            assert resp.status_code == 200 and resp.json()["version"] == "p"
    await settle(r)
    assert worst < 1.0  # the slow shadow takes 2 s: no caller waited for it
    assert (
        r.metric("shadowgate_router_requests_total", route="retriever", variant="primary", code="200") == 20
    )
    accounted = mirror(r, "sent") + mirror(r, "dropped_budget") + mirror(r, "dropped_unhealthy")
    assert accounted == 20
    assert mirror(r, "failed") == mirror(r, "sent") > 0
    kind: str | None = None
    if shadow_state == "slow":
        assert mirror(r, "dropped_budget") + mirror(r, "dropped_unhealthy") > 0
        kind = "timeout"
    else:
        kind = "connect" if shadow_state == "refused" else None
    if kind:
        assert (
            r.metric(
                "shadowgate_router_upstream_errors_total", route="retriever", variant="shadow", kind=kind
            )
            > 0
        )


async def test_budget_bounds_inflight_mirrors(backends: MakeBackend, make_router: MakeRouter) -> None:
    p, s = await backends("p"), await backends("s")
    s.delay_s = 0.5
    r = await make_router(mirror_max_inflight=3, mirror_timeout_s=2.0)
    r.set_routes(route_doc("retriever", p, shadow={"url": s.url}))
    async with httpx.AsyncClient(base_url=r.base) as c:
        await asyncio.gather(*(c.get("/r/retriever/x") for _ in range(30)))
        assert r.svc.mirror.inflight <= 3
    await settle(r)
    assert mirror(r, "sent") == 3 and mirror(r, "dropped_budget") == 27 and mirror(r, "completed") == 3


async def test_large_bodies_are_not_mirrored(backends: MakeBackend, make_router: MakeRouter) -> None:
    p, s = await backends("p"), await backends("s")
    r = await make_router(mirror_max_body_bytes=100)
    r.set_routes(route_doc("retriever", p, shadow={"url": s.url}))
    async with httpx.AsyncClient(base_url=r.base) as c:
        assert (await c.post("/r/retriever/x", content=b"x" * 101)).status_code == 200
        assert (await c.post("/r/retriever/x", content=b"x" * 100)).status_code == 200
    await settle(r)
    assert mirror(r, "dropped_size") == 1 and mirror(r, "sent") == 1 and len(s.seen) == 1


@pytest.mark.parametrize(("percent", "low", "high"), [(0, 0, 0), (25, 25, 75), (100, 200, 200)], ids=str)
async def test_mirror_percent(
    backends: MakeBackend, make_router: MakeRouter, percent: int, low: int, high: int
) -> None:
    p, s = await backends("p"), await backends("s")
    r = await make_router()
    r.set_routes(route_doc("retriever", p, shadow={"url": s.url}, mirrorPercent=percent))
    async with httpx.AsyncClient(base_url=r.base) as c:
        for _ in range(200):
            await c.get("/r/retriever/x")
    await settle(r)
    assert low <= len(s.seen) <= high  # 25 %: 50 expected, binomial sd 6


async def test_canary_served_requests_are_not_mirrored(
    backends: MakeBackend, make_router: MakeRouter
) -> None:
    p, cnd, s = await backends("p"), await backends("c"), await backends("s")
    r = await make_router()
    r.set_routes(route_doc("retriever", p, canary={"url": cnd.url}, canaryWeight=100, shadow={"url": s.url}))
    async with httpx.AsyncClient(base_url=r.base) as c:
        await c.get("/r/retriever/x")
    await settle(r)
    assert len(cnd.seen) == 1 and not s.seen


def retriever_reply(ids: list[str]) -> Callable[[Seen], tuple[int, object]]:
    return lambda seen: (
        200,
        {"model": "retriever", "version": "1", "items": [{"id": i, "score": 1.0} for i in ids]},
    )


@pytest.mark.parametrize(
    ("kind", "primary", "shadow", "metric", "labels", "value"),
    [
        pytest.param("retriever", ["a", "b", "c"], ["a", "c", "d"], "shadow_jaccard_sum", {}, 0.5,
                     id="jaccard"),
        pytest.param("retriever", ["a", "b", "c"], ["a", "c", "d"], "shadow_top1_match_total",
                     {"match": "true"}, 1, id="top1"),
        pytest.param("reranker", ["a", "b", "c"], ["c", "b", "a"], "shadow_rank_correlation_sum", {}, -1.0,
                     id="rank-correlation"),
    ],
)  # fmt: skip
async def test_paired_comparison(
    backends: MakeBackend,
    make_router: MakeRouter,
    kind: str,
    primary: list[str],
    shadow: list[str],
    metric: str,
    labels: dict[str, str],
    value: float,
) -> None:
    p = await backends("p", reply=retriever_reply(primary))
    s = await backends("s", reply=retriever_reply(shadow))
    r = await make_router()
    r.set_routes(
        route_doc("retriever", p, kind=kind, shadow={"url": s.url}, comparison={"sampleRate": 1, "k": 3})
    )
    async with httpx.AsyncClient(base_url=r.base) as c:
        await c.post("/r/retriever/predictions/retriever", content=b"{}")
    await settle(r)
    got = r.metric(f"shadowgate_router_{metric}", route="retriever", variant="shadow", **labels)
    assert got == pytest.approx(value)


@pytest.mark.parametrize(
    ("shadow_label", "match"), [("search", "true"), ("order", "false")], ids=["agree", "differ"]
)
async def test_classifier_label_agreement(
    backends: MakeBackend, make_router: MakeRouter, shadow_label: str, match: str
) -> None:
    p = await backends("p", reply=lambda seen: (200, {"label": "search", "probabilities": {}}))
    s = await backends("s", reply=lambda seen: (200, {"label": shadow_label, "probabilities": {}}))
    r = await make_router()
    r.set_routes(
        route_doc("intent", p, kind="classifier", shadow={"url": s.url}, comparison={"sampleRate": 1})
    )
    async with httpx.AsyncClient(base_url=r.base) as c:
        await c.post("/r/intent/predictions/intent", content=b'{"text": "hi"}')
    await settle(r)
    labels = {"route": "intent", "variant": "shadow", "match": match}
    assert r.metric("shadowgate_router_shadow_label_agreement_total", **labels) == 1


async def test_comparison_sample_rate_zero_compares_nothing(
    backends: MakeBackend, make_router: MakeRouter
) -> None:
    p, s = await backends("p"), await backends("s")
    r = await make_router()
    r.set_routes(route_doc("retriever", p, kind="retriever", shadow={"url": s.url}))
    async with httpx.AsyncClient(base_url=r.base) as c:
        await c.get("/r/retriever/x")
    await settle(r)
    assert len(s.seen) == 1
    assert r.metric("shadowgate_router_shadow_jaccard_count", route="retriever", variant="shadow") == 0


async def test_breaker_pauses_a_dead_shadow_and_resumes(
    backends: MakeBackend, make_router: MakeRouter
) -> None:
    p = await backends("p")
    port = free_port()
    r = await make_router(mirror_breaker_failures=3, mirror_breaker_backoff_s=1.0)
    r.set_routes(route_doc("retriever", p, shadow={"url": f"http://127.0.0.1:{port}"}))
    async with httpx.AsyncClient(base_url=r.base) as c:
        for _ in range(20):
            assert (await c.get("/r/retriever/x")).status_code == 200
            await settle(r)
        # 3 failures open the breaker; a slow machine may let a probe or two through after 1 s.
        assert 3 <= mirror(r, "sent") <= 5
        assert mirror(r, "sent") + mirror(r, "dropped_unhealthy") == 20
        shadow = await backends("s", port=port)  # the shadow comes back on the same address
        deadline = time.monotonic() + 20
        while mirror(r, "completed") == 0 and time.monotonic() < deadline:
            await c.get("/r/retriever/x")
            await settle(r)
            await asyncio.sleep(0.1)
    assert mirror(r, "completed") >= 1 and shadow.seen  # a probe succeeded and closed the breaker

"""Fire-and-forget mirroring to the shadow, with a bounded in-flight budget and paired comparison.

The caller has already been answered when a copy is sent (the router mirrors after writing the
primary's response), so the shadow can add neither latency nor errors to the primary path. When
the budget is spent (shadow slow or dead) the copy is dropped and counted, never queued; a shadow
that keeps failing is skipped for a backoff (``router.breaker``), also counted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import orjson

from router import compare
from router.breaker import Breaker
from router.metrics import RouterMetrics
from router.table import Route
from router.upstream import Client, UpstreamError, UpstreamResponse

log = logging.getLogger(__name__)

VARIANT = "shadow"


class Mirror:
    def __init__(
        self,
        client: Client,
        metrics: RouterMetrics,
        max_inflight: int,
        max_body: int,
        timeout_s: float,
        breaker: Breaker | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._breaker = breaker or Breaker()
        self._client = client
        self._metrics = metrics
        self._max_inflight = max_inflight
        self._max_body = max_body
        self._timeout_s = timeout_s
        self._rng = rng
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def _count(self, route: str, result: str) -> None:
        self._metrics.mirror.labels(route, VARIANT, result).inc()

    def wants(self, route: Route) -> bool:
        """Whether this request is in the route's mirror sample."""
        f = route.mirror_fraction
        return route.shadow is not None and f > 0 and (f >= 1.0 or self._rng() < f)

    def submit(
        self,
        route: Route,
        address: tuple[str, int] | None,
        prefix: bytes,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        primary: UpstreamResponse,
    ) -> None:
        """Send one copy unless the body is too large or the budget is spent (both counted)."""
        if len(body) > self._max_body:
            self._count(route.name, "dropped_size")
            return
        if len(self._inflight) >= self._max_inflight:
            self._count(route.name, "dropped_budget")
            return
        if address is None:
            self._count(route.name, "failed")
            return
        if not self._breaker.allow(address):
            self._count(route.name, "dropped_unhealthy")
            return
        compare_it = route.comparison_rate > 0 and self._rng() < route.comparison_rate
        task = asyncio.get_running_loop().create_task(
            self._send(
                route, address, prefix + target, method, headers, body, primary if compare_it else None
            )
        )
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        self._count(route.name, "sent")

    async def _send(
        self,
        route: Route,
        address: tuple[str, int],
        target: bytes,
        method: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        primary: UpstreamResponse | None,
    ) -> None:
        try:
            resp = await self._client.request(
                address[0], address[1], method, target, headers, body, self._timeout_s
            )
        except UpstreamError as err:
            self._breaker.record(address, ok=False)
            self._count(route.name, "failed")
            self._metrics.upstream_errors.labels(route.name, VARIANT, err.kind.value).inc()
            return
        except Exception:
            log.exception("mirror to %s failed", address)
            self._breaker.record(address, ok=False)
            self._count(route.name, "failed")
            return
        self._breaker.record(address, ok=resp.status < 500)
        if resp.status >= 500:
            self._count(route.name, "failed")
            return
        self._count(route.name, "completed")
        if primary is not None and 200 <= resp.status < 300 and 200 <= primary.status < 300:
            self._compare(route, primary.body, resp.body)

    def _compare(self, route: Route, primary_body: bytes, shadow_body: bytes) -> None:
        m = self._metrics
        try:
            results = compare.compare(
                route.kind, orjson.loads(primary_body), orjson.loads(shadow_body), route.comparison_k
            )
        except orjson.JSONDecodeError:
            results = None
        if results is None:
            m.comparison_invalid.labels(route.name, VARIANT).inc()
            return
        for c in results:
            if c.jaccard is not None:
                m.jaccard.labels(route.name, VARIANT).observe(c.jaccard)
            if c.top1_match is not None:
                m.top1.labels(route.name, VARIANT, str(c.top1_match).lower()).inc()
            if c.label_match is not None:
                m.label_agreement.labels(route.name, VARIANT, str(c.label_match).lower()).inc()
            if c.rank_correlation is not None:
                m.rank_correlation.labels(route.name, VARIANT).observe(c.rank_correlation)

    async def drain(self, timeout_s: float) -> None:
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=timeout_s)
        for t in list(self._inflight):
            t.cancel()

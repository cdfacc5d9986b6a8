"""Wiring: one router process (server, client, table source, attribution, state) and its lifecycle.

Shutdown order matters for "no acknowledged outcome lost": stop accepting, finish in-flight
requests, then save counters and pending impressions (with ``state_file``) or count the pending
ones as evicted with reason ``shutdown`` (without it), then save once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pathlib

from router import state
from router.app import AppSettings, RouterApp
from router.attribution import AttributionBook, Settings
from router.breaker import Breaker
from router.endpoints import Endpoints
from router.httpserver import HttpServer
from router.kubesource import KubeSource
from router.metrics import MetricsSink, RouterMetrics
from router.mirror import Mirror
from router.sources import TableAssembler, TableSource
from router.table import RouteTable
from router.upstream import Client

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    max_body_bytes: int = 1 << 20
    upstream_timeout_s: float = 10.0
    mirror_max_inflight: int = 128
    mirror_max_body_bytes: int = 256 << 10
    mirror_timeout_s: float = 1.0
    mirror_breaker_failures: int = 5  # 0 turns the breaker off
    mirror_breaker_backoff_s: float = 1.0
    attribution: Settings = dataclasses.field(default_factory=Settings)
    state_file: pathlib.Path | None = None
    state_interval_s: float = 1.0
    shutdown_grace_s: float = 5.0


class RouterService:
    def __init__(self, settings: ServiceSettings, source: TableSource | None) -> None:
        self.settings = settings
        self.metrics = RouterMetrics()
        self.client = Client()
        self.endpoints = Endpoints()
        self.book = AttributionBook(settings.attribution, MetricsSink(self.metrics))
        self.mirror = Mirror(
            self.client,
            self.metrics,
            settings.mirror_max_inflight,
            settings.mirror_max_body_bytes,
            settings.mirror_timeout_s,
            Breaker(settings.mirror_breaker_failures, settings.mirror_breaker_backoff_s),
        )
        self.app = RouterApp(
            AppSettings(upstream_timeout_s=settings.upstream_timeout_s),
            self.metrics,
            self.client,
            self.endpoints,
            self.book,
            self.mirror,
        )
        self.assembler = TableAssembler(self.metrics, self._apply)
        self._source = source
        self._server = HttpServer(self.app.handle, settings.max_body_bytes, self.app.protocol_error)
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self._stopped = False

    def attach_source(self, source: TableSource) -> None:
        """Set the source after construction (the Kubernetes source needs ``self.endpoints``)."""
        self._source = source

    def _apply(self, table: RouteTable) -> None:
        self.app.set_table(table)
        if isinstance(self._source, KubeSource):
            self._source.watch_backends(self.app.service_backends())
        self.app.ready = True

    async def start(self) -> int:
        if self.settings.state_file is not None:
            restored = state.load(self.settings.state_file, self.metrics, self.book)
            log.info(
                "restored attribution state from %s (%d pending impressions)",
                self.settings.state_file,
                restored,
            )
        loop = asyncio.get_running_loop()
        if self._source is not None:
            self._tasks.append(loop.create_task(self._source.run(self.assembler)))
        self._tasks.append(loop.create_task(self._periodic()))
        self.port = await self._server.start(self.settings.host, self.settings.port)
        return self.port

    async def _periodic(self) -> None:
        window = self.settings.attribution.window_s
        tick = max(0.01, min(0.25, window / 20))
        next_save = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            self.app.sweep()
            path = self.settings.state_file
            if path is not None and loop.time() >= next_save:
                next_save = loop.time() + self.settings.state_interval_s
                try:
                    state.save(path, state.snapshot(self.metrics, None))
                except OSError as exc:
                    log.error("saving state to %s failed: %s", path, exc)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        await self._server.stop(self.settings.shutdown_grace_s)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if isinstance(self._source, KubeSource):
            self._source.stop()
        await self.mirror.drain(1.0)
        self.app.sweep()  # decide every window that has already passed
        pending = self.book.drain()
        path = self.settings.state_file
        if path is not None:
            state.save(path, state.snapshot(self.metrics, pending))
        else:
            for p in pending:
                if not p.decided:
                    self.metrics.evicted.labels(p.route, p.variant, "shutdown").inc()
        self.client.close()

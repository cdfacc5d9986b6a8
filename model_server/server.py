"""Run the three ports in one process and one event loop: three uvicorn servers (httptools
parser, raw ASGI apps) sharing the model repository. One process keeps the models in
memory once; the loop only parses HTTP and moves instances, inference runs on threads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import uvicorn

from model_server import repository
from model_server.handlers import base
from model_server.http import inference, management, metrics_app
from model_server.metrics import ServerMetrics
from model_server.settings import Settings

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Signals are handled once for all three servers by ``ModelServer``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class ModelServer:
    settings: Settings
    repo: repository.ModelRepository
    metrics: ServerMetrics
    servers: list[uvicorn.Server]

    @classmethod
    def create(cls, settings: Settings) -> ModelServer:
        metrics = ServerMetrics(settings.variant)
        limits = base.Limits(settings.max_text_chars, settings.max_batch_instances)
        repo = repository.ModelRepository(settings.model_store, metrics, limits)
        apps: list[tuple[Any, int]] = [
            (inference.InferenceApp(repo, metrics, settings), settings.inference_port),
            (management.ManagementApp(repo, settings.max_body_bytes), settings.management_port),
            (metrics_app.MetricsApp(metrics), settings.metrics_port),
        ]
        servers: list[uvicorn.Server] = [
            _Server(
                uvicorn.Config(
                    app,
                    host=settings.host,
                    port=port,
                    http="httptools",
                    loop="asyncio",
                    lifespan="off",
                    access_log=False,
                    log_level="warning",
                    timeout_keep_alive=30,
                )
            )
            for app, port in apps
        ]
        return cls(settings=settings, repo=repo, metrics=metrics, servers=servers)

    @property
    def started(self) -> bool:
        return all(s.started for s in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True

    async def serve(self) -> None:
        configure_torch(self.settings.torch_threads)
        self.settings.model_store.mkdir(parents=True, exist_ok=True)
        # Listed before the ports open, so no probe ever sees "ready" before the models exist.
        loads = self.repo.load_at_startup(list(self.settings.models), self.settings.handler or None)
        serving = [asyncio.ensure_future(s.serve()) for s in self.servers]
        while not self.started and not any(t.done() for t in serving):
            await asyncio.sleep(0.01)
        log.info(
            "model server (%s) on %s: inference %d, management %d, metrics %d",
            self.settings.variant,
            self.settings.host,
            self.settings.inference_port,
            self.settings.management_port,
            self.settings.metrics_port,
        )
        try:
            results = await asyncio.gather(*serving, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            if any(not s.started for s in self.servers):
                raise SystemExit("a port could not be bound; see the log above")
        finally:
            self.stop()
            for task in loads:
                task.cancel()
            await self.repo.close()


def configure_torch(threads: int) -> None:
    """Set torch's threads deliberately: intra-op = cores (or the flag), one inter-op thread.
    Concurrency across requests comes from batching and workers, not from torch."""
    torch.set_num_threads(threads if threads > 0 else (os.cpu_count() or 1))
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
        torch.set_num_interop_threads(1)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (a cheaper loop: less latency added per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(settings: Settings) -> None:
    server = ModelServer.create(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())

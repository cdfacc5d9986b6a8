"""Run a model server inside this process on a background thread, for tests and
benchmarks: the same ``ModelServer`` the CLI runs, on free loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from model_server.server import ModelServer, new_event_loop
from model_server.settings import Settings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    server: ModelServer
    loop: asyncio.AbstractEventLoop

    @property
    def inference_url(self) -> str:
        return f"http://{self.server.settings.host}:{self.server.settings.inference_port}"

    @property
    def management_url(self) -> str:
        return f"http://{self.server.settings.host}:{self.server.settings.management_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.server.settings.host}:{self.server.settings.metrics_port}"


@contextlib.contextmanager
def running_server(settings: Settings, *, start_timeout_s: float = 30.0) -> Iterator[RunningServer]:
    """Start on free ports (the ports in ``settings`` are replaced) and stop on exit."""
    settings = dataclasses.replace(
        settings,
        inference_port=free_port(settings.host),
        management_port=free_port(settings.host),
        metrics_port=free_port(settings.host),
    )
    server = ModelServer.create(settings)
    loop = new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("model server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(server=server, loop=loop)
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join(timeout=10)
        loop.close()

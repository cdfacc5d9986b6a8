"""Router test support: real HTTP backends (aiohttp on loopback) and a handle on an in-process router.

A uniquely named module (not ``conftest``) so ``import`` can never pick up another directory's conftest."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from router.service import RouterService


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Backend:
    """A model-server stand-in: answers every path with ``reply(request)`` after ``delay_s``."""

    def __init__(self, name: str, reply: Callable[[Seen], tuple[int, Any]] | None = None) -> None:
        self.name = name
        self.delay_s = 0.0
        self.reply = reply or (
            lambda seen: (200, {"version": self.name, "items": [{"id": "a", "score": 1.0}]})
        )
        self.seen: list[Seen] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        seen = Seen(request.method, request.path_qs, headers, await request.read())
        self.seen.append(seen)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, payload = self.reply(seen)
        return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")

    async def start(self, port: int = 0) -> Backend:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def route_doc(name: str, primary: Backend | str, **extra: Any) -> dict[str, Any]:
    url = primary.url if isinstance(primary, Backend) else primary
    return {"route": name, "version": extra.pop("version", 1), "primary": {"url": url}, **extra}


class RouterUnderTest:
    def __init__(self, svc: RouterService) -> None:
        self.svc = svc

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.svc.port}"

    def set_routes(self, *docs: dict[str, Any]) -> None:
        self.svc.assembler.update({f"test#{i}": (orjson.dumps(d), "") for i, d in enumerate(docs)})

    def metric(self, name: str, **labels: str) -> float:
        value = self.svc.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

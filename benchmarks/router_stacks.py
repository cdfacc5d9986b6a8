"""Processes for the router benchmark: a trivial backend, and minimal proxies on each stack.

``python benchmarks/router_stacks.py backend --port P [--delay-ms D]`` serves a small fixed JSON
answer (optionally after a delay). ``python benchmarks/router_stacks.py proxy --stack S --port P
--upstream host:port`` runs the same minimal forwarding logic (method, path, body in; status and
body out) on one server/client stack, so the stacks are compared on equal work:

- ``raw+pool``: asyncio Protocol server with httptools + the router's pooled client (the router's stack)
- ``uvicorn+pool``: uvicorn (httptools, raw ASGI) + the router's pooled client
- ``raw+aiohttp``: asyncio Protocol server + aiohttp.ClientSession
- ``raw+httpx``: asyncio Protocol server + httpx.AsyncClient
"""

from __future__ import annotations

import argparse
import asyncio
import typing
from collections.abc import Awaitable, Callable
from typing import Any

import httptools

from router.httpserver import HttpServer, Request, Response
from router.upstream import Client

BODY = b'{"model":"retriever","version":"1","items":[{"id":"a","score":1.0},{"id":"b","score":0.5}]}'
CT = [(b"content-type", b"application/json")]


class _Backend(asyncio.Protocol):
    """Independent of the router's server code: its own minimal httptools loop."""

    def __init__(self, delay_s: float) -> None:
        self._delay_s = delay_s
        self._parser = httptools.HttpRequestParser(self)
        self._t: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = typing.cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        self._t = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._t:
                self._t.close()

    def on_message_complete(self) -> None:
        raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
            len(BODY),
            BODY,
        )
        if self._delay_s:
            asyncio.get_running_loop().call_later(self._delay_s, self._write, raw)
        else:
            self._write(raw)

    def _write(self, raw: bytes) -> None:
        if self._t is not None and not self._t.is_closing():
            self._t.write(raw)


async def backend(port: int, delay_ms: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Backend(delay_ms / 1000), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def _forwarder(
    stack: str, host: str, port: int
) -> Callable[[bytes, bytes, bytes], Awaitable[tuple[int, bytes]]]:
    if stack.endswith("+pool"):
        pool = Client()

        async def via_pool(method: bytes, target: bytes, body: bytes) -> tuple[int, bytes]:
            r = await pool.request(host, port, method, target, [], body, 10.0)
            return r.status, r.body

        return via_pool
    if stack.endswith("+aiohttp"):
        import aiohttp

        session: dict[str, aiohttp.ClientSession] = {}

        async def via_aiohttp(method: bytes, target: bytes, body: bytes) -> tuple[int, bytes]:
            if not session:
                session["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            url = f"http://{host}:{port}{target.decode()}"
            async with session["s"].request(method.decode(), url, data=body) as r:
                return r.status, await r.read()

        return via_aiohttp
    import httpx

    hx = httpx.AsyncClient(limits=httpx.Limits(max_connections=None, max_keepalive_connections=256))

    async def via_httpx(method: bytes, target: bytes, body: bytes) -> tuple[int, bytes]:
        r = await hx.request(method.decode(), f"http://{host}:{port}{target.decode()}", content=body)
        return r.status_code, r.content

    return via_httpx


async def proxy(stack: str, port: int, upstream: str, loop: str) -> None:
    host, _, up_port = upstream.partition(":")
    forward = _forwarder(stack, host, int(up_port))
    if stack.startswith("uvicorn"):
        import uvicorn

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            chunks = []
            while True:
                msg = await receive()
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    break
            target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
            status, body = await forward(scope["method"].encode(), target, b"".join(chunks))
            await send({"type": "http.response.start", "status": status, "headers": CT})
            await send({"type": "http.response.body", "body": body})

        config = uvicorn.Config(app, host="127.0.0.1", port=port, http="httptools", log_level="warning",
                                access_log=False, lifespan="off", loop=loop)  # fmt: skip
        await uvicorn.Server(config).serve()
        return

    async def handle(req: Request) -> Response:
        status, body = await forward(req.method, req.target, req.body)
        return Response(status, list(CT), body)

    server = HttpServer(handle, 1 << 20)
    await server.start("127.0.0.1", port)
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="role", required=True)
    b = sub.add_parser("backend")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--delay-ms", type=float, default=0.0)
    x = sub.add_parser("proxy")
    x.add_argument("--stack", choices=["raw+pool", "uvicorn+pool", "raw+aiohttp", "raw+httpx"], required=True)
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--upstream", required=True)
    x.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = p.parse_args()
    if args.role == "backend":
        asyncio.run(backend(args.port, args.delay_ms))
    elif args.loop == "uvloop":
        import uvloop

        uvloop.run(proxy(args.stack, args.port, args.upstream, "uvloop"))
    else:
        asyncio.run(proxy(args.stack, args.port, args.upstream, "asyncio"))


if __name__ == "__main__":
    main()

"""A small HTTP/1.1 server: an asyncio Protocol driven by httptools' parser.

Chosen over uvicorn's ASGI layer by measurement (docs/router.md): the router buffers small JSON
bodies and needs none of ASGI's generality, and skipping it halves the per-request CPU.
Requests on one connection are answered in order (pipelining allowed, bounded). Bodies are
buffered up to ``max_body``; beyond it the server answers 413 and closes the connection.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import typing
from collections.abc import Awaitable, Callable

import httptools
import orjson

log = logging.getLogger(__name__)

REASONS = {
    200: b"OK", 201: b"Created", 202: b"Accepted", 204: b"No Content", 301: b"Moved Permanently",
    302: b"Found", 304: b"Not Modified", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
    409: b"Conflict", 410: b"Gone", 413: b"Payload Too Large", 414: b"URI Too Long",
    422: b"Unprocessable Content", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error", 502: b"Bad Gateway", 503: b"Service Unavailable", 504: b"Gateway Timeout",
}  # fmt: skip
MAX_PIPELINE = 16
MAX_HEAD = 64 << 10  # request line + headers; httptools itself has no limit


@dataclasses.dataclass(slots=True)
class Request:
    method: bytes
    target: bytes  # raw request target: path and query
    headers: list[tuple[bytes, bytes]]  # names lower-cased
    body: bytes
    peer: str

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


@dataclasses.dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


Handler = Callable[[Request], Awaitable[Response]]
ErrorHook = Callable[[int, bytes], None]  # (status, request target) for answers given before a handler ran


def json_response(status: int, payload: object, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    hdrs = [(b"content-type", b"application/json")]
    if headers:
        hdrs.extend(headers)
    return Response(status, hdrs, orjson.dumps(payload))


def serialize(resp: Response, keep_alive: bool, head: bool = False) -> bytes:
    reason = REASONS.get(resp.status, b"Unknown")
    parts = [b"HTTP/1.1 %d %s\r\n" % (resp.status, reason)]
    for k, v in resp.headers:
        parts.append(k + b": " + v + b"\r\n")
    parts.append(b"content-length: %d\r\n" % len(resp.body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head:  # a HEAD answer announces the length but carries no body
        parts.append(resp.body)
    return b"".join(parts)


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler, max_body: int, conns: set[_Connection], on_error: ErrorHook) -> None:
        self._handler = handler
        self._on_error = on_error
        self._max_body = max_body
        self._conns = conns
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_len = 0
        self._head_len = 0
        self._too_large = False
        self._queue: collections.deque[tuple[Request, bool]] = collections.deque()
        self._busy = False
        self._closing = False
        self._paused = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = typing.cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if isinstance(peer, tuple) else ""
        self._conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._conns.discard(self)
        self._closing = True

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self._closing:
                self._fail(400, f"malformed HTTP request: {exc}")

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._body_len = 0
        self._head_len = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grow_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._grow_head(len(name) + len(value) + 4)

    def _grow_head(self, n: int) -> None:
        self._head_len += n
        if self._head_len > MAX_HEAD and not self._closing:
            self._fail(431, f"request line and headers over {MAX_HEAD} bytes")

    def on_headers_complete(self) -> None:
        for k, v in self._headers:
            if k == b"content-length" and v.strip().isdigit() and int(v) > self._max_body:
                self._too_large = True
                self._fail(413, f"request body over {self._max_body} bytes")
                return
        for k, v in self._headers:
            # curl waits a second for this before sending bodies over 1 KiB.
            if k == b"expect" and v.lower() == b"100-continue" and self._transport is not None:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self._max_body:
            if not self._too_large:
                self._too_large = True
                self._fail(413, f"request body over {self._max_body} bytes")
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._closing:
            return
        req = Request(
            method=self._parser.get_method(),
            target=self._url,
            headers=self._headers,
            body=b"".join(self._body),
            peer=self._peer,
        )
        self._queue.append((req, self._parser.should_keep_alive()))
        if len(self._queue) >= MAX_PIPELINE and self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._serve())

    # -- serving
    async def _serve(self) -> None:
        try:
            while self._queue and not self._closing:
                req, keep_alive = self._queue.popleft()
                try:
                    resp = await self._handler(req)
                except Exception:
                    log.exception("handler failed for %r", req.target[:200])
                    resp = json_response(500, {"error": "internal error in the router"})
                self._write(resp, keep_alive, req.method == b"HEAD")
                if self._paused and len(self._queue) < MAX_PIPELINE // 2 and self._transport:
                    self._paused = False
                    self._transport.resume_reading()
        finally:
            self._busy = False

    def _write(self, resp: Response, keep_alive: bool, head: bool) -> None:
        t = self._transport
        if t is None or t.is_closing():
            return
        t.write(serialize(resp, keep_alive, head))
        if not keep_alive:
            self._closing = True
            t.close()

    def _fail(self, status: int, message: str) -> None:
        # Protocol errors end the connection: the byte stream can no longer be framed.
        self._closing = True
        self._queue.clear()
        self._on_error(status, self._url)
        t = self._transport
        if t is not None and not t.is_closing():
            t.write(serialize(json_response(status, {"error": message}), keep_alive=False))
            t.close()

    def close_if_idle(self) -> None:
        if not self._busy and not self._queue and self._transport is not None:
            self._closing = True
            self._transport.close()


class HttpServer:
    """Owns the listening socket and the open connections (for a graceful stop)."""

    def __init__(self, handler: Handler, max_body: int, on_error: ErrorHook | None = None) -> None:
        self._handler = handler
        self._max_body = max_body
        self._on_error: ErrorHook = on_error or (lambda status, target: None)
        self._conns: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, backlog: int = 1024) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self._handler, self._max_body, self._conns, self._on_error),
            host,
            port,
            backlog=backlog,
        )
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace_s``), close the rest."""
        if self._server is None:
            return
        self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while loop.time() < deadline:
            for c in list(self._conns):
                c.close_if_idle()
            if not self._conns:
                break
            await asyncio.sleep(0.02)
        for c in list(self._conns):
            if c._transport is not None:
                c._transport.abort()
        await self._server.wait_closed()

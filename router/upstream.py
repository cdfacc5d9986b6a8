"""A pooled keep-alive HTTP/1.1 client on asyncio Protocols with httptools' response parser.

Chosen over aiohttp and httpx by measurement (docs/router.md). One pool per (host, port); idle
connections are reused LIFO so a warm socket serves the next request. A request that fails on a
*reused* connection before any response byte arrived is retried once on a fresh one: the server
may have closed an idle keep-alive socket just as we sent on it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import typing

import httptools


class ErrorKind(enum.StrEnum):
    CONNECT = "connect"
    RESET = "reset"
    TIMEOUT = "timeout"
    BAD_RESPONSE = "bad_response"
    NO_ENDPOINTS = "no_endpoints"


class UpstreamError(Exception):
    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclasses.dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: list[tuple[bytes, bytes]]  # names lower-cased
    body: bytes


class _Conn(asyncio.Protocol):
    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._fut: asyncio.Future[UpstreamResponse] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._got_bytes = False
        self._head = False
        self.reusable = True
        self.reused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = typing.cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._pool.discard(self)
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_exception(UpstreamError(ErrorKind.RESET, "connection closed before the response ended"))

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self._fut is None:  # unsolicited bytes on an idle connection: not reusable
            self._close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish_error(UpstreamError(ErrorKind.BAD_RESPONSE, f"malformed HTTP response: {exc}"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self._head:
            self.reusable = False  # the parser would wait for a body a HEAD response lacks
            self._complete()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._complete()

    def _complete(self) -> None:
        fut = self._fut
        if fut is None or fut.done():
            return
        fut.set_result(UpstreamResponse(self._parser.get_status_code(), self._headers, b"".join(self._body)))

    def _finish_error(self, err: UpstreamError) -> None:
        self.reusable = False
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_exception(err)
        self._close()

    def _close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def send(self, raw: bytes, head: bool, fut: asyncio.Future[UpstreamResponse]) -> None:
        self._fut = fut
        self._headers = []
        self._body = []
        self._got_bytes = False
        self._head = head
        self._parser = httptools.HttpResponseParser(self)
        assert self.transport is not None
        self.transport.write(raw)

    def done(self) -> None:
        self._fut = None


class _Pool:
    def __init__(self, host: str, port: int, max_idle: int) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.idle: collections.deque[_Conn] = collections.deque()

    def discard(self, conn: _Conn) -> None:
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)

    def close(self) -> None:
        while self.idle:
            self.idle.pop()._close()


class Client:
    def __init__(self, connect_timeout_s: float = 1.0, max_idle_per_host: int = 256) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._max_idle = max_idle_per_host
        self._pools: dict[tuple[str, int], _Pool] = {}

    async def _acquire(self, pool: _Pool) -> _Conn:
        while pool.idle:
            conn = pool.idle.pop()
            if conn.reusable and conn.transport is not None and not conn.transport.is_closing():
                conn.reused = True
                return conn
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                transport, proto = await loop.create_connection(lambda: _Conn(pool), pool.host, pool.port)
        except TimeoutError as exc:
            raise UpstreamError(ErrorKind.TIMEOUT, f"connect to {pool.host}:{pool.port} timed out") from exc
        except OSError as exc:
            raise UpstreamError(ErrorKind.CONNECT, f"connect to {pool.host}:{pool.port}: {exc}") from exc
        # uvloop may call connection_made after create_connection returns.
        if proto.transport is None:
            proto.transport = transport
        return proto

    def _release(self, pool: _Pool, conn: _Conn) -> None:
        conn.done()
        if (
            conn.reusable
            and len(pool.idle) < pool.max_idle
            and self._pools.get((pool.host, pool.port)) is pool
        ):
            pool.idle.append(conn)
        else:
            conn._close()

    async def request(
        self,
        host: str,
        port: int,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout_s: float,
    ) -> UpstreamResponse:
        """Send one request. ``headers`` must not hold host/content-length/connection."""
        pool = self._pools.get((host, port))
        if pool is None:
            pool = self._pools[(host, port)] = _Pool(host, port, self._max_idle)
        parts = [method, b" ", target, b" HTTP/1.1\r\nhost: %s:%d\r\n" % (host.encode(), port)]
        for k, v in headers:
            parts.append(k + b": " + v + b"\r\n")
        parts.append(b"content-length: %d\r\n\r\n" % len(body))
        parts.append(body)
        raw = b"".join(parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        for attempt in (0, 1):
            conn = await self._acquire(pool)
            fut: asyncio.Future[UpstreamResponse] = loop.create_future()
            timer = loop.call_at(deadline, _expire, fut)
            conn.send(raw, method == b"HEAD", fut)
            try:
                resp = await fut
            except UpstreamError as err:
                conn._close()
                conn.done()
                stale = err.kind is ErrorKind.RESET and conn.reused and not conn._got_bytes
                if stale and attempt == 0 and loop.time() < deadline:
                    continue
                raise
            except BaseException:
                conn._close()
                conn.done()
                raise
            finally:
                timer.cancel()
            self._release(pool, conn)
            return resp
        raise AssertionError("unreachable")

    def forget(self, keep: set[tuple[str, int]]) -> None:
        """Close idle connections to addresses no longer in use (after a table swap)."""
        for key in [k for k in self._pools if k not in keep]:
            self._pools.pop(key).close()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def _expire(fut: asyncio.Future[UpstreamResponse]) -> None:
    if not fut.done():
        fut.set_exception(UpstreamError(ErrorKind.TIMEOUT, "upstream did not answer in time"))

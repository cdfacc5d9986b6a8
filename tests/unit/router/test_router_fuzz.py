"""A bounded, seeded fuzz of the HTTP surface over loopback sockets.

Mutations of valid requests (byte flips, truncation, random methods, paths, headers and feedback
bodies) must never produce a 500, never crash or wedge the router, and never reach a backend as
anything but a well-formed request.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import httpx
import orjson
from router_support import Backend, RouterUnderTest, route_doc

MakeBackend = Callable[..., Awaitable[Backend]]
MakeRouter = Callable[..., Awaitable[RouterUnderTest]]
CASES = 400


def post(path: bytes, body: bytes) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (path, len(body), body)


SEEDS = [
    post(b"/r/retriever/predictions/retriever", b'{"query": "a"}'),
    b"GET /r/retriever/ping?x=1 HTTP/1.1\r\nHost: x\r\nX-Session-Id: s1\r\n\r\n",
    post(b"/feedback", b'{"request_id": "abc", "event": "click"}'),
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
]


def mutate(rng: random.Random) -> bytes:
    data = bytearray(rng.choice(SEEDS))
    op = rng.randrange(7)
    if op == 0:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif op == 1:
        data = data[: rng.randrange(1, len(data))]
    elif op == 2:
        method = rng.choice([b"PUT", b"DELETE", b"FOO", b"OPTIONS", b"PATCH", b"HEAD", b"\x00\x01"])
        data = bytearray(method + data[data.index(b" ") :])
    elif op == 3:
        path = b"/" + bytes(rng.choice(b"abr/%?#.:\xff-_") for _ in range(rng.randint(0, 60)))
        first = data.index(b" ")
        second = data.index(b" ", first + 1)
        data = bytearray(data[: first + 1] + path + data[second:])
    elif op == 4:
        extra = b"".join(
            b"X-F%d: %s\r\n" % (i, bytes(rng.randrange(32, 127) for _ in range(20))) for i in range(50)
        )
        data = bytearray(data.replace(b"\r\n", b"\r\n" + extra, 1))
    elif op == 5:
        body = orjson.dumps(
            rng.choice([[], {}, [1], {"request_id": None}, {"request_id": "x" * 300, "event": "click"},
                        [{"request_id": str(i), "event": rng.choice(["click", "buy", ""])} for i in range(5)],
                        "s", 1.5, None])
        )  # fmt: skip
        data = bytearray(post(b"/feedback", body))
    else:
        cl = b"Content-Length: " + str(rng.randrange(10**6)).encode()
        data = bytearray(data.replace(b"Content-Length: ", cl, 1))
    return bytes(data)


async def exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        return await asyncio.wait_for(reader.read(1 << 20), 5)
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


async def test_fuzz_http_surface(backends: MakeBackend, make_router: MakeRouter) -> None:
    p = await backends("p")
    r = await make_router(max_body_bytes=4096, upstream_timeout_s=1.0)
    r.set_routes(route_doc("retriever", p))
    rng = random.Random(20261126)
    statuses: dict[int, int] = {}
    for _ in range(CASES):
        data = mutate(rng)
        out = await exchange(r.svc.port, data)
        if not out:
            continue  # the router may close a connection whose bytes cannot be framed
        assert out.startswith(b"HTTP/1.1 "), out[:80]
        status = int(out[9:12])
        statuses[status] = statuses.get(status, 0) + 1
        assert status != 500, out[:300]
        if status >= 400 and status != 502 and not data.startswith(b"HEAD "):  # HEAD answers have no body
            head, _, body = out.partition(b"\r\n\r\n")
            assert b"application/json" in head and b'"error"' in body, out[:300]
    assert statuses.get(200, 0) > 0 and sum(v for k, v in statuses.items() if 400 <= k < 500) > 0
    async with httpx.AsyncClient(base_url=r.base) as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/r/retriever/x")).status_code == 200
    for seen in p.seen:
        assert seen.path.startswith("/")

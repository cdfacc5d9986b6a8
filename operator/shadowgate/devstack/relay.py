"""A TCP relay between host loopback and the real node's network namespace.

Host tools (kubectl, helm, pytest, the demo) live on host loopback, the node's daemons inside
its namespace, and no veth joins the two. The relay bridges exactly the ports it is told to:
``host:127.0.0.1:P=node:127.0.0.1:6443`` listens on host loopback and connects inside the node
(the API server, Prometheus); ``node:127.0.0.1:P=host:127.0.0.1:P`` listens inside the node and
connects to host loopback (a test process Prometheus should scrape). Which side a socket
belongs to is decided by the thread that makes it: the event loop's thread stays on the host,
one worker thread joins the node's namespace for good (``netns.joined``).

Run: ``python -m shadowgate.devstack.relay --netns NAME FORWARD...``
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from shadowgate.devstack import netns
from shadowgate.devstack.node import NodeNetwork

Side = Literal["host", "node"]


class ForwardError(ValueError):
    """A forward spec is malformed; the message quotes it."""


@dataclass(frozen=True)
class Endpoint:
    side: Side
    host: str
    port: int


@dataclass(frozen=True)
class Forward:
    listen: Endpoint
    connect: Endpoint

    def __str__(self) -> str:
        a, b = self.listen, self.connect
        return f"{a.side}:{a.host}:{a.port}={b.side}:{b.host}:{b.port}"


def _endpoint(text: str, spec: str) -> Endpoint:
    parts = text.split(":")
    if len(parts) != 3 or parts[0] not in ("host", "node") or not parts[2].isdigit():
        raise ForwardError(f"bad forward {spec!r}: each side is host|node:ADDRESS:PORT")
    port = int(parts[2])
    if not 0 < port < 65536:
        raise ForwardError(f"bad forward {spec!r}: port {port} out of range")
    side: Side = "host" if parts[0] == "host" else "node"
    return Endpoint(side, parts[1], port)


def parse_forward(spec: str) -> Forward:
    """``SIDE:ADDR:PORT=SIDE:ADDR:PORT``; the two sides must differ (else it is no bridge)."""
    left, sep, right = spec.partition("=")
    if not sep:
        raise ForwardError(f"bad forward {spec!r}: expected LISTEN=CONNECT")
    fwd = Forward(_endpoint(left, spec), _endpoint(right, spec))
    if fwd.listen.side == fwd.connect.side:
        raise ForwardError(f"bad forward {spec!r}: both sides are {fwd.listen.side}")
    return fwd


class Relay:
    def __init__(self, net: NodeNetwork, forwards: Sequence[Forward]) -> None:
        self._net = net
        self._forwards = list(forwards)
        self._node = concurrent.futures.ThreadPoolExecutor(1, initializer=self._enter_node)
        self._servers: list[asyncio.AbstractServer] = []

    def _enter_node(self) -> None:
        # Join for the thread's whole life: every socket it makes belongs to the node.
        netns.join_thread(self._net)

    async def _on(self, side: Side, make: Callable[[], socket.socket]) -> socket.socket:
        if side == "host":
            return make()
        return await asyncio.get_running_loop().run_in_executor(self._node, make)

    async def start(self) -> None:
        for fwd in self._forwards:

            def listener(ep: Endpoint = fwd.listen) -> socket.socket:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((ep.host, ep.port))
                sock.listen(128)
                sock.setblocking(False)
                return sock

            sock = await self._on(fwd.listen.side, listener)
            server = await asyncio.start_server(self._handler(fwd.connect), sock=sock)
            self._servers.append(server)

    def _handler(
        self, target: Endpoint
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            def dial() -> socket.socket:
                return socket.create_connection((target.host, target.port), timeout=5)

            try:
                upstream = await self._on(target.side, dial)
            except OSError:
                writer.close()
                return
            upstream.setblocking(False)
            up_reader, up_writer = await asyncio.open_connection(sock=upstream)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            for w in (writer, up_writer):
                w.close()

        return handle

    async def serve_forever(self) -> None:
        await self.start()
        print(f"relay ready: {', '.join(map(str, self._forwards))}", flush=True)
        await asyncio.gather(*(s.serve_forever() for s in self._servers))


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while chunk := await src.read(65536):
            dst.write(chunk)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if dst.can_write_eof():
                dst.write_eof()
            else:
                dst.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shadowgate.devstack.relay")
    parser.add_argument("--netns", required=True, help="the node's network namespace name")
    parser.add_argument("forward", nargs="+", help="SIDE:ADDR:PORT=SIDE:ADDR:PORT, SIDE host or node")
    args = parser.parse_args(argv)
    try:
        forwards = [parse_forward(f) for f in args.forward]
    except ForwardError as err:
        print(f"relay: {err}", file=sys.stderr)
        return 2
    if not netns.exists(args.netns):
        print(f"relay: network namespace {args.netns} does not exist", file=sys.stderr)
        return 2
    asyncio.run(Relay(NodeNetwork(netns=args.netns), forwards).serve_forever())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

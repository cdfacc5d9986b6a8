"""The real node's network namespace on this machine: isolated from the host, reachable from
a thread that joins it, and removed without a trace."""

from __future__ import annotations

import concurrent.futures
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from shadowgate.devstack import netns
from shadowgate.devstack.components import free_port
from shadowgate.devstack.node import NodeNetwork

pytestmark = pytest.mark.integration
FETCH = "import urllib.request as u; print(u.urlopen({url!r}, timeout=5).status)"


@pytest.fixture
def net() -> Iterator[NodeNetwork]:
    value = NodeNetwork(netns=f"sg-t{uuid.uuid4().hex[:8]}")
    netns.create(value)
    try:
        yield value
    finally:
        netns.delete(value.netns)
    assert not netns.exists(value.netns)


def test_namespace_has_the_node_address_and_no_way_out(net: NodeNetwork) -> None:
    assert f"inet {net.node_ip}/32" in netns.run(net, ["ip", "-4", "addr", "show", "lo"])
    routes = netns.run(net, ["ip", "-4", "route", "show"])
    # No default route and no veth to the host: nothing can leave the machine.
    assert "default" not in routes
    links = netns.run(net, ["ip", "-o", "link", "show"]).splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"]
    assert netns.run(net, ["cat", "/proc/sys/net/ipv4/ip_forward"]).strip() == "1"


def test_a_socket_made_in_a_joined_thread_lives_in_the_node(net: NodeNetwork) -> None:
    def listen_inside() -> socket.socket:
        with netns.joined(net):
            sock = socket.socket()
            # Loopback is per namespace: the same 127.0.0.1 is a different address on the host.
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            return sock

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        server = pool.submit(listen_inside).result()
        port = server.getsockname()[1]
        with server:
            # Host loopback has no listener on that port (the probe never leaves loopback).
            with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
                probe.settimeout(1)
                probe.connect(("127.0.0.1", port))

            def connect_inside() -> bytes:
                with netns.joined(net), socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                    peer, _ = server.accept()
                    with peer:
                        peer.sendall(b"node")
                        return c.recv(4)

            assert pool.submit(connect_inside).result() == b"node"
        # The thread went back to the host namespace after the block.
        assert pool.submit(lambda: socket.gethostname()).result()


def test_creating_an_existing_namespace_is_a_clear_error(net: NodeNetwork) -> None:
    with pytest.raises(netns.NetnsError, match="already exists"):
        netns.create(net)


def test_relay_bridges_host_loopback_and_the_node_both_ways(net: NodeNetwork) -> None:
    inside_port, host_port, back_port = free_port(), free_port(), free_port()
    # An HTTP server inside the node, on the node's own loopback.
    server = subprocess.Popen(
        [*net.enter(), sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(inside_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
    )  # fmt: skip
    # And one on host loopback, for the node-to-host direction.
    host_server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(back_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
    )  # fmt: skip
    relay = subprocess.Popen(
        [
            sys.executable, "-m", "shadowgate.devstack.relay", "--netns", net.netns,
            f"host:127.0.0.1:{host_port}=node:127.0.0.1:{inside_port}",
            f"node:127.0.0.1:{back_port}=host:127.0.0.1:{back_port}",
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert relay.stdout is not None and relay.stdout.readline().startswith("relay ready")

        def get(url: str) -> int:
            deadline = time.monotonic() + 10
            while True:
                try:
                    return httpx.get(url, timeout=2).status_code
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

        assert get(f"http://127.0.0.1:{host_port}/") == 200
        # Inside the node, 127.0.0.1:back_port is the relay, which reaches the host's server.
        fetched = netns.run(
            net,
            [sys.executable, "-c", FETCH.format(url=f"http://127.0.0.1:{back_port}/")],
        )  # fmt: skip
        assert fetched.strip() == "200"
    finally:
        for proc in (relay, server, host_server):
            proc.kill()
            proc.wait(10)

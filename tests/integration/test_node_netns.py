"""The real node's network namespace on this machine: isolated from the host, reachable from
a thread that joins it, and removed without a trace."""

from __future__ import annotations

import concurrent.futures
import socket
import uuid
from collections.abc import Iterator

import pytest
from shadowgate.devstack import netns
from shadowgate.devstack.node import NodeNetwork

pytestmark = pytest.mark.integration


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

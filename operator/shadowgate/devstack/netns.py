"""The real node's network namespace: create it, reach into it, remove it.

One namespace per stack holds every daemon of the node and every Pod's veth: it has no veth
to the host and no default route, so nothing the cluster does can leave the machine, and two
stacks never see each other's ports. A host process reaches into it in two ways: a child
started with ``NodeNetwork.enter()`` (``nsenter --net``), or a socket made by a thread that
joined the namespace (``joined``); a socket keeps the namespace it was made in, which is what
lets one relay process listen on host loopback and connect inside the node.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pathlib
import subprocess
import threading
from collections.abc import Iterator, Sequence

from shadowgate.devstack.node import NodeNetwork

CLONE_NEWNET = 0x40000000
NETNS_DIR = pathlib.Path("/run/netns")


class NetnsError(RuntimeError):
    """A namespace step failed; the message names the command and its error."""


def _run(argv: Sequence[str]) -> str:
    try:
        res = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError as err:
        raise NetnsError(
            f"{argv[0]} is not installed (iproute2 and util-linux provide ip and nsenter)"
        ) from err
    if res.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def create(net: NodeNetwork) -> None:
    """Create the namespace with the node address on its loopback and forwarding on.

    The address goes on ``lo`` because this kernel has no dummy driver; forwarding lets the
    namespace route between the Pod bridge and its own addresses (Services, the API server).
    """
    if exists(net.netns):
        raise NetnsError(f"network namespace {net.netns} already exists; `shadowgate dev down` removes it")
    _run(["ip", "netns", "add", net.netns])
    try:
        inside = list(net.enter())
        _run([*inside, "ip", "link", "set", "lo", "up"])
        _run([*inside, "ip", "addr", "add", f"{net.node_ip}/32", "dev", "lo"])
        _run([*inside, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    except BaseException:
        delete(net.netns)
        raise


def delete(name: str) -> None:
    """Remove the namespace (its bridge, veths and netfilter rules go with it); absent is fine."""
    if exists(name):
        _run(["ip", "netns", "del", name])


def run(net: NodeNetwork, argv: Sequence[str]) -> str:
    """Run one command inside the namespace and return its output."""
    return _run([*net.enter(), *argv])


def _setns(fd: int, what: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise NetnsError(f"setns into {what}: {os.strerror(ctypes.get_errno())}")


def join_thread(net: NodeNetwork) -> None:
    """Move the calling thread into the namespace for the rest of its life (setns is per thread)."""
    target = os.open(net.netns_path, os.O_RDONLY)
    try:
        _setns(target, net.netns_path)
    finally:
        os.close(target)


@contextlib.contextmanager
def joined(net: NodeNetwork) -> Iterator[None]:
    """Move the calling thread into the namespace for the block, and back afterwards.

    Only the calling thread moves, so run this in a thread of its own; sockets made inside
    the block stay in the node's namespace after it.
    """
    home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        join_thread(net)
        try:
            yield
        finally:
            _setns(home, "the host namespace")
    finally:
        os.close(home)

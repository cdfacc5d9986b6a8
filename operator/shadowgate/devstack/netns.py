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


# The network namespace this process started in (the host's, for the CLI, pytest and the demo),
# held open from import, before any thread joins a node: init's namespace may belong to another
# user namespace (a container), where setns is refused even to root.
_ORIGIN = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def host_prefix() -> tuple[str, ...]:
    """The argv prefix that runs a command on the host's network (where this process started)
    when the calling thread is inside a node's namespace (``joined``), else nothing. For the few
    tools that need the network outside the machine at build time (pip filling the wheelhouse)
    and for a test that must reach host loopback."""
    if _same(os.stat("/proc/thread-self/ns/net"), os.fstat(_ORIGIN)):
        return ()
    return ("nsenter", f"--net=/proc/{os.getpid()}/fd/{_ORIGIN}", "--")


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

    Only the calling thread moves (and threads and child processes it starts inside the
    block, which inherit its namespace); sockets made inside the block stay in the node's
    namespace after it. The test suite and the demo run their main thread inside this way,
    so everything they start reaches Pods, ClusterIPs and the node's daemons directly.
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


@contextlib.contextmanager
def joined_host() -> Iterator[None]:
    """``joined`` the other way: the calling thread on the host's network (where this process
    started) for the block, and back where it was afterwards (a test inside the node that must
    reach host loopback, where ``kubectl port-forward`` listens)."""
    home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        _setns(_ORIGIN, "the host namespace")
        try:
            yield
        finally:
            _setns(home, "the namespace it came from")
    finally:
        os.close(home)

"""Health probes for the stack's components (plain HTTP GETs, no retries here)."""

from __future__ import annotations

import concurrent.futures
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from shadowgate.devstack.components import HealthCheck
from shadowgate.devstack.layout import StackLayout

T = TypeVar("T")


def admin_ssl_context(layout: StackLayout) -> ssl.SSLContext:
    """Trusts the stack's CA and presents the admin client certificate."""
    ctx = ssl.create_default_context(cafile=str(layout.pki_file("ca.crt")))
    ctx.load_cert_chain(str(layout.pki_file("admin.crt")), str(layout.pki_file("admin.key")))
    return ctx


def _anonymous_context() -> ssl.SSLContext:
    # kube-controller-manager serves a self-signed certificate it makes at start-up.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def get(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> tuple[int, str]:
    """GET ``url``; return (status, body). Connection failures are status 0 with the reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return int(resp.status), resp.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return int(err.code), err.read(4096).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return 0, str(reason)


def in_netns(name: str, call: Callable[[], T]) -> T:
    """Run ``call`` in a thread that joined network namespace ``name`` (setns is per thread,
    so the caller's own thread and sockets stay where they are)."""
    from shadowgate.devstack import netns  # imports node settings; only the real node needs it
    from shadowgate.devstack.node import NodeNetwork

    def joined() -> T:
        with netns.joined(NodeNetwork(netns=name)):
            return call()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(joined).result()


def _unix(path: str) -> tuple[bool, str]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(path)
        except OSError as err:
            return False, f"unreachable: {path}: {err.strerror or err}"
    return True, "ok"


def probe(check: HealthCheck, layout: StackLayout) -> tuple[bool, str]:
    """Whether the component answers its health check, and a short detail for ``status``."""
    if check.kind == "process":
        return True, "process running"
    if check.kind == "unix":
        return _unix(check.url)
    if check.netns:
        local = HealthCheck(check.kind, check.url)
        try:
            return in_netns(check.netns, lambda: probe(local, layout))
        except OSError as err:  # the namespace is gone
            return False, f"unreachable: network namespace {check.netns}: {err}"
    context = None
    if check.kind == "https-admin":
        context = admin_ssl_context(layout)
    elif check.kind == "https-anonymous":
        context = _anonymous_context()
    status, body = get(check.url, context)
    if status == 200:
        return True, "ok"
    detail = body.strip().splitlines()[-1] if body.strip() else "no answer"
    return False, f"HTTP {status}: {detail}"[:200] if status else f"unreachable: {detail}"[:200]

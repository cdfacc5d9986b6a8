"""Health probes for the stack's components (plain HTTP GETs, no retries here)."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

from shadowgate.devstack.components import HealthCheck
from shadowgate.devstack.layout import StackLayout


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


def probe(check: HealthCheck, layout: StackLayout) -> tuple[bool, str]:
    """Whether the component answers its health check, and a short detail for ``status``."""
    if check.kind == "process":
        return True, "process running"
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

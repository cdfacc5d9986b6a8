"""The admin kubeconfig of the local stack.

Certificates are embedded (``*-data`` fields) so the file works when copied elsewhere and
no relative path can go stale. The server URL changes only when the API server's port does.
"""

from __future__ import annotations

import base64
import os
import pathlib
from typing import Any

import yaml

from shadowgate.devstack.layout import StackLayout

CLUSTER = "shadowgate-local"
USER = "shadowgate-admin"


def _b64(path: pathlib.Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def render(server: str, ca_pem_b64: str, cert_pem_b64: str, key_pem_b64: str) -> dict[str, Any]:
    """A kubeconfig document with one cluster, one client-certificate user and one context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER, "cluster": {"server": server, "certificate-authority-data": ca_pem_b64}}
        ],
        "users": [
            {
                "name": USER,
                "user": {"client-certificate-data": cert_pem_b64, "client-key-data": key_pem_b64},
            }
        ],
        "contexts": [
            {"name": CLUSTER, "context": {"cluster": CLUSTER, "user": USER, "namespace": "default"}}
        ],
        "current-context": CLUSTER,
        "preferences": {},
    }


def write(
    layout: StackLayout, server: str, identity: str = "admin", path: pathlib.Path | None = None
) -> pathlib.Path:
    """Write the kubeconfig of ``identity`` (a leaf in the stack's PKI; admin by default, at
    ``layout.kubeconfig``) for ``server``, 0600 and atomically, and return its path."""
    target = layout.kubeconfig if path is None else path
    doc = render(
        server,
        _b64(layout.pki_file("ca.crt")),
        _b64(layout.pki_file(f"{identity}.crt")),
        _b64(layout.pki_file(f"{identity}.key")),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(doc, out, sort_keys=False)
    tmp.replace(target)
    return target

"""The local cluster's DNS: CoreDNS (built by hack/coredns) answering ``*.svc.cluster.local``.

Pure functions, like ``components``: the Corefile, the command line and the API objects that
front CoreDNS (the ``kube-dns`` Service, its EndpointSlice, CoreDNS' RBAC) are values computed
from a ``DNSConfig``, so they are unit-tested without starting anything.

CoreDNS has no upstream here, on purpose: the binary is built without ``forward`` and the
Corefile serves only the cluster zone and the reverse zones. CoreDNS answers a query for any
other name REFUSED at once (no server block matches it), so a Pod resolving an outside name
fails fast instead of waiting for a timeout, and no query leaves the machine.
"""

from __future__ import annotations

import ipaddress
import os
import pathlib
import secrets
import socket
import struct
from dataclasses import dataclass
from typing import Any

from shadowgate.devstack.components import ComponentSpec, HealthCheck
from shadowgate.devstack.layout import StackLayout

BINARY = "coredns"
CLUSTER_DOMAIN = "cluster.local"
REVERSE_ZONES: tuple[str, ...] = ("in-addr.arpa", "ip6.arpa")
DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
DNS_SERVICE_IP = "10.214.0.10"
# The EndpointSlice controller leaves slices with another manager alone; without this label
# nothing says who owns the hand-made slice. A label value: no "/" (the API rejects it).
MANAGED_BY = "devstack.shadowgate.dev"
CLUSTER_ROLE = "system:coredns"
# What the kubernetes plugin lists and watches. Pods only with ``pods verified``; kept, like
# upstream's manifest, so the mode can change without an RBAC change.
RBAC_RULES: tuple[dict[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["services", "namespaces", "pods"], "verbs": ["list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
)
# Characters the Corefile lexer treats specially; a path holding one must be quoted.
_SPECIAL = set(' \t\n"{}#;\\')


@dataclass(frozen=True)
class DNSConfig:
    """Where CoreDNS listens and what it serves.

    ``bind`` is one IP address: DNS on ``bind:port``, the health plugin (liveness,
    ``/health``) on ``bind:health_port`` and the ready plugin (``/ready``: 200 once the
    kubernetes plugin has synced its caches) on ``bind:ready_port``.
    """

    bind: str
    port: int
    kubeconfig: pathlib.Path
    health_port: int
    ready_port: int
    cluster_domain: str = CLUSTER_DOMAIN
    # Both 5 s: a Service created by a test resolves within a few seconds, not 30 (the
    # kubernetes plugin's default record TTL) or an hour (cache's default cap).
    ttl: int = 5
    cache_seconds: int = 5
    log_queries: bool = False
    # Off by default: the stack rewrites the Corefile and restarts CoreDNS itself; with reload
    # on, an edit makes CoreDNS rebind 30-45 s later, which nobody asked for.
    reload: bool = False
    # kubeadm's Corefile falls through reverse lookups to ``forward``. Here nothing follows
    # the kubernetes plugin, so a PTR for an address the cluster does not know is answered
    # SERVFAIL (and logged as an error); False makes it NXDOMAIN, the final answer.
    reverse_fallthrough: bool = True

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.bind)  # raises ValueError for a name or an interface
        ports = (self.port, self.health_port, self.ready_port)
        if any(not 0 < p < 65536 for p in ports):
            raise ValueError(f"ports must be 1..65535, got {ports}")
        if len(set(ports)) != len(ports):
            raise ValueError(f"DNS, health and ready ports must differ, got {ports}")
        if not 0 <= self.ttl <= 3600:  # the kubernetes plugin's own bounds
            raise ValueError(f"ttl must be 0..3600, got {self.ttl}")
        if self.cache_seconds < 1:
            raise ValueError(f"cache_seconds must be at least 1, got {self.cache_seconds}")
        domain = self.cluster_domain.strip(".")
        if not domain or any(c in _SPECIAL for c in domain):
            raise ValueError(f"bad cluster domain {self.cluster_domain!r}")

    @property
    def zones(self) -> tuple[str, ...]:
        return (self.cluster_domain.strip("."), *REVERSE_ZONES)

    def address(self, port: int) -> str:
        """``host:port`` for ``bind``, with brackets around an IPv6 address."""
        return f"[{self.bind}]:{port}" if ":" in self.bind else f"{self.bind}:{port}"


def _quote(token: str) -> str:
    """A Corefile token: bare when it can be, else double-quoted.

    The lexer escapes nothing but a quote inside quotes (a backslash before anything else
    stays), so a token holding a quote, a backslash or a newline is refused, not mangled.
    """
    if any(c in token for c in '"\\\n'):
        raise ValueError(f"cannot write {token!r} into a Corefile")
    if token and not any(c in _SPECIAL for c in token):
        return token
    return f'"{token}"'


def render_corefile(config: DNSConfig) -> str:
    """The Corefile: one server block for the cluster zone and the reverse zones.

    The port is not written here; ``-dns.port`` on the command line sets it, so the file
    does not change when only the port does.
    """
    zones = " ".join(config.zones)
    lines = [
        "# Written by shadowgate.devstack.dns on every start; edits are lost.",
        f"{zones} {{",
        f"    bind {config.bind}",
        "    errors",
    ]
    if config.log_queries:
        lines.append("    log")
    lines += [
        f"    health {config.address(config.health_port)}",
        f"    ready {config.address(config.ready_port)}",
        f"    kubernetes {zones} {{",
        f"        kubeconfig {_quote(str(config.kubeconfig))}",
        "        pods insecure",
    ]
    if config.reverse_fallthrough:
        lines.append(f"        fallthrough {' '.join(REVERSE_ZONES)}")
    lines += [
        f"        ttl {config.ttl}",
        "    }",
        f"    cache {config.cache_seconds}",
        # No forward, so no loop is possible today; loop is the guard for the day one is added
        # (CoreDNS forwarding to itself through a resolv.conf that names the cluster DNS).
        "    loop",
    ]
    if config.reload:
        lines.append("    reload")
    lines.append("}")
    return "\n".join(lines) + "\n"


def corefile_path(layout: StackLayout) -> pathlib.Path:
    return layout.root / "coredns" / "Corefile"


def write_corefile(layout: StackLayout, config: DNSConfig) -> pathlib.Path:
    """Write the Corefile atomically (CoreDNS' reload must never read half a file)."""
    path = corefile_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_corefile(config))
    os.replace(tmp, path)
    return path


def coredns(layout: StackLayout, bin_dir: pathlib.Path, config: DNSConfig) -> ComponentSpec:
    """CoreDNS as a component; ``write_corefile(layout, config)`` must have run first."""
    argv = (
        str(bin_dir / BINARY),
        "-conf",
        str(corefile_path(layout)),
        "-dns.port",
        str(config.port),
    )
    # /ready turns 200 once the kubernetes plugin has synced, which CoreDNS reaches a moment
    # before it binds the DNS sockets (its start-up hooks run first): a waiter that must
    # send queries next should also see ``answers(config)``.
    ready = HealthCheck("http", f"http://{config.address(config.ready_port)}/ready")
    return ComponentSpec("coredns", argv, ready, config.port)


def query_rcode(host: str, port: int, name: str, qtype: int = 6, timeout: float = 1.0) -> int | None:
    """One UDP query (default type SOA); the answer's RCODE, or None when none came in time.

    A dozen lines of stdlib so the stack can wait for DNS without a DNS library.
    """
    qid = secrets.randbits(16)
    labels = [label.encode("idna") for label in name.strip(".").split(".") if label]
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    # Header: id, flags = RD, one question; then the question of class IN.
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            # Connected, so a port nobody listens on fails at once (ICMP) instead of timing out.
            sock.connect((host, port))
            sock.send(packet)
            while True:
                reply = sock.recv(4096)
                if len(reply) >= 12:
                    rid, flags = struct.unpack("!HH", reply[:4])
                    if rid == qid and flags & 0x8000:
                        return flags & 0x000F
        except OSError:  # timeout, refused
            return None


def answers(config: DNSConfig, timeout: float = 1.0) -> bool:
    """Whether CoreDNS answers the cluster zone's SOA (it needs no Service to exist)."""
    return query_rcode(config.bind, config.port, config.cluster_domain, timeout=timeout) == 0


def _address_type(ip: str) -> str:
    return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"


def _labels() -> dict[str, str]:
    # The labels kubeadm's kube-dns Service carries, so tools that look for them find it.
    return {"k8s-app": DNS_SERVICE, "kubernetes.io/name": "CoreDNS"}


def _ports(port: int) -> list[dict[str, Any]]:
    return [
        {"name": "dns", "protocol": "UDP", "port": port},
        {"name": "dns-tcp", "protocol": "TCP", "port": port},
    ]


def kube_dns_service(cluster_ip: str = DNS_SERVICE_IP, target_port: int = 53) -> dict[str, Any]:
    """The ``kube-dns`` Service: selectorless, because CoreDNS is a node process and not a Pod.

    kube-proxy takes its backends from ``kube_dns_endpoint_slice``; ports match by name.
    """
    ipaddress.ip_address(cluster_ip)
    ports = [{**p, "targetPort": target_port} for p in _ports(53)]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": DNS_SERVICE, "namespace": DNS_NAMESPACE, "labels": _labels()},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "ports": ports},
    }


def kube_dns_endpoint_slice(node_ip: str, port: int = 53, node_name: str | None = None) -> dict[str, Any]:
    """The EndpointSlice that points ``kube-dns`` at CoreDNS on the node address."""
    endpoint: dict[str, Any] = {
        "addresses": [node_ip],
        "conditions": {"ready": True, "serving": True, "terminating": False},
    }
    if node_name:
        endpoint["nodeName"] = node_name
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{DNS_SERVICE}-node",
            "namespace": DNS_NAMESPACE,
            "labels": {
                **_labels(),
                "kubernetes.io/service-name": DNS_SERVICE,
                "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
            },
        },
        "addressType": _address_type(node_ip),
        "endpoints": [endpoint],
        "ports": _ports(port),
    }


def coredns_rbac(subject: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ClusterRole CoreDNS needs and its binding to ``subject``.

    ``subject`` is an RBAC subject, e.g. ``{"kind": "User", "name": "system:coredns"}`` for
    a client certificate with that CN, or ``{"kind": "ServiceAccount", "name": ...,
    "namespace": ...}``.
    """
    if subject.get("kind") not in ("User", "Group", "ServiceAccount") or not subject.get("name"):
        raise ValueError(f"bad RBAC subject {subject!r}")
    if subject["kind"] == "ServiceAccount" and not subject.get("namespace"):
        raise ValueError("a ServiceAccount subject needs a namespace")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE, "labels": _labels()},
        "rules": [dict(rule) for rule in RBAC_RULES],
    }
    sub = dict(subject)
    if sub["kind"] != "ServiceAccount":
        sub.setdefault("apiGroup", "rbac.authorization.k8s.io")
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": CLUSTER_ROLE, "labels": _labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
        "subjects": [sub],
    }
    return role, binding

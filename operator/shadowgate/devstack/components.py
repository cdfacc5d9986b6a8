"""The shapes every component of the local stack is described with, and its host ports.

A component is a command line, an optional port and a health check (``ComponentSpec``); the
real node's components are built in ``node_components``. Only two ports are allocated on the
host (the API server's and Prometheus', which a relay bridges into the node); they are kept
across ``down``/``up`` while free, so the kubeconfig and the Prometheus URL stay stable.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

PORT_NAMES: tuple[str, ...] = ("kube-apiserver", "prometheus")

# Controllers the stack needs: garbage collection through ownerReferences, Deployments and
# ReplicaSets, EndpointSlices, namespace deletion, ServiceAccounts with their tokens, and node
# lifecycle (it lifts the not-ready taint kubelet registers with, and taints an unreachable
# node as a cluster would), removing Pods of a deleted node or finished ones, and EndpointSlices
# mirrored from hand-made Endpoints.
CONTROLLERS: tuple[str, ...] = (
    "garbage-collector-controller",
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    # Fills the built-in admin/edit/view ClusterRoles, which operators' RBAC often binds to.
    "clusterrole-aggregation-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "statefulset-controller",
    "disruption-controller",
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
    "endpointslice-mirroring-controller",
)

HealthKind = Literal["http", "https-admin", "https-anonymous", "process", "unix"]


@dataclass(frozen=True)
class HealthCheck:
    """How to tell a component is ready: an HTTP(S) GET answering 200, a Unix socket that
    accepts a connection (``url`` is its path), or just a live process. ``netns`` names the
    network namespace the check must run in (the real node's daemons listen only there)."""

    kind: HealthKind
    url: str = ""
    netns: str = ""


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    argv: tuple[str, ...]
    health: HealthCheck
    port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def allocate_ports(previous: Mapping[str, int] | None = None) -> dict[str, int]:
    """A free loopback port per component, keeping last run's port where it is still free.

    Keeping ports makes the kubeconfig and Prometheus URL stable across ``down``/``up``, and
    etcd keeps the peer URL it recorded in its data directory.
    """
    ports: dict[str, int] = {}
    for name in PORT_NAMES:
        old = (previous or {}).get(name)
        if old and old not in ports.values() and port_is_free(old):
            ports[name] = old
            continue
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[name] = port
    return ports

"""What each component of the local stack runs: its command line, ports and health check.

These are pure functions of the layout, the ports and the binary folder, so the flags are
unit-tested without starting anything. The flag choices follow envtest's control plane
(controller-runtime ``pkg/internal/testing/controlplane``) plus what shadowgate needs.
"""

from __future__ import annotations

import pathlib
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from shadowgate.devstack.layout import StackLayout

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
PORT_NAMES: tuple[str, ...] = ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "prometheus")

# Controllers the stack needs: garbage collection through ownerReferences, Deployments and
# ReplicaSets, EndpointSlices, namespace deletion, and ServiceAccounts with their tokens.
# Node lifecycle is deliberately absent: it would taint the node agent's Node and evict Pods.
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


# The signature shared by the builders of the Go-built components.
Builder = Callable[[StackLayout, Mapping[str, int], pathlib.Path], ComponentSpec]


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


def etcd(layout: StackLayout, ports: Mapping[str, int], bin_dir: pathlib.Path) -> ComponentSpec:
    client = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    argv = (
        str(bin_dir / "etcd"),
        "--name=shadowgate",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=shadowgate={peer}",
        # A throwaway dev store: fsync costs seconds per start on slow disks and buys nothing.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    )
    return ComponentSpec("etcd", argv, HealthCheck("http", f"{client}/health"), ports["etcd"])


def kube_apiserver(layout: StackLayout, ports: Mapping[str, int], bin_dir: pathlib.Path) -> ComponentSpec:
    port = ports["kube-apiserver"]
    pki = layout.pki_file
    argv = (
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        f"--secure-port={port}",
        # Without a default route the server cannot guess an address; loopback it is.
        "--bind-address=127.0.0.1",
        f"--cert-dir={layout.root / 'kube-apiserver'}",
        f"--tls-cert-file={pki('apiserver.crt')}",
        f"--tls-private-key-file={pki('apiserver.key')}",
        f"--client-ca-file={pki('ca.crt')}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--allow-privileged=true",
        # The endpoint reconciler would publish 127.0.0.1, which Endpoints validation rejects.
        "--endpoint-reconciler-type=none",
        f"--service-account-issuer=https://127.0.0.1:{port}",
        f"--service-account-key-file={pki('sa.pub')}",
        f"--service-account-signing-key-file={pki('sa.key')}",
        "--profiling=false",
    )
    return ComponentSpec(
        "kube-apiserver", argv, HealthCheck("https-admin", f"https://127.0.0.1:{port}/readyz"), port
    )


def kube_controller_manager(
    layout: StackLayout, ports: Mapping[str, int], bin_dir: pathlib.Path
) -> ComponentSpec:
    port = ports["kube-controller-manager"]
    kubeconfig = str(layout.kubeconfig)
    argv = (
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--root-ca-file={layout.pki_file('ca.crt')}",
        f"--service-account-private-key-file={layout.pki_file('sa.key')}",
        "--use-service-account-credentials=false",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={layout.controller_manager_certs}",
        f"--controllers={','.join(CONTROLLERS)}",
        # Small, idle clusters: sync quickly so tests see GC and namespace deletion promptly.
        "--concurrent-gc-syncs=5",
        "--profiling=false",
    )
    return ComponentSpec(
        "kube-controller-manager",
        argv,
        HealthCheck("https-anonymous", f"https://127.0.0.1:{port}/healthz"),
        port,
    )


def prometheus(layout: StackLayout, ports: Mapping[str, int], binary: str) -> ComponentSpec:
    port = ports["prometheus"]
    argv = (
        binary,
        f"--config.file={layout.prometheus_config}",
        f"--storage.tsdb.path={layout.prometheus_data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=2d",
        "--log.level=warn",
    )
    return ComponentSpec("prometheus", argv, HealthCheck("http", f"http://127.0.0.1:{port}/-/ready"), port)


def node_agent(layout: StackLayout, python: str = sys.executable) -> ComponentSpec:
    argv = (
        python,
        "-m",
        "shadowgate.devstack.node_agent",
        "--kubeconfig",
        str(layout.kubeconfig),
        "--state-dir",
        str(layout.root),
    )
    return ComponentSpec("node-agent", argv, HealthCheck("process"))

"""The real node's components as ``ComponentSpec`` values: what each runs and how it is checked.

Every daemon runs inside the stack's network namespace (``NodeNetwork.enter()``). Two ports
are reached from the host as well: the API server's and Prometheus'. Each listens inside the
namespace on the *same* port number a relay listens on at host loopback, so one kubeconfig
and one Prometheus URL (``https://127.0.0.1:P``) work on both sides: for kubectl on the host,
and for kubelet, the controllers or a test process started inside the node. Everything else
uses fixed ports, since the namespace is the stack's own.

Pure functions of the layout, the node's paths and the ports, so the flags are unit-tested
without starting anything.
"""

from __future__ import annotations

import hashlib
import pathlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from shadowgate.devstack import dns
from shadowgate.devstack.components import CONTROLLERS, ComponentSpec, HealthCheck, HealthKind
from shadowgate.devstack.layout import StackLayout
from shadowgate.devstack.node import NodeNetwork, NodePaths, kubelet_argv

# Inside the namespace, so fixed: nothing else listens there.
ETCD_PORT = 2379
ETCD_PEER_PORT = 2380
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"
KUBE_PROXY_HEALTHZ = "http://127.0.0.1:10256/healthz"
DNS_HEALTH_PORT = 8080
DNS_READY_PORT = 8181


def stack_key(root: pathlib.Path) -> str:
    """Short, stable per state directory: names the namespace, run folder and cgroup parent."""
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class RealNode:
    """Everything that names one stack's real node: its folders, network and binaries."""

    layout: StackLayout
    bin_dir: pathlib.Path
    ports: Mapping[str, int]  # host-visible: ``kube-apiserver`` and ``prometheus``

    @property
    def key(self) -> str:
        return stack_key(self.layout.root)

    @property
    def net(self) -> NodeNetwork:
        return NodeNetwork(netns=f"sg-{self.key}")

    @property
    def paths(self) -> NodePaths:
        return NodePaths(self.layout.root, self.key)

    @property
    def api_port(self) -> int:
        return self.ports["kube-apiserver"]

    @property
    def api_server(self) -> str:
        """The API server's URL, on host loopback (relay) and inside the node alike."""
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def prometheus_port(self) -> int:
        return self.ports["prometheus"]

    def kubeconfig(self, identity: str) -> pathlib.Path:
        """The kubeconfig of one node identity (``kubelet``, ``kube-proxy``); admin is the stack's."""
        return self.paths.node_dir / f"{identity}.kubeconfig"

    @property
    def dns_config(self) -> dns.DNSConfig:
        return dns.DNSConfig(
            bind=self.net.node_ip,
            port=53,
            kubeconfig=self.layout.kubeconfig,
            health_port=DNS_HEALTH_PORT,
            ready_port=DNS_READY_PORT,
            cluster_domain=self.net.cluster_domain,
        )


def _inside(node: RealNode, kind: HealthKind, url: str) -> HealthCheck:
    return HealthCheck(kind, url, netns=node.net.netns)


def etcd(node: RealNode) -> ComponentSpec:
    client = f"http://127.0.0.1:{ETCD_PORT}"
    peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
    argv = (
        *node.net.enter(),
        str(node.bin_dir / "etcd"),
        "--name=shadowgate",
        f"--data-dir={node.layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=shadowgate={peer}",
        # A throwaway dev store: fsync costs seconds per start on slow disks and buys nothing.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    )
    return ComponentSpec("etcd", argv, _inside(node, "http", f"{client}/health"))


def kube_apiserver(node: RealNode) -> ComponentSpec:
    pki = node.layout.pki_file
    argv = (
        *node.net.enter(),
        str(node.bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
        f"--secure-port={node.api_port}",
        # All of the namespace's addresses: loopback for the relay and the node's daemons, the
        # node address for Pods (the ``kubernetes`` Service's endpoint).
        "--bind-address=0.0.0.0",
        f"--advertise-address={node.net.node_ip}",
        f"--cert-dir={node.layout.root / 'kube-apiserver'}",
        f"--tls-cert-file={pki('apiserver.crt')}",
        f"--tls-private-key-file={pki('apiserver.key')}",
        f"--client-ca-file={pki('ca.crt')}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--service-cluster-ip-range={node.net.service_cidr}",
        "--allow-privileged=true",
        f"--kubelet-client-certificate={pki('apiserver-kubelet-client.crt')}",
        f"--kubelet-client-key={pki('apiserver-kubelet-client.key')}",
        # Else logs/exec/port-forward resolve the node's name with the host's resolver.
        "--kubelet-preferred-address-types=InternalIP",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={pki('sa.pub')}",
        f"--service-account-signing-key-file={pki('sa.key')}",
        "--profiling=false",
    )
    check = HealthCheck("https-admin", f"{node.api_server}/readyz", netns=node.net.netns)
    return ComponentSpec("kube-apiserver", argv, check, node.api_port)


def _admin_kubeconfig(node: RealNode) -> tuple[str, ...]:
    # The controller manager and scheduler serve their own health endpoints, authenticated and
    # authorized against the API server with the same (admin) kubeconfig.
    kubeconfig = str(node.layout.kubeconfig)
    return tuple(
        f"--{flag}={kubeconfig}"
        for flag in ("kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig")
    )


def kube_controller_manager(node: RealNode) -> ComponentSpec:
    argv = (
        *node.net.enter(),
        str(node.bin_dir / "kube-controller-manager"),
        *_admin_kubeconfig(node),
        f"--root-ca-file={node.layout.pki_file('ca.crt')}",
        f"--service-account-private-key-file={node.layout.pki_file('sa.key')}",
        "--use-service-account-credentials=false",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={CONTROLLER_MANAGER_PORT}",
        f"--cert-dir={node.layout.controller_manager_certs}",
        f"--controllers={','.join(CONTROLLERS)}",
        f"--service-cluster-ip-range={node.net.service_cidr}",
        "--concurrent-gc-syncs=5",
        "--profiling=false",
    )
    url = f"https://127.0.0.1:{CONTROLLER_MANAGER_PORT}/healthz"
    return ComponentSpec("kube-controller-manager", argv, _inside(node, "https-anonymous", url))


def kube_scheduler(node: RealNode) -> ComponentSpec:
    argv = (
        *node.net.enter(),
        str(node.bin_dir / "kube-scheduler"),
        *_admin_kubeconfig(node),
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={SCHEDULER_PORT}",
        f"--cert-dir={node.layout.root / 'kube-scheduler'}",
        "--profiling=false",
    )
    url = f"https://127.0.0.1:{SCHEDULER_PORT}/healthz"
    return ComponentSpec("kube-scheduler", argv, _inside(node, "https-anonymous", url))


def containerd(node: RealNode) -> ComponentSpec:
    argv = (*node.net.enter(), "/usr/bin/containerd", "--config", str(node.paths.containerd_config))
    return ComponentSpec("containerd", argv, HealthCheck("unix", str(node.paths.containerd_socket)))


def kubelet(node: RealNode) -> ComponentSpec:
    argv = kubelet_argv(node.bin_dir, node.net, node.paths, node.kubeconfig("kubelet"))
    return ComponentSpec("kubelet", argv, _inside(node, "http", KUBELET_HEALTHZ))


def kube_proxy(node: RealNode) -> ComponentSpec:
    argv = (
        *node.net.enter(),
        str(node.bin_dir / "kube-proxy"),
        f"--config={node.paths.kube_proxy_config}",
    )
    return ComponentSpec("kube-proxy", argv, _inside(node, "http", KUBE_PROXY_HEALTHZ))


def coredns(node: RealNode) -> ComponentSpec:
    spec = dns.coredns(node.layout, node.bin_dir, node.dns_config)
    check = HealthCheck(spec.health.kind, spec.health.url, netns=node.net.netns)
    return ComponentSpec(spec.name, (*node.net.enter(), *spec.argv), check, spec.port)


def prometheus(node: RealNode, binary: str) -> ComponentSpec:
    port = node.prometheus_port
    argv = (
        *node.net.enter(),
        binary,
        f"--config.file={node.layout.prometheus_config}",
        f"--storage.tsdb.path={node.layout.prometheus_data}",
        # Every address of the namespace: the relay's loopback and Pods' node address.
        f"--web.listen-address=0.0.0.0:{port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=2d",
        "--log.level=warn",
    )
    check = HealthCheck("http", f"http://127.0.0.1:{port}/-/ready", netns=node.net.netns)
    return ComponentSpec("prometheus", argv, check, port)


def relay(node: RealNode, python: str = sys.executable) -> ComponentSpec:
    """The host half: host loopback's API server and Prometheus ports into the node."""
    forwards = [f"host:127.0.0.1:{p}=node:127.0.0.1:{p}" for p in (node.api_port, node.prometheus_port)]
    argv = (python, "-m", "shadowgate.devstack.relay", "--netns", node.net.netns, *forwards)
    return ComponentSpec("relay", argv, HealthCheck("https-admin", f"{node.api_server}/readyz"))

"""The real node's steps around its processes: prepare the host, finish the cluster, drain, clean up.

``Stack`` starts and stops the processes; this module does what comes before, between and after:
the network namespace, config files and kubeconfigs before anything starts; the cluster's own
objects (the ``kube-dns`` and ``prometheus`` Services) once the API answers; draining Pods so
kubelet unmounts and runs CNI DEL; and after every process is gone, removing whatever is left
(mounts, Pod network namespaces, cgroups, the node's namespace, run folders) and putting the
host's sysctls back. ``cleanup`` relies only on the kernel's tables and files, so it also works
after a crash.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from shadowgate.devstack import dns, kubeconfig, netns, node, node_host, prometheus
from shadowgate.devstack.node_components import RealNode

Log = Callable[[str], None]
PROMETHEUS_SERVICE = "prometheus"
PROMETHEUS_SERVICE_PORT = 9090
SYSTEM_NAMESPACE = "kube-system"


class NodeError(RuntimeError):
    """A node step failed; the message names it."""


def prepare(real: RealNode, sandbox_image: str, prometheus_binary: str) -> None:
    """Everything the node's daemons need before they start; the namespace is made fresh."""
    layout, paths, net = real.layout, real.paths, real.net
    if netns.exists(net.netns):
        # A crashed stack's namespace: its daemons are gone (``Stack`` stopped them), so only
        # the leftovers remain, and they would clash with the new node.
        cleanup(real, lambda _m: None)
    netns.create(net)
    # The bridge exists from the start (the CNI plugin reuses it), so the node's own
    # processes can route to ClusterIPs before the first Pod: kube-proxy's DNAT needs a route.
    inside = net.enter()
    for argv in (
        ["ip", "link", "add", net.bridge, "type", "bridge"],
        ["ip", "addr", "add", f"{net.pod_gateway}/{net.pod_cidr.split('/')[1]}", "dev", net.bridge],
        ["ip", "link", "set", net.bridge, "up"],
        ["ip", "route", "replace", net.service_cidr, "dev", net.bridge],
    ):
        _run([*inside, *argv], "network setup")
    for folder in (paths.containerd_state, paths.cni_ipam_dir, paths.kubelet_root, paths.pod_logs):
        folder.mkdir(parents=True, exist_ok=True)
    node.write_configs(
        net,
        paths,
        sandbox_image=sandbox_image,
        client_ca=layout.pki_file("ca.crt"),
        kube_proxy_kubeconfig=real.kubeconfig("kube-proxy"),
    )
    for identity in ("kubelet", "kube-proxy"):
        kubeconfig.write(layout, real.api_server, identity, real.kubeconfig(identity))
    dns.write_corefile(layout, real.dns_config)
    prometheus.write_node_config(
        layout,
        f"127.0.0.1:{real.prometheus_port}",
        api_server=real.api_server,
        ca_file=layout.pki_file("ca.crt"),
        cert_file=layout.pki_file("admin.crt"),
        key_file=layout.pki_file("admin.key"),
    )
    node_host.make_cgroup_parent(paths.cgroup_root)
    node_host.hold_sysctls(real.key)


def _run(argv: Sequence[str], what: str, stdin: str | None = None, timeout: float = 60) -> str:
    res = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if res.returncode != 0:
        raise NodeError(f"{what}: {' '.join(argv[:6])} failed: {(res.stderr or res.stdout).strip()[-800:]}")
    return res.stdout


def kubectl(real: RealNode, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
    argv = [str(real.bin_dir / "kubectl"), f"--kubeconfig={real.layout.kubeconfig}", *args]
    return _run(argv, "kubectl", stdin, timeout)


def _selectorless(name: str, port: int, target: int, ip: str) -> list[dict[str, Any]]:
    """A Service for a process of the node (not a Pod) and the EndpointSlice that backs it."""
    ports = [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}]
    labels = {"app.kubernetes.io/managed-by": dns.MANAGED_BY}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": SYSTEM_NAMESPACE, "labels": labels},
        "spec": {"type": "ClusterIP", "ports": ports},
    }
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-node",
            "namespace": SYSTEM_NAMESPACE,
            "labels": {
                **labels,
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": dns.MANAGED_BY,
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": node.NODE_NAME}],
        "ports": [{"name": "http", "port": target, "protocol": "TCP"}],
    }
    return [service, slice_]


def cluster_objects(real: RealNode) -> list[dict[str, Any]]:
    """What the cluster needs to reach the node's own daemons: DNS and Prometheus."""
    net = real.net
    return [
        dns.kube_dns_service(net.dns_service_ip),
        dns.kube_dns_endpoint_slice(net.node_ip, 53, node.NODE_NAME),
        *_selectorless(PROMETHEUS_SERVICE, PROMETHEUS_SERVICE_PORT, real.prometheus_port, net.node_ip),
    ]


def apply_cluster_objects(real: RealNode) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": cluster_objects(real)}
    kubectl(real, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(doc))


def ready_since(jsonpath_out: str, since: float) -> bool:
    """Whether ``<status> <lastHeartbeatTime>`` says Ready from a heartbeat at or after ``since``
    (epoch seconds): a Node kept in etcd from the last run still reads Ready until the node
    lifecycle controller notices, so only a fresh heartbeat counts."""
    parts = jsonpath_out.split()
    if len(parts) != 2 or parts[0] != "True":
        return False
    try:
        beat = datetime.datetime.fromisoformat(parts[1].replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    # The API server stores the heartbeat with whole seconds.
    return beat >= int(since)


def wait_node_ready(real: RealNode, since: float, timeout_s: float, log: Log) -> None:
    """Wait until the node reports Ready with a heartbeat from the kubelet started at ``since``."""
    start = time.monotonic()
    path = '{range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}'
    last = ""
    while time.monotonic() - start < timeout_s:
        try:
            last = kubectl(real, "get", "node", node.NODE_NAME, "-o", f"jsonpath={path}", timeout=10)
        except NodeError as err:
            last = str(err)
        if ready_since(last, since):
            log(f"node {node.NODE_NAME} Ready (waited {time.monotonic() - start:.1f} s)")
            return
        time.sleep(0.2)
    raise NodeError(f"node {node.NODE_NAME} not Ready after {timeout_s:.0f} s ({last.strip()[-300:]})")


def drain(real: RealNode, log: Log, timeout_s: float = 45.0) -> None:
    """Delete every Pod and wait (bounded) until kubelet has stopped them, so it unmounts their
    volumes and CNI releases their addresses. The controllers must already be stopped, or
    Deployments would make new Pods."""
    start = time.monotonic()
    try:
        kubectl(real, "delete", "pods", "--all", "--all-namespaces", "--grace-period=3", "--wait=false")
    except NodeError as err:
        log(f"drain: {err}")
        return
    while time.monotonic() - start < timeout_s:
        try:
            left = kubectl(real, "get", "pods", "--all-namespaces", "-o", "name", timeout=10).split()
        except NodeError as err:
            log(f"drain: {err}")
            return
        if not left:
            log(f"drained every Pod in {time.monotonic() - start:.1f} s")
            return
        time.sleep(0.3)
    log(f"drain: Pods still present after {timeout_s:.0f} s; their containers are killed instead")


def cleanup(real: RealNode, log: Log) -> list[str]:
    """Remove what the node left on the host once its processes are gone. Returns problems."""
    paths, net = real.paths, real.net
    problems: list[str] = []
    sandboxes = node_host.sandbox_netns_paths(paths.containerd_state)
    problems += node_host.remove_cgroups(paths.cgroup_root)
    problems += node_host.unmount_under([paths.kubelet_root, paths.containerd_root, paths.containerd_state])
    problems += node_host.remove_netns_files(sandboxes)
    try:
        netns.delete(net.netns)
    except netns.NetnsError as err:
        problems.append(str(err))
    if node_host.release_sysctls(real.key):
        log("restored the host sysctls kubelet changed")
    shutil.rmtree(paths.containerd_state.parent, ignore_errors=True)
    # Emptied of mounts above; what remains is kubelet's own bookkeeping.
    shutil.rmtree(paths.kubelet_root.parent, ignore_errors=True)
    for problem in problems:
        log(f"cleanup: {problem}")
    return problems

"""What the real node's components run with: containerd, the CNI network, kubelet, kube-proxy.

The local stack's node is a real kubelet with containerd, runc and the bridge + host-local CNI
plugins, all inside one network namespace per stack (``NodeNetwork``). Everything here is a
pure function of a ``NodePaths`` value and the network, so the settings are unit-tested
without starting anything. The settings follow a trial that ran on this machine kind
(shared/REFERENCE-node.md); each non-obvious one says what it is for.
"""

from __future__ import annotations

import json
import pathlib
import re
from dataclasses import dataclass
from typing import Any

import yaml

NODE_NAME = "shadowgate-node"


@dataclass(frozen=True)
class NodeNetwork:
    """Addresses inside the stack's own network namespace.

    Every stack has its own namespace, so every stack may use the same addresses: nothing
    here is routed to or from the host (no veth, no default route).
    """

    netns: str
    node_ip: str = "10.215.0.2"
    pod_cidr: str = "10.213.0.0/24"
    pod_gateway: str = "10.213.0.1"
    service_cidr: str = "10.214.0.0/24"
    # The ``kubernetes`` Service takes the first address of the range, DNS a fixed one.
    api_service_ip: str = "10.214.0.1"
    dns_service_ip: str = "10.214.0.10"
    bridge: str = "sgbr0"
    cluster_domain: str = "cluster.local"

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    def enter(self) -> tuple[str, ...]:
        """The argv prefix that runs a command inside the node's namespace.

        ``nsenter --net`` and not ``ip netns exec``: the latter also gives the process a
        mount namespace of its own, so containerd would not see the volumes kubelet mounts.
        """
        return ("nsenter", f"--net={self.netns_path}", "--")


@dataclass(frozen=True)
class NodePaths:
    """Where one stack's node keeps its state. Each stack has its own roots, sockets and
    cgroup parent, so two stacks on one machine (tests and a demo) never share a runtime."""

    root: pathlib.Path  # the stack's state directory
    stack_key: str  # short and stable per state directory; names the cgroup parent

    @property
    def node_dir(self) -> pathlib.Path:
        return self.root / "node"

    @property
    def containerd_root(self) -> pathlib.Path:
        return self.node_dir / "containerd"

    @property
    def containerd_state(self) -> pathlib.Path:
        # Sockets and runc state want a short path (a Unix socket path is at most 107 bytes).
        return pathlib.Path("/run/shadowgate") / self.stack_key / "containerd"

    @property
    def containerd_socket(self) -> pathlib.Path:
        return self.containerd_state / "containerd.sock"

    @property
    def containerd_config(self) -> pathlib.Path:
        return self.node_dir / "containerd.toml"

    @property
    def cni_conf_dir(self) -> pathlib.Path:
        return self.node_dir / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> pathlib.Path:
        return pathlib.Path("/run/shadowgate") / self.stack_key / "cni-ipam"

    @property
    def share_dir(self) -> pathlib.Path:
        # Files Pods may mount by hostPath (model archives). Outside the state directory,
        # which usually sits under a home folder that uid 10001 in a container cannot enter.
        return pathlib.Path("/run/shadowgate") / self.stack_key / "share"

    @property
    def kubelet_root(self) -> pathlib.Path:
        # kubelet makes Unix sockets under its root (pod-resources, plugins), so it must be a
        # short path, whatever the state directory is; /var/lib as on any node.
        return pathlib.Path("/var/lib/shadowgate") / self.stack_key / "kubelet"

    @property
    def kubelet_config(self) -> pathlib.Path:
        return self.node_dir / "kubelet.yaml"

    @property
    def pod_logs(self) -> pathlib.Path:
        return self.node_dir / "pod-logs"

    @property
    def kube_proxy_config(self) -> pathlib.Path:
        return self.node_dir / "kube-proxy.yaml"

    @property
    def resolv_conf(self) -> pathlib.Path:
        return self.node_dir / "resolv.conf"

    @property
    def cgroup_root(self) -> str:
        # kubelet puts ``kubepods`` under this parent in every hierarchy; one per stack.
        return f"/shadowgate-{self.stack_key}"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _key(name: str) -> str:
    # containerd's plugin ids hold dots, so they must be quoted to stay one key.
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _toml(table: dict[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    """A minimal TOML writer for containerd's nested tables (strings, ints, bools, lists)."""
    lines = [f"{_key(k)} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for key, value in table.items():
        if isinstance(value, dict):
            sub = (*path, key)
            lines += ["", "[" + ".".join(_key(k) for k in sub) + "]", *_toml(value, sub)]
    return lines


def containerd_config(paths: NodePaths, sandbox_image: str) -> str:
    """containerd 1.6's config (version 2) for the stack's own runtime."""
    cri = {
        "sandbox_image": sandbox_image,
        # kubectl exec/attach/port-forward stream through this server; loopback inside the netns.
        "stream_server_address": "127.0.0.1",
        "stream_server_port": "0",
        "enable_selinux": False,
        # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails in runc with
        # "can't get final child's PID from pipe" (nsexec cannot lower oom_score_adj).
        "restrict_oom_score_adj": True,
        "max_concurrent_downloads": 1,
        "containerd": {
            "snapshotter": "overlayfs",
            "default_runtime_name": "runc",
            "runtimes": {
                "runc": {
                    "runtime_type": "io.containerd.runc.v2",
                    "options": {
                        "BinaryName": "/usr/sbin/runc",
                        "Root": str(paths.containerd_state / "runc"),
                        # No systemd here: kubelet uses the cgroupfs driver, and the two must agree.
                        "SystemdCgroup": False,
                    },
                }
            },
        },
        "cni": {"bin_dir": "/usr/lib/cni", "conf_dir": str(paths.cni_conf_dir), "max_conf_num": 1},
    }
    doc: dict[str, Any] = {
        "version": 2,
        "root": str(paths.containerd_root),
        "state": str(paths.containerd_state),
        "disabled_plugins": [
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.aufs",
            "io.containerd.snapshotter.v1.zfs",
            "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.tracing.processor.v1.otlp",
            "io.containerd.internal.v1.tracing",
        ],
        "grpc": {"address": str(paths.containerd_socket)},
        "ttrpc": {"address": f"{paths.containerd_socket}.ttrpc"},
        "metrics": {"address": ""},
        "plugins": {
            "io.containerd.grpc.v1.cri": cri,
            "io.containerd.internal.v1.opt": {"path": str(paths.containerd_root / "opt")},
        },
    }
    return "\n".join(_toml(doc)) + "\n"


def cni_conflist(net: NodeNetwork, paths: NodePaths) -> dict[str, Any]:
    """One bridge network with host-local addresses from the node's Pod CIDR."""
    return {
        "cniVersion": "1.0.0",
        "name": "shadowgate",
        "plugins": [
            {
                "type": "bridge",
                "bridge": net.bridge,
                "isGateway": True,
                # Nothing leaves the namespace, so there is nothing to masquerade for.
                "ipMasq": False,
                # A Pod reaching itself through its own Service needs hairpin on the bridge port.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(paths.cni_ipam_dir),
                    "ranges": [[{"subnet": net.pod_cidr, "gateway": net.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }


def kubelet_config(net: NodeNetwork, paths: NodePaths, client_ca: pathlib.Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # This machine kind has cgroup v1, which kubelet 1.36 refuses unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": paths.cgroup_root,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "address": net.node_ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": net.cluster_domain,
        "clusterDNS": [net.dns_service_ip],
        # The host's resolv.conf names resolvers outside the machine; Pods must never use them.
        "resolvConf": str(paths.resolv_conf),
        "podCIDR": net.pod_cidr,
        "podLogsDir": str(paths.pod_logs),
        "volumePluginDir": str(paths.kubelet_root / "volume-plugins"),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "maxPods": 60,
        # Images are imported, never pulled: collecting one would break the next Pod that needs it.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # Absolute, not kubelet's percentages: the node shares the developer's disk, and 5 % of a
        # large disk (13 GB of 252 GB here) evicted the operator while 12 GB were still free.
        "evictionHard": {"memory.available": "200Mi", "nodefs.available": "2Gi", "imagefs.available": "2Gi"},
    }


def kubelet_argv(
    bin_dir: pathlib.Path, net: NodeNetwork, paths: NodePaths, kubeconfig: pathlib.Path
) -> tuple[str, ...]:
    return (
        *net.enter(),
        str(bin_dir / "kubelet"),
        f"--config={paths.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={paths.kubelet_root}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={net.node_ip}",
        "--v=1",
    )


def kube_proxy_config(net: NodeNetwork, kubeconfig: pathlib.Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": net.pod_cidr,
        # Zero leaves the host's conntrack sysctls alone (they are not per namespace).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "nodePortAddresses": [f"{net.node_ip}/32"],
    }


def resolv_conf(net: NodeNetwork) -> str:
    """What kubelet hands Pods with dnsPolicy Default: the cluster DNS and nothing outside."""
    return f"nameserver {net.dns_service_ip}\nsearch {net.cluster_domain}\noptions ndots:5\n"


def write_configs(
    net: NodeNetwork,
    paths: NodePaths,
    *,
    sandbox_image: str,
    client_ca: pathlib.Path,
    kube_proxy_kubeconfig: pathlib.Path,
) -> None:
    """Write containerd's, the CNI network's, kubelet's and kube-proxy's configuration files."""
    paths.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    paths.containerd_config.write_text(containerd_config(paths, sandbox_image))
    (paths.cni_conf_dir / "10-shadowgate.conflist").write_text(json.dumps(cni_conflist(net, paths), indent=2))
    paths.kubelet_config.write_text(yaml.safe_dump(kubelet_config(net, paths, client_ca), sort_keys=False))
    paths.kube_proxy_config.write_text(yaml.safe_dump(kube_proxy_config(net, kube_proxy_kubeconfig)))
    paths.resolv_conf.write_text(resolv_conf(net))

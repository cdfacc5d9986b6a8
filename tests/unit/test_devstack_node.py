"""The real node's settings (shadowgate.devstack.node): the ones the trial on this machine kind
showed to matter, and that two stacks on one machine share no runtime path."""

from __future__ import annotations

import pathlib
import tomllib

import yaml
from shadowgate.devstack import node

NET = node.NodeNetwork(netns="sg-test")


def paths(root: str = "/state/a", key: str = "aaaa1111") -> node.NodePaths:
    return node.NodePaths(pathlib.Path(root), key)


def cri(text: str) -> dict[str, object]:
    doc = tomllib.loads(text)
    return dict(doc["plugins"]["io.containerd.grpc.v1.cri"])


def test_containerd_config_is_valid_toml_with_the_settings_that_mattered() -> None:
    p = paths()
    doc = tomllib.loads(node.containerd_config(p, "localhost/shadowgate/pause:1"))
    assert doc["version"] == 2
    assert doc["root"] == str(p.containerd_root) and doc["state"] == str(p.containerd_state)
    assert doc["grpc"]["address"] == str(p.containerd_socket)
    plugin = cri(node.containerd_config(p, "localhost/shadowgate/pause:1"))
    assert plugin["sandbox_image"] == "localhost/shadowgate/pause:1"
    # Without it runc cannot start any sandbox as a root lacking CAP_SYS_RESOURCE.
    assert plugin["restrict_oom_score_adj"] is True
    runc = doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is False
    assert runc["options"]["Root"].startswith(str(p.containerd_state))
    assert doc["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["conf_dir"] == str(p.cni_conf_dir)


def test_two_stacks_share_no_runtime_path_or_cgroup() -> None:
    a, b = paths("/state/a", "aaaa1111"), paths("/state/b", "bbbb2222")
    for name in ("containerd_root", "containerd_state", "containerd_socket", "cni_ipam_dir", "kubelet_root"):
        assert getattr(a, name) != getattr(b, name), name
    assert a.cgroup_root != b.cgroup_root
    # A Unix socket path over 107 bytes cannot be bound.
    assert len(str(a.containerd_socket)) < 100


def test_kubelet_config_for_this_machine_kind() -> None:
    p = paths()
    cfg = node.kubelet_config(NET, p, pathlib.Path("/state/a/pki/ca.crt"))
    assert cfg["failCgroupV1"] is False and cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["failSwapOn"] is False and cfg["readOnlyPort"] == 0
    assert cfg["cgroupRoot"] == p.cgroup_root
    assert cfg["containerRuntimeEndpoint"] == f"unix://{p.containerd_socket}"
    assert cfg["clusterDNS"] == [NET.dns_service_ip] and cfg["podCIDR"] == NET.pod_cidr
    # Pods never get the host's resolvers, which point outside the machine.
    assert cfg["resolvConf"] == str(p.resolv_conf)
    assert "nameserver 10.214.0.10" in node.resolv_conf(NET)
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["imageGCHighThresholdPercent"] == 100


def test_every_node_daemon_runs_inside_the_namespace_through_nsenter_net() -> None:
    argv = node.kubelet_argv(pathlib.Path("/bin/k8s"), NET, paths(), pathlib.Path("/k/kubelet.kubeconfig"))
    # `ip netns exec` would give kubelet its own mount namespace, hiding its mounts from containerd.
    assert argv[:3] == ("nsenter", "--net=/run/netns/sg-test", "--")
    assert argv[3] == "/bin/k8s/kubelet"
    assert f"--node-ip={NET.node_ip}" in argv and f"--root-dir={paths().kubelet_root}" in argv


def test_cni_network_is_the_pod_cidr_on_the_bridge_without_masquerade() -> None:
    conf = node.cni_conflist(NET, paths())
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == NET.bridge
    assert bridge["ipMasq"] is False and bridge["hairpinMode"] is True
    assert bridge["ipam"]["ranges"] == [[{"subnet": NET.pod_cidr, "gateway": NET.pod_gateway}]]
    assert bridge["ipam"]["dataDir"] == str(paths().cni_ipam_dir)


def test_kube_proxy_leaves_host_conntrack_alone(tmp_path: pathlib.Path) -> None:
    cfg = node.kube_proxy_config(NET, tmp_path / "kp.kubeconfig")
    assert cfg["mode"] == "iptables" and cfg["clusterCIDR"] == NET.pod_cidr
    assert cfg["conntrack"]["maxPerCore"] == 0 and cfg["conntrack"]["min"] == 0
    assert cfg["nodePortAddresses"] == [f"{NET.node_ip}/32"]


def test_write_configs_writes_every_file(tmp_path: pathlib.Path) -> None:
    p = node.NodePaths(tmp_path, "cccc3333")
    p.node_dir.mkdir(parents=True)
    node.write_configs(
        NET, p, sandbox_image="localhost/shadowgate/pause:1", client_ca=tmp_path / "ca.crt",
        kube_proxy_kubeconfig=tmp_path / "kp",
    )  # fmt: skip
    assert tomllib.loads(p.containerd_config.read_text())["version"] == 2
    assert yaml.safe_load(p.kubelet_config.read_text())["kind"] == "KubeletConfiguration"
    assert yaml.safe_load(p.kube_proxy_config.read_text())["kind"] == "KubeProxyConfiguration"
    assert (p.cni_conf_dir / "10-shadowgate.conflist").exists() and p.resolv_conf.exists()

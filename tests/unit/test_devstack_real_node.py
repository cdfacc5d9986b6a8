"""The real node's component flags, host bookkeeping and cluster objects, without starting anything."""

from __future__ import annotations

import json
import pathlib

import pytest
from shadowgate.devstack import node_components, node_host, node_lifecycle
from shadowgate.devstack.layout import COMPONENTS, StackLayout
from shadowgate.devstack.node_components import RealNode


@pytest.fixture
def real(tmp_path: pathlib.Path) -> RealNode:
    return RealNode(StackLayout(tmp_path), tmp_path / "bin", {"kube-apiserver": 41001, "prometheus": 41002})


def test_names_are_stable_per_state_directory(real: RealNode, tmp_path: pathlib.Path) -> None:
    again = RealNode(StackLayout(tmp_path), tmp_path / "other-bin", {})
    other = RealNode(StackLayout(tmp_path / "x"), tmp_path / "bin", {})
    assert real.net.netns == again.net.netns == f"sg-{real.key}"
    assert other.net.netns != real.net.netns
    assert real.paths.cgroup_root == f"/shadowgate-{real.key}"
    # A Unix socket path must stay under 108 bytes, whatever the state directory is.
    assert len(str(real.paths.containerd_socket)) < 108


def test_every_daemon_runs_inside_the_node_namespace(real: RealNode) -> None:
    specs = [
        node_components.etcd(real),
        node_components.containerd(real),
        node_components.kube_apiserver(real),
        node_components.kube_controller_manager(real),
        node_components.kube_scheduler(real),
        node_components.kubelet(real),
        node_components.kube_proxy(real),
        node_components.coredns(real),
        node_components.prometheus(real, "/usr/bin/prometheus"),
    ]
    assert [s.name for s in specs] == [n for n in COMPONENTS if n != "relay"]
    for spec in specs:
        assert spec.argv[:3] == ("nsenter", f"--net=/run/netns/{real.net.netns}", "--"), spec.name
        # Checked from inside the namespace, except a socket, which the filesystem shares.
        assert spec.health.netns == real.net.netns or spec.health.kind == "unix", spec.name


def test_relay_is_a_host_process_bridging_the_two_host_ports(real: RealNode) -> None:
    spec = node_components.relay(real)
    assert "nsenter" not in spec.argv
    assert "host:127.0.0.1:41001=node:127.0.0.1:41001" in spec.argv
    assert "host:127.0.0.1:41002=node:127.0.0.1:41002" in spec.argv
    # Healthy only when the API answers through the relay, on host loopback.
    assert spec.health.url == "https://127.0.0.1:41001/readyz" and not spec.health.netns


def test_api_server_is_reachable_by_pods_and_authorizes_the_node(real: RealNode) -> None:
    argv = node_components.kube_apiserver(real).argv
    assert "--bind-address=0.0.0.0" in argv
    assert "--advertise-address=10.215.0.2" in argv
    assert "--secure-port=41001" in argv
    assert "--authorization-mode=Node,RBAC" in argv
    assert "--enable-admission-plugins=NodeRestriction" in argv
    assert "--kubelet-preferred-address-types=InternalIP" in argv
    assert "--service-cluster-ip-range=10.214.0.0/24" in argv
    assert not any(a.startswith("--endpoint-reconciler-type") for a in argv)


def test_etcd_is_a_throwaway_store_on_the_node_loopback(real: RealNode) -> None:
    argv = node_components.etcd(real).argv
    assert "--unsafe-no-fsync=true" in argv
    assert "--listen-client-urls=http://127.0.0.1:2379" in argv
    assert f"--data-dir={real.layout.etcd_data}" in argv


def test_controller_manager_lifts_the_not_ready_taint(real: RealNode) -> None:
    flag = next(
        a for a in node_components.kube_controller_manager(real).argv if a.startswith("--controllers=")
    )
    enabled = flag.split("=", 1)[1].split(",")
    assert "node-lifecycle-controller" in enabled
    assert "deployment-controller" in enabled and "endpointslice-controller" in enabled


def test_prometheus_listens_where_pods_and_the_relay_reach_it(real: RealNode) -> None:
    argv = node_components.prometheus(real, "/p").argv
    assert "--web.listen-address=0.0.0.0:41002" in argv


def test_cluster_objects_point_services_at_node_daemons(real: RealNode) -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in node_lifecycle.cluster_objects(real)}
    assert objs[("Service", "kube-dns")]["spec"]["clusterIP"] == "10.214.0.10"
    prom = objs[("Service", "prometheus")]
    assert prom["spec"]["ports"][0] == {"name": "http", "port": 9090, "targetPort": 41002, "protocol": "TCP"}
    assert "selector" not in prom["spec"]
    slice_ = objs[("EndpointSlice", "prometheus-node")]
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "prometheus"
    assert slice_["endpoints"][0]["addresses"] == ["10.215.0.2"]
    assert slice_["ports"][0]["port"] == 41002


@pytest.mark.parametrize(
    ("out", "since", "ready"),
    [
        pytest.param("True 2026-12-07T10:00:05Z", 1796637605.0, True, id="fresh"),
        pytest.param("True 2026-12-07T10:00:05Z", 1796637605.9, True, id="same-second"),
        pytest.param("True 2026-12-07T10:00:04Z", 1796637605.0, False, id="stale-from-last-run"),
        pytest.param("False 2026-12-07T10:00:09Z", 1796637605.0, False, id="not-ready"),
        pytest.param("", 0.0, False, id="no-condition-yet"),
        pytest.param("True garbage", 0.0, False, id="unparsable"),
    ],
)
def test_node_counts_as_ready_only_from_a_fresh_heartbeat(out: str, since: float, ready: bool) -> None:
    assert node_lifecycle.ready_since(out, since) is ready


def test_sysctls_are_restored_by_the_last_stack_only(tmp_path: pathlib.Path) -> None:
    proc = tmp_path / "proc"
    for name, value in (("vm/overcommit_memory", "0"), ("kernel/panic", "1"), ("kernel/panic_on_oops", "0")):
        (proc / "sys" / name).parent.mkdir(parents=True, exist_ok=True)
        (proc / "sys" / name).write_text(f"{value}\n")
    run = tmp_path / "run"
    node_host.hold_sysctls("a", run, proc)
    (proc / "sys/kernel/panic").write_text("10\n")  # what kubelet does
    node_host.hold_sysctls("b", run, proc)  # must not save kubelet's value as the original
    assert node_host.release_sysctls("a", run, proc) is False
    assert (proc / "sys/kernel/panic").read_text() == "10\n"  # b's kubelet still runs
    assert node_host.release_sysctls("b", run, proc) is True
    assert (proc / "sys/kernel/panic").read_text() == "1\n"
    assert not (run / "sysctls.json").exists()
    assert node_host.release_sysctls("b", run, proc) is False  # a second down is harmless


MOUNTINFO = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
31 22 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
40 22 0:40 / /st/node/kubelet rw shared:5 - ext4 /dev/vda rw
41 40 0:41 / /st/node/kubelet/pods/u1/volumes/kubernetes.io~projected/kube-api-access-x rw - tmpfs tmpfs rw
42 22 0:42 / /run/shadowgate/k/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay o rw
43 22 0:43 / /st/node/kubelet-other rw - tmpfs tmpfs rw
44 22 0:44 / /st/with\\040space rw - tmpfs tmpfs rw
"""


def test_unmount_order_is_deepest_first_and_only_under_the_roots() -> None:
    roots = [pathlib.Path("/st/node/kubelet"), pathlib.Path("/run/shadowgate/k/containerd")]
    found = node_host.mounts_under(roots, MOUNTINFO)
    # kubelet's bind mount of its own root goes last, after the volumes mounted inside it.
    assert found[-1] == pathlib.Path("/st/node/kubelet")
    assert {p.name for p in found[:2]} == {"kube-api-access-x", "rootfs"}
    assert pathlib.Path("/st/node/kubelet-other") not in found  # a sibling with the same prefix
    assert len(found) == 3
    assert node_host.mounts_under([pathlib.Path("/st/with space")], MOUNTINFO) == [
        pathlib.Path("/st/with space")
    ]


def test_cgroup_hierarchies_are_read_from_mountinfo() -> None:
    assert node_host.cgroup_hierarchies(MOUNTINFO) == [
        pathlib.Path("/sys/fs/cgroup/memory"),
        pathlib.Path("/sys/fs/cgroup/cpu,cpuacct"),
    ]


def test_pod_network_namespaces_are_found_in_containerd_state(tmp_path: pathlib.Path) -> None:
    task = tmp_path / "io.containerd.runtime.v2.task" / "k8s.io"
    sandbox = {
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/cni-1"}]}
    }
    container = {"linux": {"namespaces": [{"type": "network", "path": "/proc/42/ns/net"}]}}
    for name, spec in (("s", sandbox), ("c", container)):
        (task / name).mkdir(parents=True)
        (task / name / "config.json").write_text(json.dumps(spec))
    (task / "broken").mkdir()
    (task / "broken" / "config.json").write_text("{")
    assert node_host.sandbox_netns_paths(tmp_path) == [pathlib.Path("/var/run/netns/cni-1")]

"""Command lines, ports and the layout of the local stack's components (nothing started)."""

from __future__ import annotations

import pathlib
import socket

import pytest
from shadowgate.devstack import components
from shadowgate.devstack.layout import StackLayout, default_state_dir

LAYOUT = StackLayout(pathlib.Path("/state"))
BIN = pathlib.Path("/bin-dir")
PORTS = {
    "etcd": 1001,
    "etcd-peer": 1002,
    "kube-apiserver": 1003,
    "kube-controller-manager": 1004,
    "prometheus": 1005,
}


@pytest.mark.parametrize(
    ("build", "flags"),
    [
        pytest.param(
            components.etcd,
            [
                "--unsafe-no-fsync=true",
                "--listen-client-urls=http://127.0.0.1:1001",
                "--data-dir=/state/etcd",
            ],
            id="etcd",
        ),
        pytest.param(
            components.kube_apiserver,
            [
                "--bind-address=127.0.0.1",
                "--authorization-mode=RBAC",
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--secure-port=1003",
                "--etcd-servers=http://127.0.0.1:1001",
                "--client-ca-file=/state/pki/ca.crt",
                "--service-account-issuer=https://127.0.0.1:1003",
                "--service-account-key-file=/state/pki/sa.pub",
                "--service-account-signing-key-file=/state/pki/sa.key",
                f"--service-cluster-ip-range={components.SERVICE_CLUSTER_IP_RANGE}",
            ],
            id="kube-apiserver",
        ),
        pytest.param(
            components.kube_controller_manager,
            [
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--kubeconfig=/state/kubeconfig",
                "--root-ca-file=/state/pki/ca.crt",
                "--service-account-private-key-file=/state/pki/sa.key",
            ],
            id="kube-controller-manager",
        ),
    ],
)
def test_flags(build: components.Builder, flags: list[str]) -> None:
    spec = build(LAYOUT, PORTS, BIN)
    assert spec.argv[0].startswith("/bin-dir/")
    for flag in flags:
        assert flag in spec.argv


@pytest.mark.parametrize(
    ("controller", "wanted"),
    [
        pytest.param("garbage-collector-controller", True, id="gc"),
        pytest.param("deployment-controller", True, id="deployments"),
        pytest.param("replicaset-controller", True, id="replicasets"),
        pytest.param("endpointslice-controller", True, id="endpointslices"),
        pytest.param("namespace-controller", True, id="namespaces"),
        pytest.param("serviceaccount-token-controller", True, id="sa-tokens"),
        pytest.param("node-lifecycle-controller", False, id="no-node-eviction"),
    ],
)
def test_controllers(controller: str, wanted: bool) -> None:
    flag = next(
        a for a in components.kube_controller_manager(LAYOUT, PORTS, BIN).argv if "--controllers=" in a
    )
    assert (controller in flag.split("=", 1)[1].split(",")) is wanted


def test_prometheus_and_node_agent() -> None:
    prom = components.prometheus(LAYOUT, PORTS, "/usr/bin/prometheus")
    assert "--web.enable-lifecycle" in prom.argv
    assert prom.health.url == "http://127.0.0.1:1005/-/ready"
    agent = components.node_agent(LAYOUT, python="/py")
    module = ("/py", "-m", "shadowgate.devstack.node_agent")
    assert agent.argv == (*module, "--kubeconfig", "/state/kubeconfig", "--state-dir", "/state")


def test_ports_are_distinct_and_kept_when_free() -> None:
    first = components.allocate_ports()
    assert len(set(first.values())) == len(components.PORT_NAMES)
    assert components.allocate_ports(first) == first


def test_busy_port_is_replaced() -> None:
    first = components.allocate_ports()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", first["kube-apiserver"]))
        busy.listen()
        second = components.allocate_ports(first)
    assert second["kube-apiserver"] != first["kube-apiserver"]
    assert second["etcd"] == first["etcd"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"SHADOWGATE_STATE_DIR": "/x/y", "HOME": "/h"}, "/x/y", id="explicit"),
        pytest.param({"HOME": "/h"}, "/h/.cache/shadowgate/stack", id="home-cache"),
        pytest.param({"HOME": "/h", "XDG_CACHE_HOME": "/c"}, "/c/shadowgate/stack", id="xdg"),
    ],
)
def test_default_state_dir(environ: dict[str, str], expected: str) -> None:
    assert default_state_dir(environ) == pathlib.Path(expected)

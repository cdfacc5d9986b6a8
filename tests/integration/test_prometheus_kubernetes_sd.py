"""A real Prometheus discovers the stack's Pods and Services through its API server with the config
``shadowgate.devstack.prometheus.render_node_config`` writes, and the targets carry exactly the
labels the chart's monitors give them (the names the gate presets query).

Discovery needs only the objects: the Pods are bound to a node that does not exist, so nothing
runs them, and their status gets a loopback Pod IP by hand (a Pod without an IP is no target).
An EndpointSlice may not hold a loopback address, so it holds one of this machine's own: every
scrape (refused, nothing listens) stays on this machine. Debian's Prometheus has no Kubernetes
discovery; the test uses one that has (the stack's pinned binaries folder,
``$SHADOWGATE_PROMETHEUS_DIR`` or PATH) and is skipped, saying so, when there is none.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from kubernetes import client
from shadowgate.core import labels
from shadowgate.devstack import prometheus, prometheus_sd
from shadowgate.devstack.layout import StackLayout
from shadowgate.devstack.stack import Stack

pytestmark = pytest.mark.integration

T = TypeVar("T")
NOWHERE = "no-such-node"  # bound here, a Pod is run by no kubelet and no node agent


def _create(method: Callable[..., Any], namespace: str, manifest: dict[str, Any]) -> None:
    """Create from a plain manifest (the client accepts dicts; its annotations say models)."""
    method(namespace, manifest, _preload_content=False)


def _own_address() -> str | None:
    """A non-loopback IPv4 address of this machine (traffic to it never leaves the machine)."""
    try:
        out = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return None
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "inet":
            return fields[3].split("/")[0]
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got is not None:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _retry_service_account(create: Callable[[], Any]) -> None:
    # A fresh namespace's default ServiceAccount appears a moment after the namespace.
    def attempt() -> bool | None:
        try:
            create()
        except client.ApiException as err:
            if err.status == 403 and "serviceaccount" in str(err.body).lower():
                return None
            raise
        return True

    _until("the namespace's default ServiceAccount", attempt, timeout=30)


def _pod(name: str, pod_labels: dict[str, str], metrics_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {
            "nodeName": NOWHERE,
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "server",
                    "image": "shadowgate.invalid/discovery-only:0",
                    "ports": [
                        {"name": "http", "containerPort": 8080},
                        {"name": "metrics", "containerPort": metrics_port},
                    ],
                }
            ],
        },
    }


@pytest.fixture
def discovering(stack: Stack, tmp_path: pathlib.Path) -> Iterator[str]:
    """A Prometheus of its own, with the node config pointed at the stack; yields its URL."""
    dirs = [d for d in (os.environ.get("SHADOWGATE_PROMETHEUS_DIR"), str(stack.bin_dir)) if d]
    found = prometheus_sd.find_kubernetes_sd_prometheus(dirs)
    if found is None:
        pytest.skip(
            "no Prometheus with Kubernetes discovery (Debian's package is built without it); build one "
            "with -tags remove_all_sd,enable_kubernetes_sd and set SHADOWGATE_PROMETHEUS_DIR"
        )
    binary, _ = found
    layout = StackLayout(tmp_path / "prom-state")
    port = _free_port()
    pki = stack.state_dir / "pki"
    config = prometheus.write_node_config(
        layout,
        f"127.0.0.1:{port}",
        api_server=stack.api_server,
        ca_file=pki / "ca.crt",
        cert_file=pki / "admin.crt",
        key_file=pki / "admin.key",
    )
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={layout.prometheus_data}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool | None:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200 or None
            except httpx.HTTPError:
                return None

        _until("Prometheus to be ready", ready, timeout=30)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _active(url: str, job: str, pod_or_service: tuple[str, str]) -> dict[str, str] | None:
    body = httpx.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=5).json()
    key, value = pod_or_service
    for target in body["data"]["activeTargets"]:
        # The scrape pool is the job's name; the services job relabels ``job`` to the Service's.
        if target["scrapePool"] == job and target["labels"].get(key) == value:
            return dict(target["labels"])
    return None


def test_discovered_targets_carry_the_charts_labels(
    stack: Stack, core: client.CoreV1Api, kube_api: client.ApiClient, namespace: str, discovering: str
) -> None:
    own = _own_address()
    if own is None:
        pytest.skip("this machine has no non-loopback IPv4 address for the EndpointSlice")
    model_port, other_port = _free_port(), _free_port()
    model = {labels.POD_LABEL_TARGET: "retriever", labels.POD_LABEL_VARIANT: "canary"}
    _retry_service_account(
        lambda: _create(core.create_namespaced_pod, namespace, _pod("candidate-0", model, model_port))
    )
    # No shadowgate.dev/variant: not a model server, so the PodMonitor's job must not take it.
    other = {"app.kubernetes.io/part-of": "shadowgate"}
    _create(core.create_namespaced_pod, namespace, _pod("operator-0", other, other_port))
    for name in ("candidate-0", "operator-0"):
        status = {"status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}}
        core.patch_namespaced_pod_status(name, namespace, status, _preload_content=False)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "operator-metrics", "labels": other},
        "spec": {"ports": [{"name": "metrics", "port": other_port}]},  # no selector: we write its slice
    }
    _create(core.create_namespaced_service, namespace, service)
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "operator-metrics-1",
            "labels": {"kubernetes.io/service-name": "operator-metrics"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [own],
                "targetRef": {"kind": "Pod", "name": "operator-0", "namespace": namespace},
            }
        ],
        "ports": [{"name": "metrics", "port": other_port}],
    }
    _create(client.DiscoveryV1Api(kube_api).create_namespaced_endpoint_slice, namespace, endpoint_slice)

    pod_target = _until(
        "the model-server Pod as a kubernetes-pods target",
        lambda: _active(discovering, prometheus_sd.POD_JOB, ("pod", "candidate-0")),
    )
    assert pod_target == {
        "instance": f"127.0.0.1:{model_port}",  # only the "metrics" port, at the Pod IP
        "job": prometheus_sd.POD_JOB,
        labels.NAMESPACE: namespace,
        labels.POD: "candidate-0",
        labels.TARGET: "retriever",
        labels.VARIANT: "canary",
    }
    assert set(pod_target) == {*labels.POD_TARGET_LABELS, *labels.SCRAPE_LABELS}
    assert _active(discovering, prometheus_sd.POD_JOB, ("pod", "operator-0")) is None

    service_target = _until(
        "the operator's Service as a kubernetes-services target",
        lambda: _active(discovering, prometheus_sd.SERVICE_JOB, ("service", "operator-metrics")),
    )
    assert service_target == {
        "instance": f"{own}:{other_port}",
        "job": "operator-metrics",  # the Prometheus Operator's job label: the Service's name
        "namespace": namespace,
        "service": "operator-metrics",
        "pod": "operator-0",
        "container": "server",
        "endpoint": "metrics",
    }
    assert set(service_target) == {*labels.SERVICE_TARGET_LABELS, *labels.SCRAPE_LABELS}

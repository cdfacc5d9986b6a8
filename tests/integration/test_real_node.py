"""The local stack's node is a real one: containers of the built image under kubelet, Services
through kube-proxy, names through cluster DNS, Prometheus' Kubernetes discovery, and the
tooling a user inspects a Pod with (logs, exec, port-forward), on the session's stack.

The test process runs inside the node's network namespace (conftest), as a process on a node
would, so Pod IPs and ClusterIPs are reached directly; ``port-forward`` and the API server are
also checked from the host side, through the relay.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from shadowgate.devstack import images, netns, node_host
from shadowgate.devstack.components import free_port
from shadowgate.devstack.stack import Stack
from test_operator_support import eventually, install_crd

pytestmark = pytest.mark.integration
ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = images.dev_name("control-plane")
# A tiny HTTP server: /  answers its hostname, /resolve?n=NAME resolves NAME with the Pod's resolver.
SERVER = r"""
import http.server, os, socket, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/resolve":
            name = urllib.parse.parse_qs(url.query)["n"][0]
            try:
                body = socket.gethostbyname(name)
            except OSError as err:
                body = f"error {err}"
        elif url.path == "/metrics":
            body = 'sgnode_test_up{case="discovery"} 1\n'
        else:
            body = socket.gethostname()
        self.send_response(200)
        if url.path == "/metrics":  # Prometheus 3 refuses a scrape without a content type
            self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers(); self.wfile.write(body.encode())
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""


def kubectl(stack: Stack, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
    argv = [str(stack.bin_dir / "kubectl"), f"--kubeconfig={stack.kubeconfig}", *args]
    res = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    assert res.returncode == 0, f"kubectl {' '.join(args)}: {res.stderr}"
    return res.stdout


def web(namespace: str, replicas: int = 2) -> list[dict[str, Any]]:
    labels = {"app": "web", "shadowgate.dev/target": "web", "shadowgate.dev/variant": "primary"}
    container = {
        "name": "web",
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "command": ["python", "-c", SERVER],
        "ports": [{"name": "metrics", "containerPort": 8000}],
        "readinessProbe": {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1},
        # The chart's container security: non-root, read-only root, nothing escalates.
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8000}]},
    }
    return [deployment, service]


@pytest.fixture(scope="module")
def deployed(stack: Stack, kube_api: client.ApiClient) -> Any:
    core = client.CoreV1Api(kube_api)
    namespace = f"t-node-{os.urandom(4).hex()}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    kubectl(
        stack,
        "apply",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": web(namespace)}),
    )
    kubectl(stack, "-n", namespace, "rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    yield namespace
    core.delete_namespace(namespace)


def _pods(core: client.CoreV1Api, namespace: str) -> list[Any]:
    found: Any = core.list_namespaced_pod(namespace, label_selector="app=web")
    return [p for p in found.items if p.metadata.deletion_timestamp is None]


def test_pods_are_containers_of_the_built_image(deployed: str, core: client.CoreV1Api) -> None:
    pods = _pods(core, deployed)
    assert len(pods) == 2
    for pod in pods:
        status = pod.status.container_statuses[0]
        assert status.ready and status.container_id.startswith("containerd://")
        # containerd reports one of the image's names: the dev alias or its content-addressed tag.
        assert status.image.startswith("localhost/shadowgate/control-plane:"), status.image
        assert pod.status.pod_ip.startswith("10.213.0.") and pod.spec.node_name == "shadowgate-node"
        # The container's process is the one containerd's shim started, and it runs as the image's
        # non-root user.
        pid = node_host.container_pid(status.container_id)
        assert pid is not None
        uid = next(
            line
            for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("Uid:")
        )
        assert uid.split()[1] == "10001", uid


def test_a_service_spreads_over_its_pods_and_resolves_by_name(deployed: str, core: client.CoreV1Api) -> None:
    service: Any = core.read_namespaced_service("web", deployed)
    cluster_ip = service.spec.cluster_ip
    names = {p.metadata.name for p in _pods(core, deployed)}
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while seen != names and time.monotonic() < deadline:
        # A new connection each time, so kube-proxy picks a backend each time. kube-proxy may
        # write the Service's rules a moment after the rollout reports the Pods Ready.
        with contextlib.suppress(httpx.ConnectError):
            seen.add(httpx.get(f"http://{cluster_ip}/", timeout=5, headers={"Connection": "close"}).text)
    assert seen == names
    # From inside a Pod, through its resolv.conf (kubelet hands it the cluster DNS and search path).
    pod_ip = _pods(core, deployed)[0].status.pod_ip
    short = httpx.get(f"http://{pod_ip}:8000/resolve", params={"n": "web"}, timeout=10).text
    assert short == cluster_ip
    api = httpx.get(f"http://{pod_ip}:8000/resolve", params={"n": "kubernetes.default"}, timeout=10).text
    assert api == "10.214.0.1"
    outside = httpx.get(f"http://{pod_ip}:8000/resolve", params={"n": "example.com"}, timeout=10).text
    assert outside.startswith("error"), outside  # nothing resolves outside the cluster


def test_logs_exec_and_port_forward(stack: Stack, deployed: str, core: client.CoreV1Api) -> None:
    pod = _pods(core, deployed)[0].metadata.name
    out = kubectl(stack, "-n", deployed, "exec", pod, "--", "python", "-c", "import os; print(os.getuid())")
    assert out.strip() == "10001"
    kubectl(stack, "-n", deployed, "logs", pod)  # answers (the server logs nothing)
    port = free_port()
    # From the host's network, as a user's browser would: the relay carries the API traffic.
    forward = subprocess.Popen(
        [*netns.host_prefix(), str(stack.bin_dir / "kubectl"), f"--kubeconfig={stack.kubeconfig}",
         "-n", deployed, "port-forward", f"pod/{pod}", f"{port}:8000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        assert "Forwarding from 127.0.0.1" in line, line
        got: list[str | BaseException] = []

        def fetch_from_host() -> None:
            # A thread that leaves the node's namespace: host loopback is where the forward listens.
            try:
                with netns.joined_host():
                    got.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text)
            except BaseException as err:  # reported by the assertion below
                got.append(err)

        thread = threading.Thread(target=fetch_from_host)
        thread.start()
        thread.join(30)
        assert got == [pod]
    finally:
        forward.send_signal(signal.SIGTERM)
        forward.wait(10)


def test_kill_9_of_the_container_process_restarts_it_in_its_pod(
    deployed: str, core: client.CoreV1Api
) -> None:
    pod = _pods(core, deployed)[0]
    before = pod.status.container_statuses[0]
    pid = node_host.container_pid(before.container_id)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    def restarted() -> Any:
        now: Any = core.read_namespaced_pod(pod.metadata.name, deployed)
        status = now.status.container_statuses[0]
        return now if status.restart_count > before.restart_count and status.ready else None

    after = eventually(restarted, 60, "container restarted and Ready")
    status = after.status.container_statuses[0]
    assert status.container_id != before.container_id
    assert node_host.container_pid(status.container_id) not in (None, pid)
    assert after.metadata.uid == pod.metadata.uid  # the same Pod, as kubelet restarts it


def test_prometheus_discovers_the_pods_as_the_pod_monitor_would(stack: Stack, deployed: str) -> None:
    def series() -> list[Any]:
        resp = httpx.get(
            f"{stack.prometheus_url}/api/v1/query",
            params={"query": f'sgnode_test_up{{namespace="{deployed}"}}'},
            timeout=5,
        )
        result = resp.json()["data"]["result"]
        return result if len(result) == 2 else []

    found = eventually(series, 60, "both Pods scraped through kubernetes_sd")
    for sample in found:
        labels = sample["metric"]
        assert (labels["target"], labels["variant"], labels["job"]) == ("web", "primary", "kubernetes-pods")
        assert labels["pod"].startswith("web-")


def test_every_example_is_accepted_unchanged(stack: Stack, kube_api: client.ApiClient) -> None:
    """Each manifest in examples/ as a user applies it: the CRD validates the Candidates and the
    API server accepts production's Deployment, Service and route table as written."""
    install_crd(kube_api)
    namespace = f"t-examples-{os.urandom(4).hex()}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        files = sorted((ROOT / "examples").rglob("*.yaml"))
        assert len(files) >= 4
        for path in files:
            out = kubectl(stack, "-n", namespace, "apply", "-f", str(path))
            kinds = [d["kind"] for d in yaml.safe_load_all(path.read_text()) if d]
            assert out.count("created") == len(kinds), (path, out)
    finally:
        core.delete_namespace(namespace)

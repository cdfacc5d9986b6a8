"""Foundation: the local stack is a real Kubernetes control plane plus a real Prometheus.

Everything here talks to the session ``stack`` (real etcd, kube-apiserver,
kube-controller-manager and Prometheus) except the lifecycle tests at the end, which start
their own stacks through the CLI so they can stop and break them.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import prometheus_client
import pytest
from kubernetes import client
from shadowgate.devstack import binaries, components, node_components, processes
from shadowgate.devstack.layout import COMPONENTS
from shadowgate.devstack.stack import Stack

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]
PINNED = re.search(r"^K8S_VERSION=(\S+)$", (ROOT / "hack/build-binaries.sh").read_text(), re.M)


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout} s (last: {last!r})")


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except client.ApiException as err:
        if err.status == 404:
            return True
        raise
    return False


# --- the API server ------------------------------------------------------------------------
def test_server_version_is_pinned(kube_api: client.ApiClient) -> None:
    assert PINNED is not None
    assert client.VersionApi(kube_api).get_code().git_version == PINNED.group(1)


def test_pinned_kubectl_talks_to_the_stack(stack: Stack) -> None:
    assert PINNED is not None
    out = subprocess.run(
        [str(stack.bin_dir / "kubectl"), "version", "-o", "json"],
        env={**os.environ, **stack.env()},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    doc = json.loads(out.stdout)
    assert doc["clientVersion"]["gitVersion"] == PINNED.group(1)
    assert doc["serverVersion"]["gitVersion"] == PINNED.group(1)


@pytest.mark.parametrize("update", [pytest.param("patch", id="patch"), pytest.param("replace", id="replace")])
def test_configmap_crud(kube_api: client.ApiClient, namespace: str, update: str) -> None:
    core = client.CoreV1Api(kube_api)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="crud"), data={"k": "v1"})
    created = core.create_namespaced_config_map(namespace, body)
    assert core.read_namespaced_config_map("crud", namespace).data == {"k": "v1"}
    if update == "patch":
        core.patch_namespaced_config_map("crud", namespace, {"data": {"k": "v2"}})
    else:
        created.data = {"k": "v2"}
        core.replace_namespaced_config_map("crud", namespace, created)
    assert core.read_namespaced_config_map("crud", namespace).data == {"k": "v2"}
    if update == "replace":
        # Optimistic concurrency: replacing from a stale resourceVersion is refused.
        with pytest.raises(client.ApiException) as conflict:
            core.replace_namespaced_config_map("crud", namespace, created)
        assert conflict.value.status == 409
    core.delete_namespaced_config_map("crud", namespace)
    assert gone(lambda: core.read_namespaced_config_map("crud", namespace))


@pytest.mark.parametrize(
    "propagation", [pytest.param("Background", id="background"), pytest.param("Foreground", id="foreground")]
)
def test_owner_reference_child_is_garbage_collected(
    kube_api: client.ApiClient, namespace: str, propagation: str
) -> None:
    core = client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    assert owner.metadata is not None and owner.metadata.uid
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="child", owner_references=[ref]))
    )
    core.delete_namespaced_config_map(
        "owner", namespace, body=client.V1DeleteOptions(propagation_policy=propagation)
    )
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("child", namespace)), what="child GC")
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("owner", namespace)), what="owner gone")


def test_deployment_makes_replicaset_and_pods(kube_api: client.ApiClient, namespace: str) -> None:
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    labels = {"app": "foundation"}
    container = client.V1Container(name="main", image="local", command=["sleep", "300"])
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels), spec=client.V1PodSpec(containers=[container])
                ),
            ),
        ),
    )
    sets = eventually(lambda: apps.list_namespaced_replica_set(namespace).items, what="a ReplicaSet")
    meta = sets[0].metadata
    assert meta is not None and [ref.kind for ref in (meta.owner_references or [])] == ["Deployment"]
    pods = eventually(
        lambda: (
            [
                p
                for p in core.list_namespaced_pod(namespace).items
                if p.metadata and p.metadata.owner_references
            ]
            or None
        ),
        what="Pods",
    )
    eventually(lambda: len(core.list_namespaced_pod(namespace).items) == 2, what="two Pods")
    assert {p.metadata.owner_references[0].kind for p in pods} == {"ReplicaSet"}


def test_namespace_deletion_finishes(kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    name = f"t-del-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    core.delete_namespace(name)
    eventually(lambda: gone(lambda: core.read_namespace(name)), timeout=60, what="namespace finalized")


# --- RBAC with a TokenRequest token -------------------------------------------------------
@pytest.fixture
def reader_api(stack: Stack, kube_api: client.ApiClient, namespace: str) -> Iterator[client.ApiClient]:
    """An ApiClient authenticated as ServiceAccount ``reader``, allowed get/list ConfigMaps only."""
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="cm-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="cm-reader"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="cm-reader"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
        ),
    )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="visible"))
    )
    issued = core.create_namespaced_service_account_token(
        "reader", namespace, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    )
    assert issued.status is not None and issued.status.token
    token = issued.status.token
    conf = client.Configuration()
    conf.host = stack.api_server
    conf.ssl_ca_cert = str(stack.state_dir / "pki" / "ca.crt")
    conf.api_key = {"authorization": f"Bearer {token}"}
    api = client.ApiClient(conf)
    try:
        yield api
    finally:
        api.close()


RBAC_CASES = [
    pytest.param(lambda c, ns: c.list_namespaced_config_map(ns), True, id="list-configmaps-allowed"),
    pytest.param(lambda c, ns: c.read_namespaced_config_map("visible", ns), True, id="get-configmap-allowed"),
    pytest.param(
        lambda c, ns: c.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="n"))
        ),
        False,
        id="create-configmap-forbidden",
    ),
    pytest.param(lambda c, ns: c.list_namespaced_secret(ns), False, id="list-secrets-forbidden"),
    pytest.param(
        lambda c, ns: c.list_namespaced_config_map("default"), False, id="other-namespace-forbidden"
    ),
    pytest.param(lambda c, ns: c.delete_namespaced_config_map("visible", ns), False, id="delete-forbidden"),
]


@pytest.mark.parametrize(("call", "allowed"), RBAC_CASES)
def test_service_account_gets_exactly_its_role(
    reader_api: client.ApiClient, namespace: str, call: Callable[[client.CoreV1Api, str], Any], allowed: bool
) -> None:
    core = client.CoreV1Api(reader_api)
    if allowed:
        call(core, namespace)
        return
    with pytest.raises(client.ApiException) as denied:
        call(core, namespace)
    assert denied.value.status == 403
    assert f"system:serviceaccount:{namespace}:reader" in str(denied.value.body)


# --- Prometheus -----------------------------------------------------------------------------
def _instant(prometheus_url: str, promql: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=5)
    resp.raise_for_status()
    body = resp.json()
    assert body["status"] == "success"
    return list(body["data"]["result"])


def test_prometheus_scrapes_a_runtime_target(stack: Stack) -> None:
    registry = prometheus_client.CollectorRegistry()
    gauge = prometheus_client.Gauge("foundation_probe_value", "A value the test sets", registry=registry)
    gauge.set(42)
    port = components.free_port()
    server, thread = prometheus_client.start_http_server(port, addr="127.0.0.1", registry=registry)
    job, address = f"foundation-{uuid.uuid4().hex[:6]}", f"127.0.0.1:{port}"
    try:
        stack.add_scrape_target(job, address, {"case": "scrape"})
        query = f'foundation_probe_value{{job="{job}"}}'
        series = eventually(lambda: _instant(stack.prometheus_url, query), what="first scrape")
        assert series[0]["metric"]["case"] == "scrape"
        assert float(series[0]["value"][1]) == 42.0
        gauge.set(7)  # a 1 s scrape interval shows the change within seconds
        eventually(
            lambda: float(_instant(stack.prometheus_url, query)[0]["value"][1]) == 7.0, what="new value"
        )
        assert _instant(stack.prometheus_url, f'up{{job="{job}"}}')[0]["value"][1] == "1"
        stack.remove_scrape_target(job, address)
        eventually(lambda: not _instant(stack.prometheus_url, f'up{{job="{job}"}}'), what="target dropped")
    finally:
        stack.remove_scrape_target(job, address)
        server.shutdown()
        thread.join(5)


def test_prometheus_rejects_bad_promql(stack: Stack) -> None:
    resp = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": "sum(("}, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["errorType"] == "bad_data"


# --- lifecycle through the CLI ----------------------------------------------------------------
def _cli(
    state_dir: pathlib.Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHADOWGATE_STATE_DIR": str(state_dir), **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "shadowgate", "dev", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _pids(state_dir: pathlib.Path) -> dict[str, int]:
    doc = json.loads((state_dir / "stack.json").read_text())
    return {name: rec["pid"] for name, rec in doc["components"].items()}


def _stack_processes(stack_id: str) -> list[int]:
    return [
        p.pid for p in processes.all_processes() if p.alive and processes.carries_stack_id(p.pid, stack_id)
    ]


def test_cli_up_twice_status_crash_and_down(tmp_path: pathlib.Path) -> None:
    state_dir = tmp_path / "cli-stack"
    netns = f"sg-{node_components.stack_key(state_dir)}"
    try:
        first = _cli(state_dir, "up")
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == str(state_dir / "kubeconfig")
        pids = _pids(state_dir)
        assert set(pids) == set(COMPONENTS)
        assert f"nsenter --net=/run/netns/{netns}" in first.stderr

        again = _cli(state_dir, "up")
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stderr
        assert _pids(state_dir) == pids

        status = _cli(state_dir, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("healthy") == len(pids)
        env = _cli(state_dir, "env")
        assert f"export KUBECONFIG={state_dir / 'kubeconfig'}" in env.stdout
        assert "export SHADOWGATE_PROMETHEUS_URL=http://127.0.0.1:" in env.stdout

        # A crash is reported with the component's log, and `up` restarts the stack.
        os.kill(pids["kube-controller-manager"], signal.SIGKILL)
        crashed = _cli(state_dir, "status")
        assert crashed.returncode == 3
        assert f"see {state_dir / 'logs' / 'kube-controller-manager.log'}" in crashed.stdout
        healed = _cli(state_dir, "up")
        assert healed.returncode == 0, healed.stderr
        assert "restarting the stack: kube-controller-manager" in healed.stderr
        assert _cli(state_dir, "status").returncode == 0

        stack_id = json.loads((state_dir / "stack.json").read_text())["stack_id"]
        assert _stack_processes(stack_id)
    finally:
        down = _cli(state_dir, "down")
    assert down.returncode == 0, down.stderr
    assert "no process left" in down.stderr
    assert not pathlib.Path(f"/run/netns/{netns}").exists()
    assert _stack_processes(stack_id) == []
    for pid in pids.values():
        info = processes.proc_info(pid)
        assert info is None or not info.alive
    assert _cli(state_dir, "status").returncode == 3


def test_start_up_crash_names_the_log_and_leaves_nothing(stack: Stack, tmp_path: pathlib.Path) -> None:
    # Real etcd, containerd and the rest, but an API server binary that dies at once.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in binaries.REQUIRED:
        if name != "kube-apiserver":
            (fake_bin / name).symlink_to(stack.bin_dir / name)
    broken = fake_bin / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'boom: refusing to serve' >&2\nexit 3\n")
    broken.chmod(0o755)
    state_dir = tmp_path / "broken-stack"
    result = _cli(state_dir, "up", extra_env={"SHADOWGATE_BIN_DIR": str(fake_bin)})
    assert result.returncode == 1
    assert (
        f"kube-apiserver exited during start-up; its log is {state_dir / 'logs' / 'kube-apiserver.log'}"
        in (result.stderr)
    )
    assert "boom: refusing to serve" in result.stderr
    doc = json.loads((state_dir / "stack.json").read_text())
    assert doc["components"] == {}
    for line in (state_dir / "run").glob("*.pid"):
        pytest.fail(f"pid file left behind: {line}")

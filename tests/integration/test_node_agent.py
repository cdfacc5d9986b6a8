"""The node agent against the real local stack: Deployments become real local processes.

The stack fixture starts the agent (``shadowgate.devstack.node_agent``) with the control
plane. Every Pod here runs a small Python HTTP server on its own Pod IP; readiness,
restarts and deletion are those of the real process, seen through the real API server,
the real controller-manager (Deployments, ReplicaSets, garbage collection) and the real
Prometheus (file_sd targets).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest
from kubernetes import client
from shadowgate.devstack import components, processes, state
from shadowgate.devstack.stack import Stack

pytestmark = pytest.mark.integration

T = TypeVar("T")

# A Pod's process: GET / says who it is, /ready answers $READY_CODE, /metrics is Prometheus text.
SERVER = """
import http.server, os, signal, sys
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ready":
            code, body = int(os.environ.get("READY_CODE", "200")), b"ready?"
        elif self.path == "/metrics":
            code, body = 200, b"node_agent_test_up 1\\n"
        else:
            code, body = 200, (os.environ["POD_NAME"] + " " + os.environ["POD_IP"]).encode()
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H)
print("serving", flush=True)
server.serve_forever()
"""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.3) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def body(resp: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resp.data)
    return data


def container(
    command: list[str] | None = None, env: dict[str, str] | None = None, probe_path: str | None = "/ready"
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": "server",
        "image": "ignored.example/server:1",
        "command": command if command is not None else [sys.executable, "-c", SERVER],
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 8080}],
    }
    if probe_path:
        c["readinessProbe"] = {"httpGet": {"port": "http", "path": probe_path}, "periodSeconds": 1}
    return c


def deployment(name: str, replicas: int, spec: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name, "app.kubernetes.io/name": name, "shadowgate.dev/variant": "canary"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def bare_pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def pods(core: client.CoreV1Api, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = body(
        core.list_namespaced_pod(namespace, label_selector=selector or None, _preload_content=False)
    )["items"]
    return items


def create(method: Callable[..., Any], namespace: str, manifest: dict[str, Any]) -> None:
    """Create from a plain manifest (the client accepts dicts; its annotations say models)."""
    method(namespace, manifest, _preload_content=False)


def ready_pods(core: client.CoreV1Api, namespace: str, app: str, count: int) -> list[dict[str, Any]] | None:
    found = pods(core, namespace, f"app={app}")
    if len(found) == count and all(condition(p, "Ready") == "True" for p in found):
        return found
    return None


def pod_where(
    core: client.CoreV1Api, namespace: str, name: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    found = pod(core, namespace, name)
    return found if found is not None and check(found) else None


def pod(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return body(core.read_namespaced_pod(name, namespace, _preload_content=False))
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise


def event_reasons(core: client.CoreV1Api, namespace: str, name: str) -> set[str]:
    """Reasons of the Events recorded about Pod ``name`` (what ``kubectl describe`` shows)."""
    items = body(core.list_namespaced_event(namespace, _preload_content=False))["items"]
    return {str(e["reason"]) for e in items if e["involvedObject"].get("name") == name}


def condition(p: dict[str, Any], kind: str) -> str | None:
    for c in p.get("status", {}).get("conditions") or []:
        if c["type"] == kind:
            return str(c["status"])
    return None


def pid_of(p: dict[str, Any]) -> int:
    return int(p["status"]["containerStatuses"][0]["containerID"].removeprefix("shadowgate://"))


def alive(pid: int) -> bool:
    info = processes.proc_info(pid)
    return info is not None and info.alive


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def try_get(url: str) -> str:
    """The body, or "" while nothing listens yet."""
    try:
        return http_get(url)
    except OSError:
        return ""


def prometheus_query(stack: Stack, query: str) -> list[Any]:
    """An instant query's result; empty while Prometheus cannot answer."""
    try:
        resp = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
        result: list[Any] = resp.json()["data"]["result"]
    except (httpx.HTTPError, ValueError, KeyError) as err:
        print(f"prometheus query failed (retrying): {err!r}")
        return []
    return result


@pytest.fixture
def core(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


@pytest.fixture
def apps(kube_api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(kube_api)


def test_node_is_registered_ready_with_a_fresh_lease(kube_api: client.ApiClient, stack: Stack) -> None:
    core = client.CoreV1Api(kube_api)

    def registered() -> dict[str, Any] | None:
        # The agent starts alongside the control plane and registers within seconds.
        try:
            node = body(core.read_node("shadowgate-local", _preload_content=False))
        except client.ApiException as err:
            if err.status == 404:
                return None
            raise
        return node if node.get("status", {}).get("conditions") else None

    node = wait_for("the Node", registered, timeout=30)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert node["status"]["allocatable"]["pods"] == "110"

    def leased() -> dict[str, Any] | None:
        # The heartbeat creates the Lease just after the Node: right after start-up it may lag.
        try:
            return body(
                client.CoordinationV1Api(kube_api).read_namespaced_lease(
                    "shadowgate-local", "kube-node-lease", _preload_content=False
                )
            )
        except client.ApiException as err:
            if err.status == 404:
                return None
            raise

    lease = wait_for("the node Lease", leased, timeout=30)
    renewed = dt.datetime.strptime(lease["spec"]["renewTime"][:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=dt.UTC
    )
    assert time.time() - renewed.timestamp() < 30, lease["spec"]


def test_deployment_becomes_available_on_distinct_reachable_ips(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, stack: Stack
) -> None:
    create(apps.create_namespaced_deployment, namespace, deployment("web", 2, {"containers": [container()]}))
    wait_for(
        "2 available replicas",
        lambda: (
            body(apps.read_namespaced_deployment("web", namespace, _preload_content=False))
            .get("status", {})
            .get("availableReplicas")
            == 2
        ),
    )
    running = pods(core, namespace, "app=web")
    ips = [p["status"]["podIP"] for p in running]
    assert len(set(ips)) == 2 and all(ip.startswith("127.") and ip != "127.0.0.1" for ip in ips)
    for p in running:
        name, ip = p["metadata"]["name"], p["status"]["podIP"]
        assert p["spec"]["nodeName"] == "shadowgate-local"
        assert http_get(f"http://{ip}:8080/") == f"{name} {ip}"
        (cs,) = p["status"]["containerStatuses"]
        assert (cs["ready"], cs["started"], cs["restartCount"]) == (True, True, 0)
        assert "running" in cs["state"]
        assert {condition(p, k) for k in ("PodScheduled", "Initialized", "ContainersReady", "Ready")} == {
            "True"
        }
        assert p["status"]["hostIP"] == "127.0.0.1" and p["status"]["startTime"]
        # The metrics port is a Prometheus target with the contract's labels, and it is scraped.
        target = json.loads(
            (stack.state_dir / "prometheus" / "file_sd" / f"pod-{namespace}-{name}.json").read_text()
        )
        assert target[0]["targets"] == [f"{ip}:8080"]
        assert target[0]["labels"]["app_kubernetes_io_name"] == "web"
    query = f'node_agent_test_up{{namespace="{namespace}",shadowgate_dev_variant="canary"}}'

    def scraped() -> list[Any] | None:
        result = prometheus_query(stack, query)
        return result if len(result) == 2 else None

    series = wait_for("Prometheus to scrape both Pods", scraped, timeout=30)
    assert {s["metric"]["pod"] for s in series} == {p["metadata"]["name"] for p in running}


def test_failing_readiness_keeps_the_pod_unready(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    spec = {"containers": [container(env={"READY_CODE": "503"})]}
    create(apps.create_namespaced_deployment, namespace, deployment("sick", 1, spec))
    first = wait_for("a Pod", lambda: next(iter(pods(core, namespace, "app=sick")), None))
    p = wait_for(
        "the process to start",
        lambda: pod_where(
            core, namespace, first["metadata"]["name"], lambda q: bool(q["status"].get("podIP"))
        ),
    )
    # The process really serves (so unready is the probe's verdict, not a dead process) ...
    wait_for("the server", lambda: "sick" in try_get(f"http://{p['status']['podIP']}:8080/"), timeout=20)
    # ... and over several probe periods the Pod never becomes Ready.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        current = pod(core, namespace, p["metadata"]["name"])
        assert current is not None and condition(current, "Ready") == "False"
        time.sleep(0.5)
    status = body(apps.read_namespaced_deployment("sick", namespace, _preload_content=False))["status"]
    assert not status.get("availableReplicas")
    assert "Unhealthy" in event_reasons(core, namespace, first["metadata"]["name"])


def test_deleting_the_deployment_stops_its_processes(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, stack: Stack
) -> None:
    create(apps.create_namespaced_deployment, namespace, deployment("gone", 2, {"containers": [container()]}))
    running = wait_for(
        "2 ready Pods",
        lambda: ready_pods(core, namespace, "gone", 2),
    )
    pids = [pid_of(p) for p in running]
    assert all(alive(pid) for pid in pids)
    apps.delete_namespaced_deployment("gone", namespace, propagation_policy="Background")
    wait_for(
        "the Pods to be garbage-collected and finalized",
        lambda: not pods(core, namespace, "app=gone"),
        timeout=60,
    )
    wait_for("the processes to exit", lambda: not any(alive(pid) for pid in pids), timeout=10)
    left = list((stack.state_dir / "prometheus" / "file_sd").glob(f"pod-{namespace}-*.json"))
    assert left == []


@pytest.mark.parametrize(
    ("ignore_term", "grace", "min_s", "max_s"),
    [
        pytest.param(False, 30, 0.0, 10.0, id="exits-on-sigterm"),
        pytest.param(True, 2, 1.8, 15.0, id="sigkill-after-grace"),
    ],
)
def test_pod_deletion_honours_the_grace_period(
    core: client.CoreV1Api, namespace: str, ignore_term: bool, grace: int, min_s: float, max_s: float
) -> None:
    env = {"IGNORE_TERM": "1"} if ignore_term else {}
    spec = {"containers": [container(env=env)], "terminationGracePeriodSeconds": grace}
    create(core.create_namespaced_pod, namespace, bare_pod("graceful", spec))
    p = wait_for(
        "Ready", lambda: pod_where(core, namespace, "graceful", lambda q: condition(q, "Ready") == "True")
    )
    began = time.monotonic()
    core.delete_namespaced_pod("graceful", namespace)
    seen: list[str | None] = []

    def gone() -> bool:
        q = pod(core, namespace, "graceful")
        if q is not None:
            seen.append(condition(q, "Ready"))
        return q is None

    wait_for("the Pod to go", gone, timeout=max_s + 5, every=0.1)
    took = time.monotonic() - began
    assert min_s <= took <= max_s
    assert not alive(pid_of(p))
    if ignore_term:
        # While the process sat out its grace period, the Pod was already reported unready.
        assert seen and seen[-1] == "False", seen


def test_crashing_process_is_restarted_and_counted(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    crash = [sys.executable, "-c", "import time; time.sleep(0.3); raise SystemExit(7)"]
    create(
        apps.create_namespaced_deployment,
        namespace,
        deployment("crash", 1, {"containers": [container(crash)]}),
    )

    def restarted_twice() -> dict[str, Any] | None:
        for p in pods(core, namespace, "app=crash"):
            statuses = p["status"].get("containerStatuses") or [{}]
            if statuses[0].get("restartCount", 0) >= 2:
                return dict(statuses[0])
        return None

    cs = wait_for("restartCount >= 2", restarted_twice, timeout=45)
    assert cs["lastState"]["terminated"]["exitCode"] == 7
    assert cs["ready"] is False
    (p,) = pods(core, namespace, "app=crash")
    assert p["status"]["phase"] == "Running"
    assert {"Started", "BackOff"} <= event_reasons(core, namespace, p["metadata"]["name"])


@pytest.mark.parametrize(
    ("code", "phase", "exit_code"),
    [
        pytest.param("raise SystemExit(0)", "Succeeded", 0, id="succeeded"),
        pytest.param("raise SystemExit(3)", "Failed", 3, id="failed"),
    ],
)
def test_run_to_completion(
    core: client.CoreV1Api, namespace: str, code: str, phase: str, exit_code: int
) -> None:
    spec = {
        "containers": [container([sys.executable, "-c", code], probe_path=None)],
        "restartPolicy": "Never",
    }
    create(core.create_namespaced_pod, namespace, bare_pod("job", spec))
    p = wait_for(
        phase, lambda: pod_where(core, namespace, "job", lambda q: q["status"].get("phase") == phase)
    )
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == exit_code


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        pytest.param(
            {"command": ["no-such-server-xyz"]},
            "RunContainerError",
            "not found in $PATH",
            id="unknown-executable",
        ),
        pytest.param({"command": []}, "CreateContainerConfigError", "has no command", id="no-command"),
        pytest.param(
            {"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
            "CreateContainerConfigError",
            "secretKeyRef is not supported",
            id="unsupported-env-source",
        ),
    ],
)
def test_pod_that_cannot_run_says_why(
    core: client.CoreV1Api, namespace: str, change: dict[str, Any], reason: str, message: str
) -> None:
    c = container()
    c.update(change)
    if not c["command"]:
        del c["command"]
    create(core.create_namespaced_pod, namespace, bare_pod("broken", {"containers": [c]}))

    def waiting() -> dict[str, Any] | None:
        q = pod(core, namespace, "broken")
        statuses = (q or {}).get("status", {}).get("containerStatuses") or [{}]
        w: dict[str, Any] | None = statuses[0].get("state", {}).get("waiting")
        return w if w and w.get("reason") == reason else None

    w = wait_for(reason, waiting, timeout=30)
    assert message in w["message"]
    q = pod(core, namespace, "broken")
    assert q is not None and q["status"]["phase"] == "Pending"


def _agent_record(stack: Stack) -> processes.ProcessRecord:
    return state.load(stack.layout).components["node-agent"]


def _restart_agent(stack: Stack) -> None:
    """Start a new agent as the stack would, and record it so ``dev down`` stops it."""
    current = state.load(stack.layout)
    env = {**os.environ, processes.STACK_ID_ENV: current.stack_id, "KUBECONFIG": stack.kubeconfig}
    spec = components.node_agent(stack.layout)
    record = processes.spawn(spec.name, spec.argv, stack.layout.log(spec.name), env, stack.layout.root)
    processes.write_pid_file(stack.layout.pid_file(spec.name), record)
    state.save(stack.layout, current.with_component(record))


def test_agent_restart_adopts_live_processes_and_finishes_deletions(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, stack: Stack
) -> None:
    create(apps.create_namespaced_deployment, namespace, deployment("keep", 2, {"containers": [container()]}))
    before = wait_for(
        "2 ready Pods",
        lambda: ready_pods(core, namespace, "keep", 2),
    )
    victim, survivor = before
    os.kill(_agent_record(stack).pid, signal.SIGKILL)
    time.sleep(0.5)
    # With no agent, a deletion waits (Terminating) and nobody starts the replacement.
    core.delete_namespaced_pod(victim["metadata"]["name"], namespace)
    time.sleep(1.0)
    assert pod(core, namespace, victim["metadata"]["name"]) is not None
    assert alive(pid_of(victim)) and alive(pid_of(survivor))
    _restart_agent(stack)
    wait_for(
        "the deletion to finish", lambda: pod(core, namespace, victim["metadata"]["name"]) is None, timeout=60
    )
    assert wait_for("the victim's process to stop", lambda: not alive(pid_of(victim)), timeout=10) is True
    after = wait_for(
        "2 ready Pods again",
        lambda: ready_pods(core, namespace, "keep", 2),
    )
    kept = next(p for p in after if p["metadata"]["uid"] == survivor["metadata"]["uid"])
    # The survivor's process was adopted, not restarted: same pid, same IP, no restart counted.
    assert pid_of(kept) == pid_of(survivor) and kept["status"]["podIP"] == survivor["status"]["podIP"]
    assert kept["status"]["containerStatuses"][0]["restartCount"] == 0
    assert http_get(f"http://{kept['status']['podIP']}:8080/").startswith(kept["metadata"]["name"])
    # No duplicate: exactly one process serves each Pod IP, and the new Pod has an unused address.
    new = next(p for p in after if p["metadata"]["uid"] != survivor["metadata"]["uid"])
    assert new["status"]["podIP"] not in (victim["status"]["podIP"], survivor["status"]["podIP"])
    servers = [
        info.pid
        for info in processes.all_processes()
        if info.alive and _environ(info.pid).get("POD_NAMESPACE") == namespace
    ]
    assert sorted(servers) == sorted([pid_of(kept), pid_of(new)])


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {k: v for k, _, v in pairs}


def _restart_api_server(stack: Stack, core: client.CoreV1Api) -> None:
    """Stop the API server and start it again on the same port, as the stack started it."""
    current = state.load(stack.layout)
    record = current.components["kube-apiserver"]
    processes.stop(record)
    env = {**os.environ, processes.STACK_ID_ENV: current.stack_id, "KUBECONFIG": stack.kubeconfig}
    restarted = processes.spawn(record.name, record.argv, pathlib.Path(record.log), env, stack.layout.root)
    processes.write_pid_file(stack.layout.pid_file(record.name), restarted)
    state.save(stack.layout, current.with_component(restarted))

    def serving() -> bool:
        try:
            core.list_namespace(_preload_content=False, _request_timeout=2)
            return True
        except Exception:
            return False

    wait_for("the API server to serve again", serving, timeout=90, every=0.5)


def test_agent_survives_an_api_server_restart(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, stack: Stack, kube_api: client.ApiClient
) -> None:
    create(
        apps.create_namespaced_deployment, namespace, deployment("before", 1, {"containers": [container()]})
    )
    (before,) = wait_for("a ready Pod", lambda: ready_pods(core, namespace, "before", 1))
    _restart_api_server(stack, core)
    restarted_at = time.time()
    # The watch reconnects: a Deployment created after the restart is scheduled and run.
    create(
        apps.create_namespaced_deployment, namespace, deployment("after", 1, {"containers": [container()]})
    )
    (after,) = wait_for(
        "a ready Pod after the restart", lambda: ready_pods(core, namespace, "after", 1), timeout=90
    )
    assert after["status"]["podIP"] != before["status"]["podIP"]
    # The earlier Pod's process ran through the outage and was neither restarted nor duplicated.
    (still,) = pods(core, namespace, "app=before")
    assert pid_of(still) == pid_of(before) and alive(pid_of(still))
    assert still["status"]["containerStatuses"][0]["restartCount"] == 0
    # The heartbeat resumed too.
    leases = client.CoordinationV1Api(kube_api)

    def renewed_since_restart() -> bool:
        lease = body(
            leases.read_namespaced_lease("shadowgate-local", "kube-node-lease", _preload_content=False)
        )
        renew = dt.datetime.strptime(lease["spec"]["renewTime"][:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=dt.UTC
        )
        return renew.timestamp() >= restarted_at - 1

    wait_for("a lease renewal after the restart", renewed_since_restart, timeout=30)


def test_model_server_pod_is_ready_and_scraped(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, stack: Stack
) -> None:
    """The wire contract end to end: the real ``model-server`` console script as a Pod."""
    server = {
        "name": "model-server",
        "image": "shadowgate/model-server:dev",
        "command": ["model-server", "serve"],
        "args": ["--torch-threads", "1"],
        "env": [{"name": "SHADOWGATE_VARIANT", "value": "canary"}],
        "ports": [
            {"name": "http", "containerPort": 8080},
            {"name": "management", "containerPort": 8081},
            {"name": "metrics", "containerPort": 8082},
        ],
        "readinessProbe": {"httpGet": {"port": "http", "path": "/ping"}, "periodSeconds": 1},
    }
    manifest = deployment("ms", 1, {"containers": [server]})
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    labels["shadowgate.dev/target"] = "retriever"
    create(apps.create_namespaced_deployment, namespace, manifest)
    (p,) = wait_for("the model server to be Ready", lambda: ready_pods(core, namespace, "ms", 1), timeout=180)
    ip = p["status"]["podIP"]
    assert "Healthy" in http_get(f"http://{ip}:8080/ping")
    query = (
        f'model_server_request_duration_seconds_count{{namespace="{namespace}",variant="canary",'
        'shadowgate_dev_variant="canary",shadowgate_dev_target="retriever"}'
    )

    def scraped() -> list[Any] | None:
        return prometheus_query(stack, query) or None

    series = wait_for("Prometheus to scrape the model server", scraped, timeout=30)
    assert series[0]["metric"]["pod"] == p["metadata"]["name"]

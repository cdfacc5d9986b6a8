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
import sys
import time
from typing import Any

import pytest
from kubernetes import client
from node_agent_support import (
    alive,
    bare_pod,
    body,
    condition,
    container,
    create,
    deployment,
    event_reasons,
    http_get,
    pid_of,
    pod,
    pod_where,
    pods,
    prometheus_query,
    ready_pods,
    try_get,
    wait_for,
)
from shadowgate.devstack.stack import Stack

pytestmark = pytest.mark.integration


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
    query = f'node_agent_test_up{{namespace="{namespace}",variant="canary"}}'

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

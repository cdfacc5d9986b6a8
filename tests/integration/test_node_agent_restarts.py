"""The node agent against the real local stack, across restarts: of the agent itself (adoption
of live processes) and of the API server; and the real model server run as a Pod."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import signal
import time
from typing import Any

import pytest
from kubernetes import client
from node_agent_support import (
    alive,
    body,
    container,
    create,
    deployment,
    http_get,
    pid_of,
    pod,
    pods,
    prometheus_query,
    ready_pods,
    wait_for,
)
from shadowgate.devstack import components, processes, state
from shadowgate.devstack.stack import Stack

pytestmark = pytest.mark.integration


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
    stack.restart("kube-apiserver")

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
        # variant and target from the Pod's labels; the process's own variant as exported_variant.
        f'model_server_request_duration_seconds_count{{namespace="{namespace}",variant="canary",'
        'exported_variant="canary",target="retriever"}'
    )

    def scraped() -> list[Any] | None:
        return prometheus_query(stack, query) or None

    series = wait_for("Prometheus to scrape the model server", scraped, timeout=30)
    assert series[0]["metric"]["pod"] == p["metadata"]["name"]

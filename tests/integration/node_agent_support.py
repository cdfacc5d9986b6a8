"""Helpers shared by the node agent's integration test modules: Pod manifests, waits and probes."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from kubernetes import client
from shadowgate.devstack import processes
from shadowgate.devstack.stack import Stack

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

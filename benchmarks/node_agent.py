"""Times the node agent on a fresh local stack: Deployment -> running, Ready, Available, deleted.

Each round creates a Deployment of N replicas whose command is a small Python HTTP server
with an httpGet readiness probe (periodSeconds 1), and records when every Pod is bound,
has a running process, is Ready, when the Deployment is Available, and, after deleting
it, when every Pod is gone. It also samples the agent's CPU time while the N Pods sit
Ready (probes every second). Binaries must already be built.
Usage: .venv/bin/python benchmarks/node_agent.py [--replicas 10] [--rounds 3] [--idle-seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, config
from shadowgate.devstack import state
from shadowgate.devstack.stack import Stack

SERVER = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
"""


def deployment(name: str, replicas: int) -> dict[str, Any]:
    c = {
        "name": "srv",
        "image": "ignored",
        "command": [sys.executable, "-c", SERVER],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [c]}},
        },
    }


def until(check: Callable[[], bool], timeout: float = 180.0) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("benchmark step timed out")
        time.sleep(0.05)
    return time.perf_counter()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(
    api: client.ApiClient, ns: str, replicas: int, idle_s: float, agent_pid: int
) -> dict[str, float]:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)

    def pods() -> list[dict[str, Any]]:
        resp: Any = core.list_namespaced_pod(ns, label_selector="app=bench", _preload_content=False)
        items: list[dict[str, Any]] = json.loads(resp.data)["items"]
        return items

    def all_pods(pred: Callable[[dict[str, Any]], bool]) -> bool:
        ps = pods()
        return len(ps) == replicas and all(pred(p) for p in ps)

    def ready(p: dict[str, Any]) -> bool:
        return any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []
        )

    t0 = time.perf_counter()
    apps.create_namespaced_deployment(ns, deployment("bench", replicas), _preload_content=False)  # type: ignore[arg-type]
    bound = until(lambda: all_pods(lambda p: bool(p["spec"].get("nodeName"))))
    running = until(
        lambda: all_pods(
            lambda p: "running" in (p["status"].get("containerStatuses") or [{}])[0].get("state", {})
        )
    )
    all_ready = until(lambda: all_pods(ready))

    def is_available() -> bool:
        resp: Any = apps.read_namespaced_deployment("bench", ns, _preload_content=False)
        return bool(json.loads(resp.data).get("status", {}).get("availableReplicas") == replicas)

    available = until(is_available)
    cpu0, w0 = cpu_seconds(agent_pid), time.perf_counter()
    time.sleep(idle_s)
    cpu_pct = 100 * (cpu_seconds(agent_pid) - cpu0) / (time.perf_counter() - w0)
    t1 = time.perf_counter()
    apps.delete_namespaced_deployment("bench", ns, propagation_policy="Background", _preload_content=False)
    gone = until(lambda: not pods())
    return {
        "all bound": bound - t0,
        "all running": running - t0,
        "all Ready": all_ready - t0,
        "Deployment Available": available - t0,
        "all deleted": gone - t1,
        "agent CPU % (Pods idle-Ready)": cpu_pct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="sg-bench-agent-") as tmp:
        stack = Stack(tmp, node_agent=True)
        try:
            stack.up()
            api = config.new_client_from_config(config_file=stack.kubeconfig)
            agent_pid = state.load(stack.layout).components["node-agent"].pid
            core = client.CoreV1Api(api)
            for i in range(args.rounds):
                ns = f"bench-{i}"
                core.create_namespace({"metadata": {"name": ns}}, _preload_content=False)  # type: ignore[arg-type]
                until(lambda ns=ns: bool(core.list_namespaced_service_account(ns).items))  # type: ignore[misc]
                for key, value in one_round(api, ns, args.replicas, args.idle_seconds, agent_pid).items():
                    results.setdefault(key, []).append(value)
        finally:
            stack.down()
    print(f"node agent, {args.replicas} replicas, {args.rounds} rounds (median, min, max):")
    for key, values in results.items():
        unit = "" if "%" in key else " s"
        print(f"  {key:32s} {statistics.median(values):7.2f}{unit}  ({min(values):.2f} .. {max(values):.2f})")


if __name__ == "__main__":
    main()

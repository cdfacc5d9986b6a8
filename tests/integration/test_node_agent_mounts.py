"""The node agent's emptyDir folders on the real local stack: a Pod's process finds its emptyDir
through the env that names the mount path, the folder outlives a container restart (as an
emptyDir does), and it goes with the Pod."""

from __future__ import annotations

import os
import pathlib
import signal
import sys
from typing import Any

import pytest
from kubernetes import client
from node_agent_support import bare_pod, create, http_get, pid_of, pod, pod_where, wait_for
from shadowgate.devstack.stack import Stack

pytestmark = pytest.mark.integration

# Counts its own starts in $HOME (the emptyDir), then serves the count and the folder's path.
COUNTER = """
import http.server, os, pathlib
home = pathlib.Path(os.environ["HOME"])
count = home / "starts"
count.write_text(str(int(count.read_text()) + 1 if count.exists() else 1))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(f"{count.read_text()} {home} {os.environ['CACHE']}".encode())
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
"""


def _ready(p: dict[str, Any]) -> bool:
    statuses = p.get("status", {}).get("containerStatuses") or []
    return bool(statuses) and bool(statuses[0].get("ready"))


def test_empty_dir_is_a_pod_folder_kept_across_restarts(
    core: client.CoreV1Api, namespace: str, stack: Stack
) -> None:
    spec = {
        "containers": [
            {
                "name": "counter",
                "image": "ignored.example/counter:1",
                "command": [sys.executable, "-c", COUNTER],
                "env": [
                    {"name": "HOME", "value": "/home/app"},
                    {"name": "CACHE", "value": "/home/app/.cache"},
                ],
                "volumeMounts": [{"name": "home", "mountPath": "/home/app"}],
                "readinessProbe": {"httpGet": {"port": 8080, "path": "/"}, "periodSeconds": 1},
            }
        ],
        "volumes": [{"name": "home", "emptyDir": {}}],
    }
    create(core.create_namespaced_pod, namespace, bare_pod("counter", spec))
    first = wait_for("a Ready counter Pod", lambda: pod_where(core, namespace, "counter", _ready))
    ip = first["status"]["podIP"]
    starts, home, cache = http_get(f"http://{ip}:8080/").split()
    folder = pathlib.Path(home)
    # The Pod's own folder under the agent's state, never the host's /home/app.
    assert starts == "1"
    assert folder.is_relative_to(stack.layout.node_agent_dir) and folder.name == "home", folder
    assert cache == str(folder / ".cache")

    os.kill(pid_of(first), signal.SIGKILL)
    wait_for(
        "the counter restarted and Ready",
        lambda: pod_where(
            core,
            namespace,
            "counter",
            lambda p: _ready(p) and p["status"]["containerStatuses"][0]["restartCount"] >= 1,
        ),
    )
    again, home_again, _ = http_get(f"http://{ip}:8080/").split()
    assert (again, home_again) == ("2", home), "the emptyDir must survive a container restart"

    core.delete_namespaced_pod("counter", namespace, grace_period_seconds=1)
    wait_for("the Pod gone", lambda: pod(core, namespace, "counter") is None, timeout=60)
    wait_for("its emptyDir folder removed", lambda: not folder.exists(), timeout=20)

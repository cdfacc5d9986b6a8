"""The node agent's Node: registration, status refresh and the heartbeat Lease.

Without a kubelet nothing else keeps a Node alive. ``NodeHeartbeat`` creates the Node
``shadowgate-local`` if it is missing (also after an API server lost it), refreshes its
conditions every ``node_status_s`` and renews its Lease every ``heartbeat_s``, so anything
that watches node health (kubectl, a node-lifecycle controller if one is enabled) sees
it Ready.
"""

from __future__ import annotations

import logging
import os
import pathlib
import platform
import threading
import time
from dataclasses import dataclass
from typing import Any

from shadowgate.devstack import node_agent_status as nodestatus
from shadowgate.devstack.node_agent_kube import Gone, KubeApi

log = logging.getLogger("shadowgate.node_agent")

NODE_NAME = "shadowgate-local"


@dataclass(frozen=True)
class AgentSettings:
    """The Node's name and address, and how often the agent checks in with the API server."""

    node_name: str = NODE_NAME
    host_ip: str = "127.0.0.1"
    heartbeat_s: float = 10.0
    lease_duration_s: int = 40
    node_status_s: float = 60.0
    watch_timeout_s: int = 120
    max_pods: int = 110


def memory_bytes() -> int:
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


class NodeHeartbeat:
    def __init__(self, api: KubeApi, settings: AgentSettings) -> None:
        self._api, self._cfg = api, settings

    def run(self, stop: threading.Event) -> None:
        node_uid, version, last_status = "", "", 0.0
        while not stop.is_set():
            try:
                version = version or self._api.server_version()
                if not node_uid or time.monotonic() - last_status >= self._cfg.node_status_s:
                    node_uid = self._register(version)
                    last_status = time.monotonic()
                now = time.time()
                lease = nodestatus.lease_manifest(
                    self._cfg.node_name, node_uid, self._cfg.lease_duration_s, nodestatus.micro_time(now)
                )
                self._api.put_lease(lease)
            except Exception as exc:
                log.warning("node heartbeat failed (retrying): %s", exc)
                node_uid = ""  # re-check the Node: the API server may have lost it
                stop.wait(1.0)
                continue
            stop.wait(self._cfg.heartbeat_s)

    def _register(self, version: str) -> str:
        """Create the Node if needed and refresh its status; returns its uid."""
        name = self._cfg.node_name
        try:
            node: dict[str, Any] | None = self._api.get_node(name)
        except Gone:
            node = None
        previous = ((node or {}).get("status") or {}).get("conditions") or []
        cap = nodestatus.capacity(os.cpu_count() or 1, memory_bytes(), self._cfg.max_pods)
        arch = nodestatus.go_arch(platform.machine())
        status = nodestatus.node_status(
            self._cfg.host_ip, name, cap, version, arch, nodestatus.rfc3339(time.time()), previous
        )
        if node is None:
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch,
                "node.shadowgate.dev/local-processes": "true",
            }
            # Created with its status, so nobody ever sees a Node without a Ready condition.
            node = self._api.create_node({**nodestatus.node_manifest(name, labels), "status": status})
            log.info("registered node %s", name)
        self._api.patch_node_status(name, status)
        return str(node["metadata"]["uid"])

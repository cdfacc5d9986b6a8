"""The chart's operator and router Pods as the demo (and the e2e test) sees them: read from the
API server only, never from a handle the demo kept.

Each Pod's first container is found by the ``containerID`` in its status
(``containerd://<id>``), and its host process by the pid containerd's shim recorded for that
container on the local node (so a ``kill -9`` kills the real container's process); kopf peering
records each operator replica under its ``POD_ID`` (the chart sets it to the Pod's name), so the
active replica is the live peer with the highest priority.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from shadowgate.devstack import node_host


class PodLookupError(RuntimeError):
    """The Pods are not in the state asked for; the message says what was seen."""


@dataclass(frozen=True)
class PodView:
    name: str
    ip: str
    pid: int | None
    ready: bool
    restarts: int
    uid: str
    image: str
    container_id: str
    # The container port named "metrics" (the router serves traffic on it too).
    metrics_port: int | None


def pod_pid(container_id: str | None) -> int | None:
    """The host pid of the container with this status id on the local node, or None."""
    return node_host.container_pid(container_id) if container_id else None


def view(pod: Any) -> PodView:
    statuses = pod.status.container_statuses or []
    first = statuses[0] if statuses else None
    conditions = pod.status.conditions or []
    ports = [p for c in pod.spec.containers for p in c.ports or [] if p.name == "metrics"]
    return PodView(
        name=pod.metadata.name,
        ip=pod.status.pod_ip or "",
        pid=pod_pid(first.container_id) if first is not None else None,
        ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
        restarts=int(first.restart_count or 0) if first is not None else 0,
        uid=pod.metadata.uid,
        image=(first.image if first is not None else "") or pod.spec.containers[0].image,
        container_id=(first.container_id or "") if first is not None else "",
        metrics_port=int(ports[0].container_port) if ports else None,
    )


def pods(api: client.ApiClient, namespace: str, selector: str) -> list[PodView]:
    """The selector's Pods that are not being deleted, by name."""
    found: Any = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector)
    live = [p for p in found.items if p.metadata.deletion_timestamp is None]
    return sorted((view(p) for p in live), key=lambda v: v.name)


def wait_ready(
    api: client.ApiClient, namespace: str, selector: str, count: int, timeout_s: float
) -> list[PodView]:
    """Wait until ``count`` Pods of ``selector`` are Ready with a running process."""
    deadline = time.monotonic() + timeout_s
    seen: list[PodView] = []
    while time.monotonic() < deadline:
        seen = pods(api, namespace, selector)
        ready = [p for p in seen if p.ready and p.pid is not None]
        if len(ready) >= count:
            return ready
        time.sleep(0.5)
    raise PodLookupError(
        f"want {count} Ready Pods for {selector} in {namespace} after {timeout_s:.0f} s, saw {seen}"
    )


def _lastseen(value: str) -> float:
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    # kopf reads a stamp without a zone as UTC (iso8601's default); so does this.
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def live_peers(peering: Mapping[str, Any], now: float) -> dict[str, int]:
    """Peer id -> priority for peers whose lease has not expired (kopf's own rule)."""
    out: dict[str, int] = {}
    for peer_id, info in (peering.get("status") or {}).items():
        if not isinstance(info, Mapping):
            continue
        try:
            expires = _lastseen(str(info["lastseen"])) + float(info.get("lifetime") or 60)
        except (KeyError, ValueError):
            continue
        if expires >= now:
            out[str(peer_id)] = int(info.get("priority") or 0)
    return out


def highest_peer(peering: Mapping[str, Any], now: float) -> tuple[str, int] | None:
    """The live peer kopf lets act (highest priority) as (id, priority), or None."""
    peers = live_peers(peering, now)
    if not peers:
        return None
    best = max(peers, key=lambda peer: peers[peer])
    return best, peers[best]


def acting_peer(api: client.ApiClient, namespace: str, peering_name: str) -> tuple[str, int] | None:
    """``highest_peer`` of the peering object as it is now. A restarted replica shows as the same id
    with a new priority, so (id, priority) tells a takeover from a stale entry."""
    peering: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings", peering_name
    )
    return highest_peer(peering, time.time())


def active_operator(api: client.ApiClient, namespace: str, selector: str, peering_name: str) -> PodView:
    """The operator Pod that acts: the live peer with the highest priority, among running Pods."""
    peering: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings", peering_name
    )
    running = {p.name: p for p in pods(api, namespace, selector) if p.pid is not None}
    peers = {name: prio for name, prio in live_peers(peering, time.time()).items() if name in running}
    if not peers:
        raise PodLookupError(
            f"no live peer in KopfPeering {namespace}/{peering_name} is a running operator Pod "
            f"(peers {sorted(peering.get('status') or {})}, Pods {sorted(running)})"
        )
    return running[max(peers, key=lambda name: peers[name])]

"""API objects the node agent writes, built purely from what it observed.

``pod_status`` turns a ``Snapshot`` of one Pod's container into the Pod status a kubelet
would report (phase, IPs, conditions, containerStatuses); ``node_manifest`` and
``lease_manifest`` are the Node and its heartbeat Lease. Time comes in as arguments, so
the same observation always gives the same object (and unchanged status is not re-sent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NODE_LEASE_NAMESPACE = "kube-node-lease"


def rfc3339(epoch_s: float) -> str:
    """Seconds precision, as ``metav1.Time`` serialises."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(epoch_s: float) -> str:
    """Microsecond precision, as ``metav1.MicroTime`` (a Lease's renewTime) requires."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str  # "Completed" for exit 0, else "Error"
    started_at: str
    finished_at: str
    message: str = ""

    def as_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
        if self.message:
            state["message"] = self.message
        return state


@dataclass(frozen=True)
class Snapshot:
    """What the agent knows about a Pod's one container at an instant."""

    phase: str  # Pending, Running, Succeeded, Failed
    container: str
    image: str
    host_ip: str
    pod_ip: str | None = None
    start_time: str | None = None  # when the agent accepted the Pod
    running_since: str | None = None  # set while the process runs
    pid: int | None = None
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated: Terminated | None = None  # the current state, once the Pod is finished
    last_terminated: Terminated | None = None
    ready: bool = False
    restart_count: int = 0


def container_state(snap: Snapshot) -> dict[str, Any]:
    if snap.running_since is not None:
        return {"running": {"startedAt": snap.running_since}}
    if snap.terminated is not None:
        return {"terminated": snap.terminated.as_state()}
    waiting: dict[str, Any] = {"reason": snap.waiting_reason or "ContainerCreating"}
    if snap.waiting_message:
        waiting["message"] = snap.waiting_message
    return {"waiting": waiting}


def container_status(snap: Snapshot) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": snap.container,
        "image": snap.image,
        "imageID": "",
        "ready": snap.ready,
        "started": snap.running_since is not None,
        "restartCount": snap.restart_count,
        "state": container_state(snap),
        "lastState": {"terminated": snap.last_terminated.as_state()} if snap.last_terminated else {},
    }
    if snap.pid is not None:
        # Not a real runtime id: it tells a reader which local process serves the Pod.
        status["containerID"] = f"shadowgate://{snap.pid}"
    return status


def _condition(
    kind: str,
    true: bool,
    previous: Mapping[str, Mapping[str, Any]],
    now: str,
    reason: str = "",
    message: str = "",
) -> dict[str, Any]:
    status = "True" if true else "False"
    before = previous.get(kind)
    # A condition's transition time moves only when its status does.
    since = before.get("lastTransitionTime") if before and before.get("status") == status else None
    cond: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since or now,
    }
    if not true and reason:
        cond["reason"] = reason
        cond["message"] = message
    return cond


def pod_conditions(snap: Snapshot, previous: Sequence[Mapping[str, Any]], now: str) -> list[dict[str, Any]]:
    before = {str(c.get("type")): c for c in previous}
    finished = snap.phase in ("Succeeded", "Failed")
    reason = "PodCompleted" if finished else "ContainersNotReady"
    message = "" if finished else f"containers with unready status: [{snap.container}]"
    return [
        _condition("PodReadyToStartContainers", snap.pod_ip is not None, before, now),
        _condition("Initialized", True, before, now),
        _condition("Ready", snap.ready, before, now, reason, message),
        _condition("ContainersReady", snap.ready, before, now, reason, message),
        _condition("PodScheduled", True, before, now),
    ]


def pod_status(snap: Snapshot, previous_conditions: Sequence[Mapping[str, Any]], now: str) -> dict[str, Any]:
    """The Pod's whole status, for a JSON merge patch (lists replace, so stale entries go)."""
    status: dict[str, Any] = {
        "phase": snap.phase,
        "hostIP": snap.host_ip,
        "hostIPs": [{"ip": snap.host_ip}],
        "conditions": pod_conditions(snap, previous_conditions, now),
        "containerStatuses": [container_status(snap)],
    }
    if snap.pod_ip is not None:
        status["podIP"] = snap.pod_ip
        status["podIPs"] = [{"ip": snap.pod_ip}]
    if snap.start_time is not None:
        status["startTime"] = snap.start_time
    return status


def capacity(cpus: int, memory_bytes: int, max_pods: int) -> dict[str, str]:
    return {"cpu": str(cpus), "memory": f"{memory_bytes // 1024}Ki", "pods": str(max_pods)}


def node_conditions(now: str, previous: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Healthy conditions with a fresh heartbeat; transition times kept when unchanged."""
    before = {str(c.get("type")): c for c in previous}
    wanted = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady"),
    ]
    out = []
    for kind, status, reason in wanted:
        old = before.get(kind)
        since = old.get("lastTransitionTime") if old and old.get("status") == status else None
        out.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": "shadowgate node agent runs Pods as local processes",
                "lastHeartbeatTime": now,
                "lastTransitionTime": since or now,
            }
        )
    return out


def go_arch(machine: str) -> str:
    """``platform.machine()`` in Go's spelling, as ``kubernetes.io/arch`` uses."""
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def node_status(
    host_ip: str,
    node_name: str,
    cap: Mapping[str, str],
    version: str,
    arch: str,
    now: str,
    previous: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    return {
        "capacity": dict(cap),
        "allocatable": dict(cap),
        "conditions": node_conditions(now, previous),
        "addresses": [{"type": "InternalIP", "address": host_ip}, {"type": "Hostname", "address": node_name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": "",
            "osImage": "shadowgate local processes",
            "containerRuntimeVersion": "shadowgate://0.1.0",
            "kubeletVersion": version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": arch,
        },
    }


def node_manifest(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {},
    }


def lease_manifest(node_name: str, node_uid: str, duration_s: int, renew: str) -> dict[str, Any]:
    """The node heartbeat Lease, owned by its Node so it goes when the Node goes."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node_name,
            "namespace": NODE_LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid}],
        },
        "spec": {"holderIdentity": node_name, "leaseDurationSeconds": duration_s, "renewTime": renew},
    }

"""Pod status, Node and Lease objects built from what the node agent observed."""

from __future__ import annotations

from typing import Any

import pytest
from shadowgate.devstack import node_agent_status as st

NOW = "2026-11-26T02:00:00Z"
EARLIER = "2026-11-26T01:00:00Z"
TERM = st.Terminated(exit_code=3, reason="Error", started_at=EARLIER, finished_at=NOW)


def snap(**kw: Any) -> st.Snapshot:
    base: dict[str, Any] = {"phase": "Running", "container": "srv", "image": "img", "host_ip": "127.0.0.1"}
    return st.Snapshot(**{**base, **kw})


def conds(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


@pytest.mark.parametrize(
    ("snapshot", "state", "ready_conditions", "phase"),
    [
        pytest.param(
            snap(phase="Pending", pod_ip="127.1.0.1"),
            {"waiting": {"reason": "ContainerCreating"}},
            "False",
            "Pending",
            id="pending",
        ),
        pytest.param(
            snap(pod_ip="127.1.0.1", running_since=EARLIER, pid=42),
            {"running": {"startedAt": EARLIER}},
            "False",
            "Running",
            id="running-unready",
        ),
        pytest.param(
            snap(pod_ip="127.1.0.1", running_since=EARLIER, pid=42, ready=True),
            {"running": {"startedAt": EARLIER}},
            "True",
            "Running",
            id="running-ready",
        ),
        pytest.param(
            snap(
                pod_ip="127.1.0.1",
                waiting_reason="CrashLoopBackOff",
                waiting_message="m",
                last_terminated=TERM,
            ),
            {"waiting": {"reason": "CrashLoopBackOff", "message": "m"}},
            "False",
            "Running",
            id="crash-loop",
        ),
        pytest.param(
            snap(phase="Failed", pod_ip="127.1.0.1", terminated=TERM),
            {"terminated": TERM.as_state()},
            "False",
            "Failed",
            id="failed",
        ),
    ],
)
def test_pod_status_states(
    snapshot: st.Snapshot, state: dict[str, Any], ready_conditions: str, phase: str
) -> None:
    status = st.pod_status(snapshot, [], NOW)
    (cs,) = status["containerStatuses"]
    assert cs["state"] == state
    assert status["phase"] == phase
    assert conds(status)["Ready"] == conds(status)["ContainersReady"] == ready_conditions
    assert conds(status)["PodScheduled"] == conds(status)["Initialized"] == "True"
    assert cs["started"] is (snapshot.running_since is not None)
    assert status["podIP"] == "127.1.0.1" and status["podIPs"] == [{"ip": "127.1.0.1"}]
    assert status["hostIP"] == "127.0.0.1"


def test_pod_status_container_fields() -> None:
    status = st.pod_status(
        snap(
            pod_ip="127.1.0.2",
            running_since=NOW,
            pid=7,
            ready=True,
            restart_count=2,
            last_terminated=TERM,
            start_time=EARLIER,
        ),
        [],
        NOW,
    )
    (cs,) = status["containerStatuses"]
    assert cs["restartCount"] == 2 and cs["ready"] is True and cs["containerID"] == "shadowgate://7"
    assert cs["lastState"] == {
        "terminated": {"exitCode": 3, "reason": "Error", "startedAt": EARLIER, "finishedAt": NOW}
    }
    assert status["startTime"] == EARLIER


def test_pod_status_without_ip_leaves_ip_fields_out() -> None:
    status = st.pod_status(snap(phase="Pending"), [], NOW)
    assert "podIP" not in status and "podIPs" not in status
    assert conds(status)["PodReadyToStartContainers"] == "False"


@pytest.mark.parametrize(
    ("previous_status", "ready", "expected_time"),
    [
        pytest.param("True", True, EARLIER, id="unchanged-keeps-time"),
        pytest.param("False", True, NOW, id="flipped-moves-time"),
        pytest.param(None, False, NOW, id="new-condition"),
    ],
)
def test_condition_transition_time(previous_status: str | None, ready: bool, expected_time: str) -> None:
    previous = (
        []
        if previous_status is None
        else [{"type": "Ready", "status": previous_status, "lastTransitionTime": EARLIER}]
    )
    status = st.pod_status(snap(pod_ip="127.1.0.1", running_since=NOW, ready=ready), previous, NOW)
    (cond,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert cond["lastTransitionTime"] == expected_time


def test_unready_reason_names_container() -> None:
    status = st.pod_status(snap(pod_ip="127.1.0.1"), [], NOW)
    (cond,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert cond["reason"] == "ContainersNotReady" and "[srv]" in cond["message"]


@pytest.mark.parametrize(
    ("epoch", "text", "micro"),
    [
        pytest.param(0.0, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z", id="epoch"),
        pytest.param(1795658400.25, "2026-11-26T02:00:00Z", "2026-11-26T02:00:00.250000Z", id="fraction"),
    ],
)
def test_times(epoch: float, text: str, micro: str) -> None:
    assert st.rfc3339(epoch) == text and st.micro_time(epoch) == micro


def test_node_status_is_ready_with_capacity_and_keeps_transition_times() -> None:
    cap = st.capacity(2, 24 * 1024**3, 110)
    assert cap == {"cpu": "2", "memory": "25165824Ki", "pods": "110"}
    previous = [{"type": "Ready", "status": "True", "lastTransitionTime": EARLIER}]
    status = st.node_status("127.0.0.1", "n1", cap, "v1.36.3", "amd64", NOW, previous)
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Ready"]["status"] == "True" and by_type["Ready"]["lastTransitionTime"] == EARLIER
    assert by_type["Ready"]["lastHeartbeatTime"] == NOW
    assert {by_type[k]["status"] for k in ("MemoryPressure", "DiskPressure", "PIDPressure")} == {"False"}
    assert status["capacity"] == status["allocatable"] == cap
    assert status["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]


@pytest.mark.parametrize(
    ("machine", "arch"),
    [
        pytest.param("x86_64", "amd64", id="x86"),
        pytest.param("aarch64", "arm64", id="arm"),
        pytest.param("riscv64", "riscv64", id="other"),
    ],
)
def test_go_arch(machine: str, arch: str) -> None:
    assert st.go_arch(machine) == arch


def test_lease_is_owned_by_node() -> None:
    lease = st.lease_manifest("n1", "uid-1", 40, "2026-11-26T02:00:00.000000Z")
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0] == {
        "apiVersion": "v1",
        "kind": "Node",
        "name": "n1",
        "uid": "uid-1",
    }
    assert lease["spec"] == {
        "holderIdentity": "n1",
        "leaseDurationSeconds": 40,
        "renewTime": "2026-11-26T02:00:00.000000Z",
    }

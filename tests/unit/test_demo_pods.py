"""How the demo reads the chart's Pods: a container's host process from containerd's state, and
which operator replica acts according to kopf's peering object."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest
from shadowgate.demo import pods
from shadowgate.devstack import node_host

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _stamp(offset_s: float, zone: str = "+00:00") -> str:
    from datetime import UTC, datetime

    text = datetime.fromtimestamp(NOW + offset_s, UTC).isoformat()
    return text.replace("+00:00", zone)


@pytest.mark.parametrize(
    ("container_id", "pid_text", "want"),
    [
        pytest.param("containerd://abc123", "SELF", "SELF", id="running"),
        pytest.param("containerd://abc123", "999999999", None, id="process-gone"),
        pytest.param("containerd://abc123", None, None, id="not-on-this-node"),
        pytest.param("containerd://abc123", "x", None, id="garbage-pid-file"),
        pytest.param("docker://abc123", "SELF", None, id="other-runtime"),
        pytest.param("containerd://../../etc", "SELF", None, id="not-an-id"),
    ],
)
def test_container_pid(
    tmp_path: pathlib.Path, container_id: str, pid_text: str | None, want: str | None
) -> None:
    me = str(os.getpid())
    if pid_text is not None:
        task = tmp_path / "k1" / "containerd" / "io.containerd.runtime.v2.task" / "k8s.io" / "abc123"
        task.mkdir(parents=True)
        (task / "init.pid").write_text(me if pid_text == "SELF" else pid_text)
    expected = int(me) if want == "SELF" else None
    assert node_host.container_pid(container_id, tmp_path) == expected


def test_pod_pid_of_a_container_not_started() -> None:
    assert pods.pod_pid(None) is None and pods.pod_pid("") is None


@pytest.mark.parametrize(
    ("status", "want"),
    [
        pytest.param(
            {"op-a": {"priority": 7, "lifetime": 60, "lastseen": _stamp(-10)}},
            {"op-a": 7},
            id="live",
        ),
        pytest.param(
            {"op-a": {"priority": 7, "lifetime": 60, "lastseen": _stamp(-61)}},
            {},
            id="lease-expired",
        ),
        pytest.param(
            {"op-a": {"priority": 7, "lifetime": 60, "lastseen": _stamp(-10, "")}},
            {"op-a": 7},
            id="no-zone-is-utc",
        ),
        pytest.param(
            {
                "op-a": {"priority": 1, "lastseen": _stamp(-5)},
                "op-b": {"priority": 9, "lastseen": _stamp(-5)},
            },
            {"op-a": 1, "op-b": 9},
            id="default-lifetime",
        ),
        pytest.param({"junk": "x", "op-c": {"priority": 3}}, {}, id="malformed-entries-skipped"),
        pytest.param(None, {}, id="no-status"),
    ],
)
def test_live_peers(status: dict[str, Any] | None, want: dict[str, int]) -> None:
    assert pods.live_peers({"status": status}, NOW) == want


@pytest.mark.parametrize(
    ("status", "want"),
    [
        pytest.param(
            {
                "op-a": {"priority": 5, "lastseen": _stamp(-1)},
                "op-b": {"priority": 9, "lastseen": _stamp(-1)},
            },
            ("op-b", 9),
            id="highest-priority",
        ),
        pytest.param(
            {
                "op-a": {"priority": 5, "lastseen": _stamp(-1)},
                "op-b": {"priority": 9, "lifetime": 60, "lastseen": _stamp(-90)},
            },
            ("op-a", 5),
            id="expired-peer-does-not-act",
        ),
        pytest.param({}, None, id="no-peers"),
    ],
)
def test_highest_peer(status: dict[str, Any], want: tuple[str, int] | None) -> None:
    assert pods.highest_peer({"status": status}, NOW) == want

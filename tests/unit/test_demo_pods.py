"""How the demo reads the chart's Pods: the node agent's process id in a container status, and
which operator replica acts according to kopf's peering object."""

from __future__ import annotations

from typing import Any

import pytest
from shadowgate.demo import pods

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _stamp(offset_s: float, zone: str = "+00:00") -> str:
    from datetime import UTC, datetime

    text = datetime.fromtimestamp(NOW + offset_s, UTC).isoformat()
    return text.replace("+00:00", zone)


@pytest.mark.parametrize(
    ("container_id", "want"),
    [
        pytest.param("shadowgate://4242", 4242, id="node-agent"),
        pytest.param("containerd://4242", None, id="other-runtime"),
        pytest.param("shadowgate://", None, id="no-pid"),
        pytest.param("shadowgate://12x", None, id="not-a-number"),
        pytest.param(None, None, id="not-started"),
    ],
)
def test_pod_pid(container_id: str | None, want: int | None) -> None:
    assert pods.pod_pid(container_id) == want


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

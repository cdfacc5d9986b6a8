"""Pod address allocation and the node agent's state file."""

from __future__ import annotations

import json
import pathlib

import pytest
from shadowgate.devstack import node_agent_state as ns


@pytest.mark.parametrize(
    ("in_use", "cursor", "expected"),
    [
        pytest.param((), None, ["127.1.0.1", "127.1.0.2", "127.1.0.3"], id="from-first"),
        pytest.param(("127.1.0.2",), None, ["127.1.0.1", "127.1.0.3", "127.1.0.4"], id="skips-used"),
        pytest.param((), "127.1.0.254", ["127.1.0.254", "127.1.1.1", "127.1.1.2"], id="skips-255-and-0"),
        pytest.param((), "127.1.255.254", ["127.1.255.254", "127.1.0.1", "127.1.0.2"], id="wraps"),
        pytest.param((), "127.0.0.1", ["127.1.0.1", "127.1.0.2", "127.1.0.3"], id="bad-cursor-restarts"),
    ],
)
def test_allocate_sequence(in_use: tuple[str, ...], cursor: str | None, expected: list[str]) -> None:
    alloc = ns.IpAllocator(in_use, cursor)
    assert [alloc.allocate() for _ in expected] == expected


def test_released_address_is_not_reused_until_wrap() -> None:
    alloc = ns.IpAllocator()
    first = alloc.allocate()
    alloc.release(first)
    assert alloc.allocate() == "127.1.0.2"


def test_many_addresses_are_unique_and_never_host_loopback() -> None:
    alloc = ns.IpAllocator()
    ips = [alloc.allocate() for _ in range(600)]
    assert len(set(ips)) == 600
    assert "127.0.0.1" not in ips
    assert all(ip.startswith("127.1.") and not ip.endswith((".0", ".255")) for ip in ips)


def test_exhausted(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipaddress

    monkeypatch.setattr(ns, "LAST_IP", ipaddress.IPv4Address("127.1.0.2"))
    alloc = ns.IpAllocator()
    alloc.allocate()
    alloc.allocate()
    with pytest.raises(ns.AddressesExhausted, match="in use"):
        alloc.allocate()


def test_state_round_trips_and_keeps_addresses(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "node-agent" / "state.json"
    state = ns.AgentState(path)
    a = state.assign_ip("uid-a", "ns", "a", None)
    b = state.assign_ip("uid-b", "ns", "b", "127.1.3.3")  # keeps the address the Pod already reports
    state.update("uid-a", pid=123, pid_start=456, restart_count=2, started_at="t")
    assert state.assign_ip("uid-a", "ns", "a", None) == state.get("uid-a")  # idempotent

    again = ns.AgentState(path)
    assert again.get("uid-a") == ns.PodRecord("ns", "a", a.ip, 2, 123, 456, "t", None)
    assert again.get("uid-b") is not None and again.get("uid-b").ip == b.ip == "127.1.3.3"  # type: ignore[union-attr]
    # A fresh Pod after the restart gets neither recorded address.
    assert again.assign_ip("uid-c", "ns", "c", None).ip not in {a.ip, b.ip}


def test_wanted_address_held_by_another_pod_is_not_shared(tmp_path: pathlib.Path) -> None:
    state = ns.AgentState(tmp_path / "s.json")
    a = state.assign_ip("uid-a", "ns", "a", None)
    b = state.assign_ip("uid-b", "ns", "b", a.ip)
    assert b.ip != a.ip


def test_forget_releases(tmp_path: pathlib.Path) -> None:
    state = ns.AgentState(tmp_path / "s.json")
    state.assign_ip("uid-a", "ns", "a", None)
    state.forget("uid-a")
    state.forget("uid-a")  # twice is fine
    assert state.get("uid-a") is None
    assert json.loads((tmp_path / "s.json").read_text())["pods"] == {}


def test_unknown_state_version_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"version": 99, "pods": {}}))
    with pytest.raises(ValueError, match="unknown state version 99"):
        ns.AgentState(path)

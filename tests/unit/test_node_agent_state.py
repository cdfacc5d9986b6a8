"""Pod address allocation and the node agent's state file."""

from __future__ import annotations

import json
import pathlib
import re

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


@pytest.mark.parametrize(
    ("subnet", "expected"),
    [
        pytest.param(2, ["127.2.0.1", "127.2.0.2"], id="subnet-2"),
        pytest.param(254, ["127.254.0.1", "127.254.0.2"], id="last-subnet"),
    ],
)
def test_subnet_sets_the_range(subnet: int, expected: list[str]) -> None:
    alloc = ns.IpAllocator(subnet=subnet)
    assert [alloc.allocate() for _ in expected] == expected
    assert not alloc.usable("127.1.0.1") and alloc.usable(expected[0])


@pytest.mark.parametrize("subnet", [pytest.param(0, id="host-loopback"), pytest.param(255, id="too-high")])
def test_bad_subnet_is_refused(subnet: int) -> None:
    with pytest.raises(ValueError, match=re.escape(f"127.{subnet}.0.0/16 is outside")):
        ns.IpAllocator(subnet=subnet)


def test_exhausted() -> None:
    everything = [f"127.3.{a}.{b}" for a in range(256) for b in range(1, 255)]
    alloc = ns.IpAllocator(everything[2:], subnet=3)
    assert {alloc.allocate(), alloc.allocate()} == {"127.3.0.1", "127.3.0.2"}
    with pytest.raises(ns.AddressesExhausted, match=re.escape("127.3.0.0/16 is in use")):
        alloc.allocate()


def test_reported_address_outside_the_subnet_is_replaced(tmp_path: pathlib.Path) -> None:
    # After a restart in another subnet, a Pod's old address is not ours to give.
    state = ns.AgentState(tmp_path / "s.json", subnet=5)
    assert state.assign_ip("uid-a", "ns", "a", "127.1.0.9").ip == "127.5.0.1"


def test_recorded_subnet(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.json"
    assert ns.recorded_subnet(path) is None
    ns.AgentState(path, subnet=7).assign_ip("uid", "ns", "a", None)
    assert ns.recorded_subnet(path) == 7
    path.write_text("{broken")
    assert ns.recorded_subnet(path) is None


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

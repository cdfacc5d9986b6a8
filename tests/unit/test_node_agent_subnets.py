"""Each node agent claims its own 127.S.0.0/16, so concurrent local stacks never share addresses."""

from __future__ import annotations

import pathlib
import socket

import pytest
from shadowgate.devstack import node_agent_subnets as sn


@pytest.mark.parametrize(
    ("preferred", "busy", "held", "expected"),
    [
        pytest.param(None, set(), set(), 1, id="lowest"),
        pytest.param(None, set(), {1, 2}, 3, id="skips-held"),
        pytest.param(None, {1}, set(), 2, id="skips-listening"),
        pytest.param(9, {9}, set(), 9, id="preferred-even-with-listeners"),
        pytest.param(9, set(), {9}, 1, id="preferred-held-elsewhere"),
        pytest.param(0, set(), set(), 1, id="invalid-preference-ignored"),
    ],
)
def test_claim(
    tmp_path: pathlib.Path, preferred: int | None, busy: set[int], held: set[int], expected: int
) -> None:
    others = [sn.claim_subnet(tmp_path, s, busy=set()) for s in sorted(held)]
    try:
        assert [o.subnet for o in others] == sorted(held)
        claim = sn.claim_subnet(tmp_path, preferred, busy=busy)
        assert claim.subnet == expected
        assert (tmp_path / f"127.{expected}.lock").read_text().strip().isdigit()
        claim.release()
    finally:
        for o in others:
            o.release()


def test_released_subnet_can_be_claimed_again(tmp_path: pathlib.Path) -> None:
    first = sn.claim_subnet(tmp_path, None, busy=set())
    first.release()
    assert sn.claim_subnet(tmp_path, None, busy=set()).subnet == first.subnet


def test_exhausted(tmp_path: pathlib.Path) -> None:
    with pytest.raises(sn.SubnetsExhausted, match="held by another node agent"):
        sn.claim_subnet(tmp_path, None, busy=set(range(1, 255)))


def test_listening_sockets_are_seen() -> None:
    with socket.socket() as server:
        server.bind(("127.77.0.1", 0))
        server.listen()
        assert 77 in sn.loopback_subnets_with_sockets()
    assert 77 not in sn.loopback_subnets_with_sockets()


def test_table_parsing(tmp_path: pathlib.Path) -> None:
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st\n"
        "   0: 0100037F:1F90 00000000:0000 0A\n"  # 127.3.0.1:8080 listening
        "   1: 0100047F:1F90 0100007F:9C40 06\n"  # 127.4.0.1 in TIME_WAIT: ignored
        "   2: 0100000A:0016 00000000:0000 0A\n"  # 10.0.0.1: not loopback
    )
    assert sn.loopback_subnets_with_sockets([str(table)]) == {3}

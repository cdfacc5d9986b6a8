"""The local stack's host ports and state folder (nothing started); the components' command
lines are in test_devstack_real_node."""

from __future__ import annotations

import pathlib
import socket

import pytest
from shadowgate.devstack import components
from shadowgate.devstack.layout import default_state_dir


def test_ports_are_distinct_and_kept_when_free() -> None:
    first = components.allocate_ports()
    assert set(first) == {"kube-apiserver", "prometheus"}
    assert len(set(first.values())) == len(components.PORT_NAMES)
    assert components.allocate_ports(first) == first


def test_busy_port_is_replaced() -> None:
    first = components.allocate_ports()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", first["kube-apiserver"]))
        busy.listen()
        second = components.allocate_ports(first)
    assert second["kube-apiserver"] != first["kube-apiserver"]
    assert second["prometheus"] == first["prometheus"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"SHADOWGATE_STATE_DIR": "/x/y", "HOME": "/h"}, "/x/y", id="explicit"),
        pytest.param({"HOME": "/h"}, "/h/.cache/shadowgate/stack", id="home-cache"),
        pytest.param({"HOME": "/h", "XDG_CACHE_HOME": "/c"}, "/c/shadowgate/stack", id="xdg"),
    ],
)
def test_default_state_dir(environ: dict[str, str], expected: str) -> None:
    assert default_state_dir(environ) == pathlib.Path(expected)

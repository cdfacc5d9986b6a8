"""Forward specs of the host/node relay: parsed exactly, or refused with the spec quoted."""

from __future__ import annotations

import pytest
from shadowgate.devstack.relay import Endpoint, ForwardError, main, parse_forward


def test_parses_both_directions() -> None:
    fwd = parse_forward("host:127.0.0.1:40001=node:127.0.0.1:6443")
    assert fwd.listen == Endpoint("host", "127.0.0.1", 40001)
    assert fwd.connect == Endpoint("node", "127.0.0.1", 6443)
    assert str(fwd) == "host:127.0.0.1:40001=node:127.0.0.1:6443"
    back = parse_forward("node:127.0.0.1:9100=host:127.0.0.1:9100")
    assert back.listen.side == "node" and back.connect.side == "host"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("host:127.0.0.1:1", "expected LISTEN=CONNECT"),
        ("host:127.0.0.1:1=host:127.0.0.1:2", "both sides are host"),
        ("pod:127.0.0.1:1=node:127.0.0.1:2", "host|node"),
        ("host:127.0.0.1:x=node:127.0.0.1:2", "host|node"),
        ("host:127.0.0.1:70000=node:127.0.0.1:2", "out of range"),
    ],
)
def test_bad_specs_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ForwardError, match=message) as err:
        parse_forward(spec)
    assert spec in str(err.value)


def test_cli_refuses_bad_input_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--netns", "sg-none", "host:127.0.0.1:1"]) == 2
    assert "expected LISTEN=CONNECT" in capsys.readouterr().err
    assert main(["--netns", "sg-does-not-exist-x", "host:127.0.0.1:1=node:127.0.0.1:2"]) == 2
    assert "does not exist" in capsys.readouterr().err

"""``shadowgate operator``: flags to the kopf command line, and bad flags rejected."""

from __future__ import annotations

import sys

import pytest
from shadowgate.cli import main as cli
from shadowgate.cli import operator


@pytest.mark.parametrize(
    ("argv", "tail", "env"),
    [
        pytest.param(
            [], ["--standalone", "--all-namespaces"], {"SHADOWGATE_TICK_SECONDS": "2.0"}, id="defaults"
        ),
        pytest.param(
            ["-n", "a", "-n", "b", "--peering", "prod", "--tick", "0.5", "--metrics-port", "0"],
            ["--peering=prod", "--namespace=a", "--namespace=b"],
            {"SHADOWGATE_TICK_SECONDS": "0.5", "SHADOWGATE_METRICS_PORT": "0"},
            id="namespaced-peered",
        ),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:9090", "--kubeconfig", "/k"],
            ["--standalone", "--all-namespaces"],
            {"SHADOWGATE_PROMETHEUS_URL": "http://127.0.0.1:9090", "KUBECONFIG": "/k"},
            id="prometheus-and-kubeconfig",
        ),
    ],
)
def test_command(argv: list[str], tail: list[str], env: dict[str, str]) -> None:
    args = cli.build_parser().parse_args(["operator", *argv])
    command, environ = operator.command(args, {"PATH": "/bin"})
    assert command[:6] == [sys.executable, "-m", "kopf", "run", "-m", "shadowgate.controller.main"]
    assert command[6:] == tail
    assert {k: environ[k] for k in env} == env and environ["PATH"] == "/bin"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--tick", "0"], "must be > 0", id="zero-tick"),
        pytest.param(["--metrics-port", "70000"], "must be a port", id="bad-port"),
        pytest.param(["--tick", "soon"], "invalid _positive value", id="non-numeric-tick"),
    ],
)
def test_bad_flags_exit_nonzero_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["operator", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_kubeconfig_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["operator", "--kubeconfig", "/nonexistent/kubeconfig"]) == 2
    assert "kubeconfig /nonexistent/kubeconfig does not exist" in capsys.readouterr().err

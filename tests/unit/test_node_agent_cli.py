"""The node agent's command line refuses bad input with a message and exit code 2."""

from __future__ import annotations

import pathlib

import pytest
from shadowgate.devstack import node_agent


@pytest.mark.parametrize(
    ("extra", "kubeconfig_exists", "state", "message"),
    [
        pytest.param([], False, None, "kubeconfig not found", id="missing-kubeconfig"),
        pytest.param(["--heartbeat-seconds", "0"], True, None, "must be > 0", id="zero-heartbeat"),
        pytest.param(["--restart-backoff-seconds", "-1"], True, None, "must be > 0", id="negative-backoff"),
        pytest.param([], True, '{"version": 7}', "unknown state version 7", id="foreign-state-file"),
        pytest.param([], True, "{not json", "unreadable state file", id="corrupt-state-file"),
        pytest.param([], True, None, "cannot read the API server's CA", id="kubeconfig-without-ca"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    kubeconfig_exists: bool,
    state: str | None,
    message: str,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if kubeconfig_exists:
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
            "users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
            "current-context: x\n"
        )
    if state is not None:
        (tmp_path / "node-agent").mkdir()
        (tmp_path / "node-agent" / "state.json").write_text(state)
    code = node_agent.main(["--kubeconfig", str(kubeconfig), "--state-dir", str(tmp_path), *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_required_flags() -> None:
    with pytest.raises(SystemExit) as exc:
        node_agent.build_parser().parse_args([])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/usr/bin:/bin", "/repo/.venv/bin:/usr/bin:/bin", id="prepended"),
        pytest.param("/repo/.venv/bin:/usr/bin", "/repo/.venv/bin:/usr/bin", id="already-there"),
        pytest.param("/usr/bin:/repo/.venv/bin", "/usr/bin:/repo/.venv/bin", id="kept-where-it-is"),
    ],
)
def test_pods_find_the_agents_console_scripts(path: str, expected: str) -> None:
    env = node_agent.pod_base_env({"PATH": path, "HOME": "/h"}, "/repo/.venv/bin/python")
    assert env == {"PATH": expected, "HOME": "/h"}

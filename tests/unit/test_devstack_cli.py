"""`shadowgate dev` error paths that need no running stack."""

from __future__ import annotations

import pathlib

import pytest
from shadowgate.cli.main import main


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param(["status"], 3, "no stack is running", id="status-nothing"),
        pytest.param(["env"], 3, "no stack is running", id="env-nothing"),
        pytest.param(["down"], 0, "no stack was running", id="down-nothing-is-fine"),
    ],
)
def test_no_stack(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    assert main(["dev", "--state-dir", str(tmp_path), *argv]) == code
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["up", "--timeout", "0"], "must be > 0", id="zero-timeout"),
        pytest.param(["up", "--timeout", "soon"], "not a number", id="word-timeout"),
        pytest.param(["sideways"], "invalid choice", id="unknown-action"),
        pytest.param([], "required", id="no-action"),
    ],
)
def test_bad_arguments(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["dev", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_state_dir_that_is_a_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "file"
    bogus.write_text("x")
    assert main(["dev", "--state-dir", str(bogus), "status"]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_corrupt_state_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stack.json").write_text("{oops")
    assert main(["dev", "--state-dir", str(tmp_path), "status"]) == 1
    assert "cannot read" in capsys.readouterr().err

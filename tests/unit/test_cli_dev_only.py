"""The images leave the dev tooling out: ``shadowgate --help`` then offers every other subcommand
instead of failing, while a missing dependency of a product subcommand is still an error."""

from __future__ import annotations

import sys

import pytest
from shadowgate.cli import main as cli


def _commands(parser: object) -> set[str]:
    (sub,) = [a for a in parser._actions if a.dest == "command"]  # type: ignore[attr-defined]
    return set(sub.choices)


def test_everything_is_offered_in_the_dev_virtualenv() -> None:
    assert {"dev", "demo", "report", "operator"} <= _commands(cli.build_parser())


@pytest.mark.parametrize(
    ("absent", "gone"),
    [
        pytest.param(["shadowgate.devstack"], {"dev"}, id="no-devstack"),
        pytest.param(["shadowgate.demo"], {"demo"}, id="no-demo"),
        pytest.param(["shadowgate.devstack", "shadowgate.demo"], {"dev", "demo"}, id="control-plane-image"),
    ],
)
def test_dev_only_subcommands_are_skipped_without_their_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], absent: list[str], gone: set[str]
) -> None:
    for name in absent:
        # None in sys.modules makes an import raise ModuleNotFoundError, as a missing package does.
        monkeypatch.setitem(sys.modules, name, None)
    for name in cli.DEV_ONLY:
        monkeypatch.delitem(sys.modules, name, raising=False)
    offered = _commands(cli.build_parser())
    assert not offered & gone
    assert {"report", "evaluate", "simulate", "operator"} <= offered
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "operator" in capsys.readouterr().out


def test_a_missing_product_dependency_is_still_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shadowgate.cli.report", None)
    with pytest.raises(ModuleNotFoundError):
        cli.build_parser()

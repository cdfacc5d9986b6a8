"""Stacks left by killed pytest sessions are stopped; live owners' stacks are left alone."""

from __future__ import annotations

import os
import pathlib

import pytest
from shadowgate.devstack import owners


def test_only_stacks_of_dead_owners_are_stopped(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[pathlib.Path] = []

    class FakeStack:
        def __init__(self, state_dir: pathlib.Path) -> None:
            self.state_dir = state_dir

        def down(self, purge: bool = False) -> None:
            assert purge
            stopped.append(self.state_dir)

    monkeypatch.setattr(owners, "Stack", FakeStack)
    dead, alive, garbage = (tmp_path / f"pytest-{i}" / "shadowgate-stack0" for i in (1, 2, 3))
    for folder in (dead, alive, garbage):
        folder.mkdir(parents=True)
    (dead / owners.OWNER_FILE).write_text("999999999\n")  # above pid_max: never a live process
    owners.claim_stack(alive)
    (garbage / owners.OWNER_FILE).write_text("not a pid\n")
    owners.reap_abandoned_stacks(tmp_path / "pytest-4")
    assert stopped == [dead]
    assert not (dead / owners.OWNER_FILE).exists()
    assert (alive / owners.OWNER_FILE).read_text() == f"{os.getpid()}\n"

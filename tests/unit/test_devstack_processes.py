"""Detached processes: identity from /proc, group stop, and stray hunting."""

from __future__ import annotations

import os
import pathlib
import sys
import time

import pytest
from shadowgate.devstack import processes

# A parent that ignores SIGTERM and forks a child that does too: only SIGKILL ends them.
STUBBORN = (
    "import os, signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "if os.fork() == 0:\n"
    "    time.sleep(60)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)
# A process that leaves the component's session, as a Pod process of the node agent may.
ESCAPER = "import os, subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\ntime.sleep(60)\n"  # noqa: E501


@pytest.mark.parametrize(
    ("text", "state", "pgid", "sid"),
    [
        pytest.param("42 (sleep) S 1 42 42 0 -1 " + "0 " * 13 + "777 rest", "S", 42, 42, id="plain"),
        pytest.param("42 (a b) (c)) Z 1 7 9 0 -1 " + "0 " * 13 + "777 rest", "Z", 7, 9, id="odd-comm"),
    ],
)
def test_parse_stat(text: str, state: str, pgid: int, sid: int) -> None:
    info = processes.parse_stat(42, text)
    assert (info.state, info.pgid, info.sid, info.start_ticks) == (state, pgid, sid, 777)
    assert info.alive is (state != "Z")


def _spawn(tmp_path: pathlib.Path, code: str, stack_id: str = "unit") -> processes.ProcessRecord:
    env = {**os.environ, processes.STACK_ID_ENV: stack_id}
    return processes.spawn("t", [sys.executable, "-c", code], tmp_path / "t.log", env, tmp_path)


def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_stop_kills_whole_group_even_if_sigterm_ignored(tmp_path: pathlib.Path) -> None:
    record = _spawn(tmp_path, STUBBORN)
    # The log's header repeats the command line, so look for the line the process prints.
    _wait_for(lambda: "ready" in (tmp_path / "t.log").read_text().splitlines())
    assert processes.is_running(record)
    assert len(processes.group_members(record.pid)) == 2
    processes.stop(record, grace_s=0.5)
    assert not processes.is_running(record)
    assert processes.group_members(record.pid) == []


def test_record_with_other_start_time_is_not_ours(tmp_path: pathlib.Path) -> None:
    record = _spawn(tmp_path, "import time; time.sleep(60)")
    impostor = processes.ProcessRecord("t", record.pid, record.start_ticks + 1, record.argv, record.log)
    assert processes.is_running(record)
    assert not processes.is_running(impostor)
    processes.stop(impostor)  # must not signal someone else's process
    assert processes.is_running(record)
    processes.stop(record)
    assert not processes.is_running(record)


def test_kill_strays_finds_escaped_descendants(tmp_path: pathlib.Path) -> None:
    stack_id = f"unit-{os.getpid()}-{time.monotonic_ns()}"
    record = _spawn(tmp_path, ESCAPER, stack_id)
    _wait_for(
        lambda: (
            len([p for p in processes.all_processes() if processes.carries_stack_id(p.pid, stack_id)]) == 2
        )
    )
    processes.stop(record, grace_s=2)
    escaped = [
        p for p in processes.all_processes() if p.alive and processes.carries_stack_id(p.pid, stack_id)
    ]
    assert len(escaped) == 1  # the group stop could not reach it
    assert processes.kill_strays(stack_id, [record.pid]) == []
    assert not [
        p for p in processes.all_processes() if p.alive and processes.carries_stack_id(p.pid, stack_id)
    ]

"""Detached component processes: start, identify, stop, and prove nothing is left.

Each component runs in its own session (``start_new_session``), so its process group id
equals its pid and ``killpg`` reaches any helper it forks. A pid alone can be reused by the
kernel after a crash, so a record also keeps the process start time from ``/proc``; a pid
whose start time differs is someone else's process and is never signalled.

Every child also inherits ``SHADOWGATE_STACK_ID``. Descendants that leave the session
(containerd's shims start their own) still carry it, which is how ``down`` finds strays.
Container processes get their environment from the Pod spec, not from here; ``down`` finds
them by their cgroups instead (``node_host.remove_cgroups``).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

STACK_ID_ENV = "SHADOWGATE_STACK_ID"
PROC = pathlib.Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    """The fields of ``/proc/<pid>/stat`` this module needs."""

    pid: int
    state: str
    pgid: int
    sid: int
    start_ticks: int

    @property
    def alive(self) -> bool:
        # A zombie has exited; it only waits for its parent to reap it.
        return self.state not in ("Z", "X")


@dataclass(frozen=True)
class ProcessRecord:
    """A started component, as stored in the stack's state file."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: str


def parse_stat(pid: int, text: str) -> ProcInfo:
    """Parse ``/proc/<pid>/stat``; the command name may hold spaces and parentheses."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); pgrp is field 5, session 6, starttime 22.
    return ProcInfo(pid=pid, state=rest[0], pgid=int(rest[2]), sid=int(rest[3]), start_ticks=int(rest[19]))


def proc_info(pid: int) -> ProcInfo | None:
    try:
        return parse_stat(pid, (PROC / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


def all_processes() -> Iterable[ProcInfo]:
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            info = proc_info(int(entry.name))
            if info is not None:
                yield info


def carries_stack_id(pid: int, stack_id: str) -> bool:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return f"{STACK_ID_ENV}={stack_id}".encode() in environ.split(b"\0")


def is_running(record: ProcessRecord) -> bool:
    info = proc_info(record.pid)
    return info is not None and info.alive and info.start_ticks == record.start_ticks


def spawn(
    name: str,
    argv: Sequence[str],
    log: pathlib.Path,
    env: Mapping[str, str],
    cwd: pathlib.Path,
) -> ProcessRecord:
    """Start ``argv`` detached in its own session, stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}: {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
    # Keep the Popen from warning at exit: the process is meant to outlive this one.
    proc.returncode = 0
    info = proc_info(proc.pid)
    ticks = info.start_ticks if info is not None else 0
    return ProcessRecord(name=name, pid=proc.pid, start_ticks=ticks, argv=tuple(argv), log=str(log))


def _reap(pid: int) -> None:
    # Only succeeds for our own children (the pytest fixture's case); harmless otherwise.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def group_members(pgid: int, stack_id: str | None = None) -> list[ProcInfo]:
    """Live processes in session/group ``pgid``, plus any carrying ``stack_id``."""
    found = []
    for info in all_processes():
        if not info.alive or info.pid == os.getpid():
            continue
        if info.pgid == pgid or info.sid == pgid or (stack_id and carries_stack_id(info.pid, stack_id)):
            found.append(info)
    return found


def _signal_all(members: Iterable[ProcInfo], pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for info in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(info.pid, sig)


def stop(record: ProcessRecord, grace_s: float = 10.0) -> None:
    """SIGTERM the component's process group, then SIGKILL whatever outlives ``grace_s``."""
    if not is_running(record):
        _reap(record.pid)
        return
    members = group_members(record.pid)
    _signal_all(members, record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not group_members(record.pid):
            return
        time.sleep(0.05)
    _signal_all(group_members(record.pid), record.pid, signal.SIGKILL)
    # SIGKILL is delivered asynchronously: on a loaded machine the process can still be alive
    # for a while after kill() returns, so wait (bounded) until the group is really gone.
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not group_members(record.pid):
            return
        time.sleep(0.02)


def kill_strays(stack_id: str, sids: Iterable[int], wait_s: float = 5.0) -> list[int]:
    """SIGKILL every live process of ``sids`` or carrying ``stack_id``; return the pids still alive."""
    sid_set = set(sids)

    def strays() -> list[ProcInfo]:
        return [
            p
            for p in all_processes()
            if p.alive and p.pid != os.getpid() and (p.sid in sid_set or carries_stack_id(p.pid, stack_id))
        ]

    for info in strays():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    left = strays()
    while left and time.monotonic() < deadline:
        for info in left:
            _reap(info.pid)
        time.sleep(0.05)
        left = strays()
    return [p.pid for p in left]


def write_pid_file(path: pathlib.Path, record: ProcessRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{record.pid}\n")

"""Local processes standing in for containers, and the probes that check them.

Each container runs in its own session (``start_new_session``), so its process group is
the whole "container": stopping sends SIGTERM to the group, waits the grace period, then
SIGKILLs the group, as a runtime kills a cgroup. A process started by an earlier agent
is adopted by pid plus start time; it is not our child, so its exit code is unknown.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence

from shadowgate.devstack.node_agent_spec import PodSpecError, Probe

log = logging.getLogger(__name__)

RUN_ERROR = "RunContainerError"
# Exit status reported for an adopted process: it was not our child, so we never see it.
UNKNOWN_EXIT = 255


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), or None if gone or a zombie."""
    try:
        raw = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


class LocalProcess:
    """A running container process: started here (a child) or adopted after a restart."""

    def __init__(self, pid: int, ticks: int | None, popen: subprocess.Popen[bytes] | None) -> None:
        self.pid = pid
        self.ticks = ticks
        self._popen = popen

    @property
    def adopted(self) -> bool:
        return self._popen is None

    def exit_code(self) -> int | None:
        """None while it runs; the exit status once it ended (128+N for a signal, as shells do)."""
        if self._popen is not None:
            code = self._popen.poll()
            if code is None:
                return None
            return 128 - code if code < 0 else code
        return None if start_ticks(self.pid) == self.ticks else UNKNOWN_EXIT

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, grace_s: float, poll_s: float = 0.05) -> int:
        """SIGTERM the group, wait up to ``grace_s`` for the leader, then SIGKILL the group."""
        code = self.exit_code()
        if code is None:
            self.signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while (code := self.exit_code()) is None and time.monotonic() < deadline:
                time.sleep(poll_s)
        # Also reaps stragglers the leader left behind in its group.
        self.signal_group(signal.SIGKILL)
        if code is None and self._popen is not None:
            code = self._popen.wait()
            code = 128 - code if code < 0 else code
        return UNKNOWN_EXIT if code is None else code


def resolve_executable(argv0: str, env: Mapping[str, str], cwd: str | None) -> str:
    """``argv[0]`` as a path: a name is looked up on the Pod's PATH, as exec would."""
    if "/" in argv0:
        path = pathlib.Path(cwd or ".") / argv0
        if os.access(path, os.X_OK) and path.is_file():
            return str(path)
        raise PodSpecError(f"executable {argv0!r} not found or not executable", RUN_ERROR)
    found = shutil.which(argv0, path=env.get("PATH", os.defpath))
    if found is None:
        raise PodSpecError(f"executable {argv0!r} not found in $PATH", RUN_ERROR)
    return found


def spawn(
    argv: Sequence[str], env: Mapping[str, str], cwd: str | None, log_path: pathlib.Path
) -> LocalProcess:
    """Start the container process in a new session, stdout and stderr appended to ``log_path``."""
    exe = resolve_executable(argv[0], env, cwd)
    if cwd is not None and not pathlib.Path(cwd).is_dir():
        raise PodSpecError(f"workingDir {cwd!r} does not exist", RUN_ERROR)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} start {list(argv)}\n".encode())
        out.flush()
        popen = subprocess.Popen(
            [exe, *argv[1:]],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return LocalProcess(popen.pid, start_ticks(popen.pid), popen)


def adopt(pid: int, ticks: int | None) -> LocalProcess | None:
    """The process an earlier agent started, if that very process still runs."""
    if ticks is None or start_ticks(pid) != ticks:
        return None
    return LocalProcess(pid, ticks, None)


def check(probe: Probe, ip: str) -> tuple[bool, str]:
    """One probe against the Pod IP: (success, why not). HTTP 200-399 passes, as a kubelet's."""
    if probe.kind == "tcp":
        try:
            with socket.create_connection((ip, probe.port), timeout=probe.timeout_s):
                return True, ""
        except OSError as exc:
            return False, f"tcp {ip}:{probe.port}: {exc}"
    conn = http.client.HTTPConnection(ip, probe.port, timeout=probe.timeout_s)
    try:
        headers = {"User-Agent": "shadowgate-node-agent", **dict(probe.headers)}
        conn.request("GET", probe.path, headers=headers)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return False, f"GET http://{ip}:{probe.port}{probe.path}: {exc}"
    finally:
        conn.close()
    if 200 <= status < 400:
        return True, ""
    return False, f"GET http://{ip}:{probe.port}{probe.path}: HTTP {status}"

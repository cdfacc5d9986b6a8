"""Local processes the demo starts (operator, router): start, wait until healthy, ``kill -9``,
restart, stop. Each one logs to its own file and carries the stack's ``SHADOWGATE_STACK_ID``
so ``shadowgate dev down`` reaps it even if the demo itself is killed."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx


class ProcessError(RuntimeError):
    """A demo process exited or never became healthy; the message names its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: pathlib.Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log: pathlib.Path
    health_url: str


class ManagedProcess:
    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 60.0) -> None:
        self.spec.log.parent.mkdir(parents=True, exist_ok=True)
        with self.spec.log.open("ab") as log:
            log.write(f"--- start {self.starts + 1} at {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            # A session of its own: a Ctrl-C in the demo's terminal is handled by the demo,
            # which then stops its processes in order.
            self.proc = subprocess.Popen(
                list(self.spec.argv),
                env=dict(self.spec.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        self.wait_healthy(timeout_s)

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    code = None if self.proc is None else self.proc.returncode
                    raise ProcessError(
                        f"{self.spec.name} exited ({code}) before it was healthy; log {self.spec.log}:\n"
                        f"{tail(self.spec.log)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.spec.health_url).status_code == 200:
                        return
                time.sleep(0.2)
        raise ProcessError(
            f"{self.spec.name} not healthy at {self.spec.health_url} after {timeout_s:.0f} s; "
            f"log {self.spec.log}:\n{tail(self.spec.log)}"
        )

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

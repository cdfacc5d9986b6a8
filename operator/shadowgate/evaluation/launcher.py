"""Start ``model-server`` as a subprocess on free loopback ports to evaluate an archive.

The control plane never imports the model server (an import-linter contract forbids it);
``shadowgate evaluate --archive`` runs it as a separate process and talks HTTP to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import httpx


class LaunchError(RuntimeError):
    """The model server could not be started or never became ready."""


def archive_manifest(archive: str) -> dict[str, object]:
    """The archive's MANIFEST.json (directory, .tar.gz/.tgz or .zip; ``file://`` allowed)."""
    path = pathlib.Path(archive.removeprefix("file://"))
    try:
        if path.is_dir():
            raw = (path / "MANIFEST.json").read_bytes()
        elif path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path) as tar:
                member = next(
                    (m for m in tar.getmembers() if pathlib.PurePosixPath(m.name).name == "MANIFEST.json"),
                    None,
                )
                stream = tar.extractfile(member) if member else None
                if stream is None:
                    raise LaunchError(f"archive {archive}: no MANIFEST.json inside")
                raw = stream.read()
        elif path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                name = next(
                    (n for n in zf.namelist() if pathlib.PurePosixPath(n).name == "MANIFEST.json"), None
                )
                if name is None:
                    raise LaunchError(f"archive {archive}: no MANIFEST.json inside")
                raw = zf.read(name)
        else:
            raise LaunchError(f"archive {archive}: not a directory, .tar.gz, .tgz or .zip")
        manifest = json.loads(raw)
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise LaunchError(f"archive {archive}: cannot read MANIFEST.json ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise LaunchError(f"archive {archive}: MANIFEST.json is not JSON ({exc.msg})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("name"), str):
        raise LaunchError(f"archive {archive}: MANIFEST.json has no string 'name'")
    return manifest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command() -> list[str]:
    exe = shutil.which("model-server") or str(pathlib.Path(sys.executable).with_name("model-server"))
    return [exe] if pathlib.Path(exe).exists() else [sys.executable, "-m", "model_server"]


@dataclass(frozen=True)
class Running:
    endpoint: str
    management: str
    model: str


@contextlib.contextmanager
def serve_archive(
    archive: str, startup_timeout_s: float = 180.0, torch_threads: int = 0, request_timeout_s: float = 300.0
) -> Iterator[Running]:
    """Run a model server with ``archive`` loaded; yield once ``/ping`` answers 200."""
    name = str(archive_manifest(archive)["name"])
    uri = archive if "://" in archive else pathlib.Path(archive).resolve().as_uri()
    ports = [free_port() for _ in range(3)]
    with tempfile.TemporaryDirectory(prefix="shadowgate-eval-") as tmp:
        log = pathlib.Path(tmp) / "model-server.log"
        cmd = [
            *_command(), "serve", "--host", "127.0.0.1",
            "--inference-port", str(ports[0]), "--management-port", str(ports[1]),
            "--metrics-port", str(ports[2]), "--model", uri,
            "--model-store", str(pathlib.Path(tmp) / "store"), "--torch-threads", str(torch_threads),
            # Offline evaluation measures quality, not latency: a loaded machine must not
            # turn slow answers into 504s.
            "--request-timeout-ms", str(int(request_timeout_s * 1000)),
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "SHADOWGATE_VARIANT": "primary"}
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            running = Running(f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", name)
            _wait_ready(proc, running, log, startup_timeout_s)
            yield running
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tail(log: pathlib.Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(proc: subprocess.Popen[bytes], running: Running, log: pathlib.Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LaunchError(
                    f"model-server exited with {proc.returncode} before it was ready:\n{_tail(log)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{running.endpoint}/ping").status_code == 200:
                    return
            time.sleep(0.25)
        reason = ""
        with contextlib.suppress(httpx.HTTPError, ValueError):
            reason = client.get(f"{running.management}/models/{running.model}").text
    raise LaunchError(f"model {running.model} not ready after {timeout_s:.0f}s {reason}\n{_tail(log)}")

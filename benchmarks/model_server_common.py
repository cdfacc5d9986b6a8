"""Shared pieces of the model-server benchmarks: start ``model-server serve`` as its own
process (so the client never shares a GIL with the server), wait until ready, read RSS."""

from __future__ import annotations

import http.client
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import orjson

from model_server.testing import free_port


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    host: str
    inference_port: int
    management_port: int

    def rss_bytes(self) -> int:
        for line in pathlib.Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")


@contextmanager
def serve(
    models: Sequence[pathlib.Path] = (), extra: Sequence[str] = (), timeout_s: float = 300
) -> Iterator[Server]:
    host = "127.0.0.1"
    ports = [free_port(host) for _ in range(3)]
    args = [sys.executable, "-m", "model_server", "serve", "--host", host, "--log-level", "warning"]
    args += [
        "--inference-port",
        str(ports[0]),
        "--management-port",
        str(ports[1]),
        "--metrics-port",
        str(ports[2]),
    ]
    for model in models:
        args += ["--model", str(model)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([*args, *extra], env=env)
    server = Server(process, host, ports[0], ports[1])
    try:
        wait_ready(server, timeout_s)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_ready(server: Server, timeout_s: float) -> float:
    started = time.monotonic()
    while True:
        if server.process.poll() is not None:
            raise RuntimeError("model server exited")
        try:
            conn = http.client.HTTPConnection(server.host, server.inference_port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout_s:
            raise RuntimeError("model server not ready")
        time.sleep(0.05)


def post_json(conn: http.client.HTTPConnection, path: str, body: object) -> bytes:
    payload = orjson.dumps(body)
    conn.request("POST", path, payload, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {data[:200]!r}")
    return data


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

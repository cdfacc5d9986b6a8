"""Where the retriever's server overhead goes (an investigation aid, not a target check).

Phases run one after another, not interleaved, so machine drift between phases shows up:
A: parse + handle called directly; B: the same on a thread-pool thread awaited from an
asyncio loop (the server's inference path without HTTP or a second process); B2: B timed
inside the thread; then a ``model-server`` process: client-observed latency, the server's
own request and inference histograms (sum / count over the same requests), and minor page
faults per call on both sides.

    N=300 T=2 .venv/bin/python benchmarks/model_server_decompose.py
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import model_server_common as common
import torch

from model_server import loading
from model_server.archive import samples
from model_server.archive.manifest import BatchSettings
from model_server.handlers import base
from model_server.testing import free_port

N = int(os.environ.get("N", "300"))
BODY = {"query": "iyashikei manga", "k": 3}


def scrape(port: int, name: str) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    total = sum(float(m) for m in re.findall(rf"^{name}_sum{{[^}}]*}} (\S+)", text, re.M))
    count = sum(float(m) for m in re.findall(rf"^{name}_count{{[^}}]*}} (\S+)", text, re.M))
    return total, count


def minor_faults(pid: int | str = "self") -> int:
    return int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def ms(samples_s: list[float]) -> str:
    return f"p50 {statistics.median(samples_s) * 1000:.3f} / mean {statistics.mean(samples_s) * 1000:.3f} ms"


def in_process(once: Callable[[], object]) -> None:
    for _ in range(30):
        once()
    direct, faults = [], minor_faults()
    for _ in range(N):
        started = time.perf_counter()
        once()
        direct.append(time.perf_counter() - started)
    print(f"A direct: {ms(direct)}, {(minor_faults() - faults) / N:.1f} minor faults per call", flush=True)
    pool = concurrent.futures.ThreadPoolExecutor(16)

    def timed() -> float:
        started = time.perf_counter()
        once()
        return time.perf_counter() - started

    async def on_thread() -> tuple[list[float], list[float]]:
        loop = asyncio.get_running_loop()
        for _ in range(30):
            await loop.run_in_executor(pool, once)
        outside, inside = [], []
        for _ in range(N):
            started = time.perf_counter()
            inside.append(await loop.run_in_executor(pool, timed))
            outside.append(time.perf_counter() - started)
        return outside, inside

    outside, inside = asyncio.run(on_thread())
    print(f"B thread from loop: {ms(outside)}; B2 inside the thread: {ms(inside)}", flush=True)


def over_http(archive: pathlib.Path) -> None:
    host = "127.0.0.1"
    ports = [free_port(host) for _ in range(3)]
    args = [sys.executable, "-m", "model_server", "serve", "--host", host, "--log-level", "warning"]
    args += ["--inference-port", str(ports[0]), "--management-port", str(ports[1])]
    args += ["--metrics-port", str(ports[2]), "--model", str(archive)]
    args += ["--torch-threads", str(torch.get_num_threads())]
    process = subprocess.Popen(args, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        common.wait_ready(common.Server(process, host, ports[0], ports[1]), 300)
        conn = http.client.HTTPConnection(host, ports[0])
        for _ in range(30):
            common.post_json(conn, "/predictions/retriever", BODY)
        names = ("model_server_request_duration_seconds", "model_server_inference_duration_seconds")
        before = [scrape(ports[2], n) for n in names]
        faults = minor_faults(process.pid)
        client = []
        for _ in range(N):
            started = time.perf_counter()
            common.post_json(conn, "/predictions/retriever", BODY)
            client.append(time.perf_counter() - started)
        faults_per_call = (minor_faults(process.pid) - faults) / N
        after = [scrape(ports[2], n) for n in names]
        request, inference = (
            (a[0] - b[0]) / (a[1] - b[1]) * 1000 for a, b in zip(after, before, strict=True)
        )
        print(
            f"D client: {ms(client)}; server request mean {request:.3f} ms, inference (with the thread"
            f" hop) mean {inference:.3f} ms, {faults_per_call:.1f} minor faults per call",
            flush=True,
        )
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    torch.set_num_threads(int(os.environ.get("T", "0")) or os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        archive = samples.retriever(
            root / "retriever", batch=BatchSettings(batch_size=1, max_batch_delay_ms=0)
        )
        handler = loading.initialize_handler(
            loading.open_verified(str(archive), root / "store"), base.Limits()
        )
        in_process(lambda: handler.handle([handler.parse(BODY)]))
        over_http(archive)


if __name__ == "__main__":
    main()

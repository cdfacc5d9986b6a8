"""The real ``shadowgate-router`` process: flags, SIGTERM, and a restart that loses no counted outcome."""

from __future__ import annotations

import asyncio
import pathlib
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import orjson
import pytest
from router_support import Backend, RouterUnderTest, route_doc

MakeBackend = Callable[..., Awaitable[Backend]]


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"

    async def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 15)


async def start_router(*args: str) -> Proc:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "--port", "0", *args, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert line, "router exited before listening"
        m = re.search(r"listening on [\d.]+:(\d+)", line)
        if m:
            break
    # Keep draining stderr so the child never blocks on a full pipe.
    asyncio.get_running_loop().create_task(proc.stderr.read())
    return Proc(proc, int(m.group(1)))


@pytest.fixture
async def procs() -> AsyncIterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        if p.proc.returncode is None:
            p.proc.kill()
            await p.proc.wait()


def sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            got = ",".join(sorted(line[len(name) + 1 : line.index("}")].split(",")))
            if got == want:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as c:
        for _ in range(100):
            if (await c.get("/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("router never became ready")


async def test_restart_keeps_counters_and_pending_impressions(
    backends: MakeBackend, procs: list[Proc], tmp_path: pathlib.Path
) -> None:
    p = await backends("p")
    table = tmp_path / "routes.json"
    table.write_bytes(orjson.dumps([route_doc("retriever", p)]))
    state = tmp_path / "state.json"
    args = ("--table-file", str(table), "--state-file", str(state), "--attribution-window", "30")
    first = await start_router(*args)
    procs.append(first)
    await wait_ready(first.base)
    labels = {"route": "retriever", "variant": "primary"}
    async with httpx.AsyncClient(base_url=first.base) as c:
        clicked = (await c.get("/r/retriever/x")).headers["x-request-id"]
        pending = (await c.get("/r/retriever/x")).headers["x-request-id"]
        assert (await c.post("/feedback", json={"request_id": clicked, "event": "click"})).status_code == 200
    assert await first.terminate() == 0

    second = await start_router(*args)
    procs.append(second)
    await wait_ready(second.base)
    async with httpx.AsyncClient(base_url=second.base) as c:
        text = (await c.get("/metrics")).text
        assert sample(text, "shadowgate_router_impressions_total", **labels) == 2
        assert sample(text, "shadowgate_router_clicks_total", **labels) == 1
        # The impression pending at shutdown survived with its window: it can still be clicked once.
        assert (await c.post("/feedback", json={"request_id": pending, "event": "click"})).status_code == 200
        assert (await c.post("/feedback", json={"request_id": clicked, "event": "click"})).status_code == 409
        text = (await c.get("/metrics")).text
    assert sample(text, "shadowgate_router_clicks_total", **labels) == 2
    assert sample(text, "shadowgate_router_feedback_rejected_total", reason="duplicate") == 1
    assert await second.terminate() == 0


async def test_shutdown_without_state_counts_pending_as_evicted(
    backends: MakeBackend, make_router: Callable[..., Awaitable[RouterUnderTest]]
) -> None:
    p = await backends("p")
    r = await make_router()
    r.set_routes(route_doc("retriever", p))
    async with httpx.AsyncClient(base_url=r.base) as c:
        rid = (await c.get("/r/retriever/x")).headers["x-request-id"]
        await c.get("/r/retriever/x")
        await c.post("/feedback", json={"request_id": rid, "event": "click"})
    await r.svc.stop()
    labels = {"route": "retriever", "variant": "primary"}
    assert r.metric("shadowgate_router_impressions_evicted_total", reason="shutdown", **labels) == 1
    assert r.metric("shadowgate_router_clicks_total", **labels) == 1
    assert r.metric("shadowgate_router_noclicks_total", **labels) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--table-file", "x", "--attribution-window", "0"], "window", id="zero-window"),
        pytest.param(["--table-file", "x", "--impression-ttl", "1"], "TTL", id="ttl-below-window"),
        pytest.param(
            ["--table-file", "x", "--mirror-max-inflight", "0"], "--mirror-max-inflight", id="zero-budget"
        ),
        pytest.param(["--table-file", "x", "--feedback-events", "buy"], "click", id="no-click-event"),
        pytest.param([], "one of the arguments --kube --table-file is required", id="no-source"),
    ],
)
def test_bad_flags_exit_nonzero_with_a_message(args: list[str], message: str) -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "router", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr


def test_corrupt_state_file_refuses_to_start(tmp_path: pathlib.Path) -> None:
    import subprocess

    table = tmp_path / "routes.json"
    table.write_text("[]")
    state = tmp_path / "state.json"
    state.write_text("{broken")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "router",
            "--table-file",
            str(table),
            "--state-file",
            str(state),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "state file" in done.stderr and "not valid JSON" in done.stderr

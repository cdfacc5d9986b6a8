"""The rollback gate's ``router-accepts-zero-weight`` against REAL components: a real router
process (``shadowgate-router --kube``) watching a real API server through a TCP relay the test can
cut, real Prometheus scraping the router, and the operator's analyzer with the mangaassist preset.

The check passes only once the router has APPLIED the route-table version the operator wrote:
it stays unanswered (the gate Inconclusive) while the router is alive but cut off from the API
server and still serving the previous version, and while the router is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from shadowgate.controller.analysis import AnalysisRequest, EngineAnalyzer, route_evidence
from shadowgate.core.gates import parsing
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.verdicts import Verdict
from shadowgate.kube.client import ClientConfigMaps
from shadowgate.sources.base import QueryContext
from shadowgate.sources.router_versions import PrometheusRouterVersions
from shadowgate.traffic.base import Routes, RouteTarget
from shadowgate.traffic.router_table import RouterTableProvider
from test_router_kube import Echo, Relay, configmap

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _relay_kubeconfig(admin: str, port: int, out: pathlib.Path) -> None:
    doc = yaml.safe_load(pathlib.Path(admin).read_text())
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"  # the API server's cert names 127.0.0.1
    out.write_text(yaml.safe_dump(doc))


async def _metric(url: str, name: str, route: str = "") -> float | None:
    async with httpx.AsyncClient() as c:
        text = (await c.get(f"{url}/metrics", timeout=2)).text
    want = f'{name}{{route="{route}"}}' if route else name
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RouterProcess:
    def __init__(self, kubeconfig: pathlib.Path, namespace: str, log: pathlib.Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._argv = [
            str(pathlib.Path(sys.executable).with_name("shadowgate-router")),
            "--kube",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self._log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self._log.open("ab") as log:
            self.proc = subprocess.Popen(self._argv, stdout=log, stderr=subprocess.STDOUT)

        async def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self._log.read_text()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient() as c:
                    return (await c.get(f"{self.url}/healthz", timeout=1)).status_code == 200
            return False

        await _eventually(healthy, 30, "the router's /healthz")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
async def setup(
    stack: Any, kube_api: client.ApiClient, namespace: str, tmp_path: pathlib.Path
) -> AsyncIterator[dict[str, Any]]:
    route = f"applied-{uuid.uuid4().hex[:8]}"  # router series are not per namespace: unique per test
    echo = Echo("primary")
    port = await echo.start()
    doc = {"route": route, "version": 1, "primary": {"url": f"http://127.0.0.1:{port}"}}
    client.CoreV1Api(kube_api).create_namespaced_config_map(
        namespace, configmap(f"shadowgate-route-{route}", doc)
    )
    api = urllib.parse.urlsplit(kube_api.configuration.host)
    relay = Relay(api.hostname or "127.0.0.1", api.port or 443)
    await relay.start()
    kubeconfig = tmp_path / "router.kubeconfig"
    _relay_kubeconfig(stack.kubeconfig, relay.port, kubeconfig)
    router = RouterProcess(kubeconfig, namespace, tmp_path / "router.log")
    await router.start()
    job = f"router-{route}"
    stack.add_scrape_target(job, f"127.0.0.1:{router.port}")
    try:
        yield {"route": route, "relay": relay, "router": router}
    finally:
        stack.remove_scrape_target(job, f"127.0.0.1:{router.port}")
        router.stop()
        await relay.cut()
        await echo.stop()


def _rollback_verdict(stack: Any, kube_api: client.ApiClient, target: RouteTarget) -> Verdict:
    """One analysis as the operator runs it: the provider's evidence, then the preset's gates."""
    analyzer = EngineAnalyzer({}, lambda: PrometheusRouterVersions(stack.prometheus_url))
    request = AnalysisRequest(
        context=QueryContext(
            namespace=target.namespace, target="retriever", candidate="c", route=target.route
        ),
        phase=Phase.SHADOW,
        gates=tuple(parsing.parse_gates({"preset": "mangaassist"})),
        checks={"rollback": True},
        route=route_evidence(RouterTableProvider(ClientConfigMaps(kube_api)), target),
    )
    return {r.gate: r for r in analyzer.analyse(request)}["rollback"].verdict


async def test_check_passes_only_after_the_router_applied_the_written_version(
    stack: Any, kube_api: client.ApiClient, namespace: str, setup: dict[str, Any]
) -> None:
    route, relay, router = setup["route"], setup["relay"], setup["router"]
    target = RouteTarget(namespace, route, "retriever", "c-cand")
    provider = RouterTableProvider(ClientConfigMaps(kube_api))

    async def verdict() -> Verdict:
        return await asyncio.to_thread(_rollback_verdict, stack, kube_api, target)

    async def passes() -> bool:
        return await verdict() is Verdict.PASS

    async def holds_for(seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert await verdict() is Verdict.INCONCLUSIVE, what
            await asyncio.sleep(0.5)

    # 1. The router applies version 1 and Prometheus scrapes it: proven.
    await _eventually(passes, 30, "the check to pass on version 1")
    assert await _metric(router.url, "shadowgate_router_table_version", route) == 1

    # 2. Connected, a write (mirror on, version 2) is proven once the router applied it and
    #    Prometheus scraped that: the lag the gate sees (printed; scrape interval 1 s).
    written_at = time.monotonic()
    provider.set_routes(target, Routes(100, 0, 50))
    assert route_evidence(provider, target).written == 2
    await _eventually(passes, 30, "the check to pass on version 2")
    print(f"write -> router applied -> scraped -> check passed: {time.monotonic() - written_at:.2f} s")
    assert await _metric(router.url, "shadowgate_router_table_version", route) == 2

    # 3. The router is alive and scraped but cut off from the API server; the operator writes
    #    version 3 (a canary share). Not applied, so not passed, for several scrapes.
    await relay.cut()

    async def source_down() -> bool:
        return await _metric(router.url, "shadowgate_router_table_source_up") == 0

    await _eventually(source_down, 30, "the router to notice the API outage")
    provider.set_routes(target, Routes(90, 10, 0))
    assert route_evidence(provider, target).written == 3
    versions = PrometheusRouterVersions(stack.prometheus_url)
    try:
        reported = await versions.applied(route)
    finally:
        await versions.aclose()
    assert reported == {f"127.0.0.1:{router.port}": 2}  # evidence present, and behind
    await holds_for(4, "a router still serving version 2 must not count as applying version 3")

    # 4. The API server is reachable again: the router applies version 3, then the check passes.
    await relay.start()
    await _eventually(passes, 60, "the check to pass once the router applied version 3")
    assert await _metric(router.url, "shadowgate_router_table_version", route) == 3

    # 5. The router stops. Its series go stale, and a new write is never counted as applied.
    router.stop()

    async def unproven() -> bool:
        return await verdict() is Verdict.INCONCLUSIVE

    await _eventually(unproven, 15, "the check to stop passing once the router is gone")
    provider.finalize(target)
    assert route_evidence(provider, target).written == 4
    await holds_for(4, "a stopped router applies nothing")

"""The router's Kubernetes table source against the REAL API server of the local stack.

ConfigMap tables are created, changed under load, broken and deleted; a Service backend follows
real Pods on the stack's node (containers of the control-plane image, made Ready and unready by
their own readiness probes) through the EndpointSlices the controller-manager writes for them;
and an API outage (a TCP relay the test cuts) leaves the last good table serving with
``shadowgate_router_table_source_up`` at 0.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from kubernetes import client, config
from shadowgate.devstack import images

from router.kubesource import KubeSource
from router.service import RouterService, ServiceSettings
from router.table import ServiceBackend

pytestmark = pytest.mark.integration
LABELS = {"shadowgate.dev/route-table": "true"}


class Echo:
    """A real HTTP backend that names itself in every answer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        async def handle(request: web.Request) -> web.Response:
            self.hits += 1
            await request.read()
            return web.json_response({"version": self.name, "items": [{"id": "a", "score": 1.0}]})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Relay:
    """A loopback TCP relay to the API server that the test can cut and restore."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()
            await self._server.wait_closed()
            self._server = None


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def configmap(name: str, doc: dict[str, Any]) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=LABELS),
        data={"route.json": orjson.dumps(doc).decode()},
    )


@pytest.fixture
async def echoes() -> AsyncIterator[Callable[..., Awaitable[tuple[Echo, int]]]]:
    started: list[Echo] = []

    async def make(name: str) -> tuple[Echo, int]:
        e = Echo(name)
        bound = await e.start()
        started.append(e)
        return e, bound

    yield make
    for e in started:
        await e.stop()


@pytest.fixture
async def router_for(stack: Any) -> AsyncIterator[Callable[..., Awaitable[RouterService]]]:
    started: list[RouterService] = []

    async def make(namespace: str, api: client.ApiClient | None = None) -> RouterService:
        api = api or config.new_client_from_config(config_file=stack.kubeconfig)
        svc = RouterService(ServiceSettings(port=0), None)
        svc.attach_source(KubeSource(api, namespace, svc.endpoints, svc.app.forget_unused))
        await svc.start()
        started.append(svc)
        return svc

    yield make
    for svc in started:
        await svc.stop()


async def get(svc: RouterService, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.port}") as c:
        return await c.get(path, **kw)


def metric(svc: RouterService, name: str, **labels: str) -> float | None:
    return svc.metrics.registry.get_sample_value(name, labels)


async def test_configmap_table_lifecycle_and_live_swap_under_load(
    kube_api: client.ApiClient, namespace: str, echoes: Any, router_for: Any
) -> None:
    core = client.CoreV1Api(kube_api)
    (_, a_port), (_, b_port) = await echoes("a"), await echoes("b")
    doc = {"route": "retriever", "version": 1, "primary": {"url": f"http://127.0.0.1:{a_port}"}}
    core.create_namespaced_config_map(namespace, configmap("shadowgate-route-retriever", doc))
    svc = await router_for(namespace)

    async def served_by(name: str) -> bool:
        r = await get(svc, "/r/retriever/x")
        return r.status_code == 200 and r.json()["version"] == name

    await eventually(lambda: served_by("a"), what="the first table")
    assert metric(svc, "shadowgate_router_table_source_up") == 1

    stop = asyncio.Event()
    outcomes: collections.Counter[tuple[int, str]] = collections.Counter()

    async def load() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.port}") as c:
            while not stop.is_set():
                r = await c.get("/r/retriever/x")
                outcomes[r.status_code, r.json().get("version", "")] += 1

    loaders = [asyncio.create_task(load()) for _ in range(4)]
    for version in range(2, 12):  # ten live swaps through the API server, a <-> b
        port = b_port if version % 2 == 0 else a_port
        doc = {**doc, "version": version, "primary": {"url": f"http://127.0.0.1:{port}"}}
        # In a thread: the synchronous client must not stall the load generators.
        await asyncio.to_thread(
            core.replace_namespaced_config_map,
            "shadowgate-route-retriever",
            namespace,
            configmap("shadowgate-route-retriever", doc),
        )
        await asyncio.sleep(0.1)
        want = "b" if version % 2 == 0 else "a"
        await eventually(lambda want=want: served_by(want), what=f"version {version}")  # type: ignore[misc]
    stop.set()
    await asyncio.gather(*loaders)
    assert sum(outcomes.values()) > 100
    assert set(outcomes) <= {(200, "a"), (200, "b")}, outcomes  # nothing dropped, no error
    assert metric(svc, "shadowgate_router_table_version", route="retriever") == 11

    # An invalid update keeps the last good route and is counted.
    bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="shadowgate-route-retriever", labels=LABELS),
                             data={"route.json": '{"route": "retriever", "version": 12}'})  # fmt: skip
    core.replace_namespaced_config_map("shadowgate-route-retriever", namespace, bad)

    async def counted() -> bool:
        return (metric(svc, "shadowgate_router_table_errors_total", reason="invalid") or 0) >= 1

    await eventually(counted, what="the invalid table to be counted")
    assert await served_by("a")  # version 11, the last good one

    core.delete_namespaced_config_map("shadowgate-route-retriever", namespace)

    async def gone() -> bool:
        return (await get(svc, "/r/retriever/x")).status_code == 404

    await eventually(gone, what="the route to disappear")


# A backend Pod: answers every request with its name (the router's "version"), and reports Ready
# to its probe while its flag is up; the test flips the flag over HTTP, so readiness changes the
# way it does on a cluster (probe -> Pod status -> EndpointSlice) and not by writing the status.
# It ignores SIGTERM, so a deleted Pod stays serving-and-terminating for its grace period.
BACKEND = r"""
import http.server, json, os, signal, socket, urllib.parse
signal.signal(signal.SIGTERM, signal.SIG_IGN)
state = {"ready": os.environ["READY"] == "1"}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the router's pooled client expects
    def answer(self, code, body):
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urllib.parse.urlparse(self.path)
        if url.path == "/probe":
            return self.answer(200 if state["ready"] else 503, b"")
        if url.path == "/set-ready":
            state["ready"] = urllib.parse.parse_qs(url.query)["to"][0] == "1"
            return self.answer(200, b"")
        body = {"version": socket.gethostname(), "items": [{"id": "a", "score": 1.0}]}
        self.answer(200, json.dumps(body).encode())
    do_POST = do_GET
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""
GRACE_S = 8


def backend_pod(name: str, ready: bool) -> client.V1Pod:
    container = client.V1Container(
        name="m",
        image=images.dev_name("control-plane"),
        image_pull_policy="Never",
        command=["python", "-c", BACKEND],
        env=[client.V1EnvVar(name="READY", value="1" if ready else "0")],
        ports=[client.V1ContainerPort(container_port=8000, name="http")],
        readiness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path="/probe", port="http"), period_seconds=1, failure_threshold=1
        ),
        security_context=client.V1SecurityContext(
            run_as_non_root=True, read_only_root_filesystem=True, allow_privilege_escalation=False
        ),
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "retr"}),
        spec=client.V1PodSpec(
            containers=[container],
            termination_grace_period_seconds=GRACE_S,
            automount_service_account_token=False,
        ),
    )


async def running_ip(core: client.CoreV1Api, namespace: str, name: str) -> str:
    found: dict[str, str] = {}

    async def running() -> bool:
        got: Any = await asyncio.to_thread(core.read_namespaced_pod, name, namespace)
        if got.status.phase == "Running" and got.status.pod_ip:
            found["ip"] = got.status.pod_ip
        return "ip" in found

    await eventually(running, timeout=90, what=f"{name} running")
    return found["ip"]


async def default_service_account(core: client.CoreV1Api, namespace: str) -> None:
    # The controller-manager makes it just after the namespace; a Pod created before is refused.
    async def made() -> bool:
        names: Any = await asyncio.to_thread(core.list_namespaced_service_account, namespace)
        return any(sa.metadata.name == "default" for sa in names.items)

    await eventually(made, what="the namespace's default ServiceAccount")


async def test_service_backend_follows_real_pods_through_their_endpointslices(
    kube_api: client.ApiClient, namespace: str, router_for: Any
) -> None:
    """Real Pods on the node behind a Service with a named targetPort; the router (default
    backends: EndpointSlices, as the controller-manager writes them) follows their readiness,
    keeps a draining Pod while nothing else is ready, and answers 503 once none is left."""
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="retr"),
            spec=client.V1ServiceSpec(
                selector={"app": "retr"},
                ports=[client.V1ServicePort(name="http", port=8080, target_port="http")],
            ),
        ),
    )
    await default_service_account(core, namespace)
    core.create_namespaced_pod(namespace, backend_pod("pod-a", ready=True))
    core.create_namespaced_pod(namespace, backend_pod("pod-b", ready=False))
    ips = {name: await running_ip(core, namespace, name) for name in ("pod-a", "pod-b")}
    doc = {"route": "retriever", "version": 1, "primary": {"service": "retr", "port": 8080}}
    core.create_namespaced_config_map(namespace, configmap("shadowgate-route-retriever", doc))
    svc = await router_for(namespace)

    async def set_ready(name: str, ready: bool) -> None:
        # The test runs in the node's network namespace, so the Pod's IP is reachable directly.
        async with httpx.AsyncClient() as c:
            r = await c.get(f"http://{ips[name]}:8000/set-ready", params={"to": "1" if ready else "0"})
            r.raise_for_status()

    async def versions(n: int = 20) -> set[str]:
        out = set()
        for _ in range(n):
            r = await get(svc, "/r/retriever/x")
            out.add(r.json().get("version", str(r.status_code)))
        return out

    async def only(expected: set[str]) -> bool:
        return await versions() == expected

    await eventually(lambda: only({"pod-a"}), timeout=30, what="only the ready pod a")
    assert svc.endpoints.get(ServiceBackend(namespace, "retr", 8080)) == ((ips["pod-a"], 8000),)
    await set_ready("pod-b", True)
    await eventually(lambda: only({"pod-a", "pod-b"}), timeout=30, what="both pods, round robin")
    await set_ready("pod-a", False)
    await eventually(lambda: only({"pod-b"}), timeout=30, what="pod a not ready")

    # Deleted, pod b drains for its grace period (it ignores SIGTERM): its endpoint turns
    # terminating but still serving, and with no ready one left the router keeps sending to it.
    deleted = time.monotonic()
    core.delete_namespaced_pod("pod-b", namespace)

    async def b_draining() -> bool:
        slices: Any = await asyncio.to_thread(
            client.DiscoveryV1Api(kube_api).list_namespaced_endpoint_slice,
            namespace,
            label_selector="kubernetes.io/service-name=retr",
        )
        conditions = [
            ep.conditions for es in slices.items for ep in es.endpoints or [] if ips["pod-b"] in ep.addresses
        ]
        return any(c.terminating and c.serving and not c.ready for c in conditions)

    await eventually(b_draining, what="pod b's endpoint serving and terminating")
    got = await versions()
    assert got == {"pod-b"}, f"{got}, {time.monotonic() - deleted:.1f} s after the delete (grace {GRACE_S} s)"
    await eventually(lambda: only({"503"}), timeout=GRACE_S + 30, what="no ready endpoint")
    r = await get(svc, "/r/retriever/x")
    assert "no ready endpoint" in r.json()["error"]


async def test_api_outage_keeps_last_good_table(
    stack: Any, kube_api: client.ApiClient, namespace: str, echoes: Any, router_for: Any
) -> None:
    core = client.CoreV1Api(kube_api)
    (_, a_port), (_, b_port) = await echoes("a"), await echoes("b")
    doc = {"route": "retriever", "version": 1, "primary": {"url": f"http://127.0.0.1:{a_port}"}}
    core.create_namespaced_config_map(namespace, configmap("shadowgate-route-retriever", doc))

    api = config.new_client_from_config(config_file=stack.kubeconfig)
    target = urllib.parse.urlsplit(api.configuration.host)
    relay = Relay(target.hostname or "127.0.0.1", target.port or 443)
    await relay.start()
    api.configuration.host = f"https://127.0.0.1:{relay.port}"  # the API server's cert names 127.0.0.1
    svc = await router_for(namespace, api)

    async def served_by(name: str) -> bool:
        r = await get(svc, "/r/retriever/x")
        return r.status_code == 200 and r.json()["version"] == name

    await eventually(lambda: served_by("a"), what="the first table")
    await relay.cut()

    async def source_down() -> bool:
        return metric(svc, "shadowgate_router_table_source_up") == 0

    await eventually(source_down, what="source_up to drop")
    for _ in range(20):
        assert await served_by("a")  # the last good table keeps serving

    # A change made during the outage is picked up once the API is reachable again.
    doc = {**doc, "version": 2, "primary": {"url": f"http://127.0.0.1:{b_port}"}}
    core.replace_namespaced_config_map(
        "shadowgate-route-retriever", namespace, configmap("shadowgate-route-retriever", doc)
    )
    await relay.start()
    await eventually(lambda: served_by("b"), timeout=30, what="recovery")
    assert metric(svc, "shadowgate_router_table_source_up") == 1
    await relay.cut()

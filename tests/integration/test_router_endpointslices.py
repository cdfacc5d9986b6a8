"""The router's EndpointSlice backends against the REAL API server, under the chart's router identity.

The chart is installed with its default ``router.backends`` (``endpointslices``); the router runs
in-process with a TokenRequest token of the chart's router ServiceAccount, so its Role is proven
sufficient (a missing rule would leave the watch at 403 and no endpoint would appear) and to hold
no Pods. The Service is selectorless and its EndpointSlices hand-made, so every condition a slice
can carry is set exactly; the addresses are resolved, not dialled (test_router_kube.py follows
real Pods' slices end to end). Last, the chart's router runs as its own container and serves a
real Pod through ``kubectl port-forward``.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from kubernetes import client, config
from shadowgate.devstack import images
from test_chart_install import CHART, can, helm, make_namespace, sa_kubeconfig
from test_router_kube import backend_pod

from router.kubesource import KubeSource, make_backends
from router.service import RouterService, ServiceSettings
from router.table import ServiceBackend

pytestmark = pytest.mark.integration
SERVICE_NAME = "kubernetes.io/service-name"


@pytest.fixture(scope="module")
def release(stack: Any, kube_api: client.ApiClient) -> Iterator[tuple[str, str]]:
    namespace = make_namespace(kube_api)
    name = f"sg{uuid.uuid4().hex[:6]}"
    try:
        helm(
            stack, "install", name, str(CHART), "--namespace", namespace,
            "--set-json", f'watchNamespaces=["{namespace}"]',
            "--set-json", "operator.replicas=0",
            "--set-json", 'router.routes=[{"name":"retriever","replicas":0}]',
            "--wait", "--timeout", "120s",
        )  # fmt: skip
        yield name, namespace
    finally:
        helm(stack, "uninstall", name, "--namespace", namespace, "--wait", check=False)
        client.CoreV1Api(kube_api).delete_namespace(namespace)


@pytest.fixture(scope="module")
def router_api(
    stack: Any, kube_api: client.ApiClient, release: tuple[str, str]
) -> Iterator[client.ApiClient]:
    name, namespace = release
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "router.kubeconfig"
        sa_kubeconfig(stack, kube_api, namespace, f"{name}-shadowgate-router", path)
        api = config.new_client_from_config(config_file=str(path))
        try:
            yield api
        finally:
            api.close()


@pytest.fixture
async def router(router_api: client.ApiClient, release: tuple[str, str]) -> AsyncIterator[RouterService]:
    _, namespace = release
    svc = RouterService(ServiceSettings(port=0), None)
    backends = make_backends("endpointslices", router_api)
    svc.attach_source(KubeSource(router_api, namespace, svc.endpoints, svc.app.forget_unused, backends))
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


def test_the_router_role_reads_slices_and_no_pods(
    router_api: client.ApiClient, release: tuple[str, str]
) -> None:
    _, namespace = release
    for verb in ("get", "list", "watch"):
        assert can(router_api, verb, "discovery.k8s.io", "endpointslices", namespace)
        assert can(router_api, verb, "", "services", namespace)
        assert can(router_api, verb, "", "configmaps", namespace)
        assert not can(router_api, verb, "", "pods", namespace)
    assert not can(router_api, "create", "discovery.k8s.io", "endpointslices", namespace)


def endpoint(ip: str, ready: bool, serving: bool | None = None, terminating: bool | None = None) -> Any:
    return client.V1Endpoint(
        addresses=[ip],
        conditions=client.V1EndpointConditions(ready=ready, serving=serving, terminating=terminating),
    )


def endpoint_slice(name: str, *endpoints: Any) -> client.V1EndpointSlice:
    return client.V1EndpointSlice(
        metadata=client.V1ObjectMeta(
            name=name,
            # A manager of its own, so no controller of the stack claims the slice.
            labels={SERVICE_NAME: "retr", "endpointslice.kubernetes.io/managed-by": "shadowgate-test"},
        ),
        address_type="IPv4",
        ports=[client.DiscoveryV1EndpointPort(name="http", port=9000, protocol="TCP")],
        endpoints=list(endpoints),
    )


async def until_endpoints(svc: RouterService, backend: ServiceBackend, want: set[tuple[str, int]]) -> None:
    deadline = time.monotonic() + 20
    while set(svc.endpoints.get(backend)) != want:
        assert time.monotonic() < deadline, f"endpoints {svc.endpoints.get(backend)}, want {sorted(want)}"
        await asyncio.sleep(0.1)


async def test_service_backend_follows_its_endpointslices(
    kube_api: client.ApiClient, release: tuple[str, str], router: RouterService
) -> None:
    _, namespace = release
    core, discovery = client.CoreV1Api(kube_api), client.DiscoveryV1Api(kube_api)
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="retr"),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(name="http", port=8080, target_port=9000)]),
        ),
    )
    route = {"route": "retriever", "version": 1, "primary": {"service": "retr", "port": 8080}}
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name="shadowgate-route-retriever", labels={"shadowgate.dev/route-table": "true"}
            ),
            data={"route.json": orjson.dumps(route).decode()},
        ),
    )
    b = ServiceBackend(namespace, "retr", 8080)
    discovery.create_namespaced_endpoint_slice(
        namespace, endpoint_slice("retr-a", endpoint("10.213.0.5", True), endpoint("10.213.0.6", False))
    )
    await until_endpoints(router, b, {("10.213.0.5", 9000)})
    # A second slice of the same Service adds to the first.
    discovery.create_namespaced_endpoint_slice(
        namespace, endpoint_slice("retr-b", endpoint("10.213.0.7", True))
    )
    await until_endpoints(router, b, {("10.213.0.5", 9000), ("10.213.0.7", 9000)})
    # Draining: no ready endpoint left, so the serving-and-terminating one carries the traffic.
    discovery.replace_namespaced_endpoint_slice(
        "retr-a",
        namespace,
        endpoint_slice("retr-a", endpoint("10.213.0.5", False, serving=True, terminating=True)),
    )
    discovery.delete_namespaced_endpoint_slice("retr-b", namespace)
    await until_endpoints(router, b, {("10.213.0.5", 9000)})
    discovery.delete_namespaced_endpoint_slice("retr-a", namespace)
    await until_endpoints(router, b, set())


def route_table(route: str, service: str, port: int) -> client.V1ConfigMap:
    doc = {"route": route, "version": 1, "primary": {"service": service, "port": port}}
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name=f"shadowgate-route-{route}", labels={"shadowgate.dev/route-table": "true"}
        ),
        data={"route.json": orjson.dumps(doc).decode()},
    )


def test_the_charts_router_container_serves_a_pod_through_port_forward(
    stack: Any, kube_api: client.ApiClient
) -> None:
    """The chart's router Deployment as a container (its default EndpointSlices Role, bound to
    0.0.0.0) sends a request to a real backend Pod, and `kubectl port-forward` reaches it: the
    runtime dials the Pod's localhost, which a Pod-IP bind would refuse."""
    namespace = make_namespace(kube_api)
    name = f"sg{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(kube_api)
    forward: subprocess.Popen[str] | None = None
    try:
        helm(
            stack, "install", name, str(CHART), "--namespace", namespace,
            "--set-json", f'watchNamespaces=["{namespace}"]',
            "--set-json", f"image={json.dumps(images.chart_image_values())}",
            "--set-json", "operator.replicas=0",
            "--set-json", 'router.routes=[{"name":"retriever","replicas":1}]',
            "--wait", "--timeout", "120s",
        )  # fmt: skip
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
        core.create_namespaced_pod(namespace, backend_pod("pod-a", ready=True))
        core.create_namespaced_config_map(namespace, route_table("retriever", "retr", 8080))
        pods: Any = core.list_namespaced_pod(
            namespace, label_selector="app.kubernetes.io/name=shadowgate-router"
        )
        (router,) = [p for p in pods.items if p.metadata.deletion_timestamp is None]
        port = router.spec.containers[0].ports[0].container_port
        # ":port" lets kubectl pick a free local port and print it.
        forward = subprocess.Popen(
            [str(stack.bin_dir / "kubectl"), f"--kubeconfig={stack.kubeconfig}", "-n", namespace,
             "port-forward", f"pod/{router.metadata.name}", f":{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert forward.stdout is not None
        line = forward.stdout.readline()
        found = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
        assert found, line
        local = f"http://127.0.0.1:{found.group(1)}"
        deadline, last = time.monotonic() + 90, ""
        while time.monotonic() < deadline:  # until the backend Pod is Ready and in its slice
            r = httpx.get(f"{local}/r/retriever/x", timeout=10)
            if r.status_code == 200:
                break
            last = f"{r.status_code} {r.text}"
            time.sleep(0.5)
        else:
            raise AssertionError(f"the route never answered through the forward: {last}")
        assert r.json()["version"] == "pod-a" and r.headers["X-Served-By"] == "primary"
    finally:
        if forward is not None:
            forward.terminate()
            forward.wait(10)
        helm(stack, "uninstall", name, "--namespace", namespace, "--wait", check=False)
        core.delete_namespace(namespace)

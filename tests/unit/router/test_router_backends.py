"""Service -> EndpointSlice resolution (kube-proxy's rules), the backend-source seam of the
Kubernetes source with fake watches, and the ``--backends`` flag."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace as NS
from typing import Any

import httpx
import orjson
import pytest
from kubernetes import client as k8s
from router_support import Backend

from router import backends, backends_pods, backends_slices, cli, kubewatch
from router.backends import ServiceInfo, service_info
from router.backends_slices import SliceInfo, endpoints_from_slices, slice_info
from router.kubesource import KubeSource, make_backends
from router.service import RouterService, ServiceSettings
from router.table import ServiceBackend

B = ServiceBackend("ns", "retr", 8080)


def kservice(
    ports: list[tuple[str | None, int]] | None = None, selector: dict[str, str] | None = None
) -> Any:
    return NS(
        metadata=NS(namespace="ns", name="retr"),
        spec=NS(
            selector=selector,
            ports=[NS(name=n, port=p, target_port=p) for n, p in (ports or [("http", 8080)])],
        ),
    )


SVC = service_info(kservice())


def kep(
    *addresses: str, ready: bool | None = True, serving: bool | None = None, terminating: bool | None = None
) -> Any:
    return NS(addresses=list(addresses), conditions=NS(ready=ready, serving=serving, terminating=terminating))


def kslice(
    *endpoints: Any,
    service: str | None = "retr",
    ports: list[tuple[str | None, int | None]] | None = None,
    address_type: str = "IPv4",
    name: str = "retr-abcde",
) -> Any:
    labels = {} if service is None else {"kubernetes.io/service-name": service}
    return NS(
        metadata=NS(namespace="ns", name=name, labels=labels),
        address_type=address_type,
        ports=[NS(name=n, port=p) for n, p in (ports if ports is not None else [("http", 9000)])],
        endpoints=list(endpoints),
    )


def test_slice_info_reads_unset_conditions_as_the_api_contract_says() -> None:
    es = slice_info(kslice(kep("10.0.0.1", ready=None), NS(addresses=["10.0.0.2"], conditions=None)))
    assert es.service == "retr" and es.address_type == "IPv4" and es.ports == (("http", 9000),)
    for ep in es.endpoints:
        assert (ep.ready, ep.serving, ep.terminating) == (True, True, False)


def test_slice_info_leaves_out_ports_without_a_number() -> None:
    assert slice_info(kslice(ports=[(None, None), (None, 80)])).ports == (("", 80),)


def slices(*items: Any) -> dict[str, SliceInfo]:
    return {f"ns/s{i}": slice_info(s) for i, s in enumerate(items)}


@pytest.mark.parametrize(
    ("service", "found", "expected"),
    [
        pytest.param(SVC, slices(kslice(kep("10.0.0.1"))), [("10.0.0.1", 9000)], id="named-port"),
        pytest.param(
            service_info(kservice([(None, 8080)])),
            slices(kslice(kep("10.0.0.1"), ports=[(None, 8081)])),
            [("10.0.0.1", 8081)],
            id="unnamed-port",
        ),
        pytest.param(
            service_info(kservice([("grpc", 9090), ("http", 8080)])),
            slices(kslice(kep("10.0.0.1"), ports=[("grpc", 50051), ("http", 9000)])),
            [("10.0.0.1", 9000)],
            id="multi-port-by-name",
        ),
        pytest.param(
            service_info(kservice([("grpc", 9090)])),
            slices(kslice(kep("10.0.0.1"))),
            [],
            id="port-not-on-service",
        ),
        pytest.param(SVC, slices(kslice(kep("10.0.0.1"), ports=[("grpc", 1)])), [], id="port-not-on-slice"),
        pytest.param(None, slices(kslice(kep("10.0.0.1"))), [], id="no-service-yet"),
        pytest.param(SVC, slices(kslice(kep("10.0.0.1"), service="other")), [], id="other-service"),
        pytest.param(SVC, slices(kslice(kep("10.0.0.1"), service=None)), [], id="unlabelled-slice"),
        pytest.param(SVC, slices(kslice(kep("10.0.0.1", ready=False))), [], id="not-ready"),
        pytest.param(
            SVC,
            slices(kslice(kep("10.0.0.1"), kep("10.0.0.2", ready=False, serving=True, terminating=True))),
            [("10.0.0.1", 9000)],
            id="ready-wins-over-draining",
        ),
        pytest.param(
            SVC,
            slices(kslice(kep("10.0.0.2", ready=False, serving=True, terminating=True))),
            [("10.0.0.2", 9000)],
            id="draining-when-none-ready",
        ),
        pytest.param(
            SVC,
            slices(kslice(kep("10.0.0.2", ready=False, serving=False, terminating=True))),
            [],
            id="terminating-not-serving",
        ),
        pytest.param(
            SVC,
            slices(kslice(kep("10.0.0.2", ready=False, serving=True, terminating=False))),
            [],
            id="serving-not-terminating",
        ),
        pytest.param(
            SVC,
            slices(kslice(kep("10.0.0.1", "10.0.0.3")), kslice(kep("10.0.0.2"), kep("10.0.0.1"))),
            [("10.0.0.1", 9000), ("10.0.0.2", 9000), ("10.0.0.3", 9000)],
            id="slices-merged-and-deduplicated",
        ),
        pytest.param(
            SVC, slices(kslice(kep("fd00::5"), address_type="IPv6")), [("fd00::5", 9000)], id="ipv6"
        ),
        pytest.param(SVC, slices(kslice(kep("retr.example"), address_type="FQDN")), [], id="fqdn-ignored"),
        pytest.param(
            service_info(kservice(selector=None)),
            slices(kslice(kep("10.0.0.9"))),
            [("10.0.0.9", 9000)],
            id="selectorless-service",
        ),
    ],
)
def test_endpoints_from_slices(
    service: ServiceInfo | None, found: dict[str, SliceInfo], expected: list[tuple[str, int]]
) -> None:
    assert list(endpoints_from_slices(B, service, found)) == expected


def test_each_source_names_its_watches() -> None:
    api = k8s.ApiClient()
    pods = make_backends("pods", api)
    assert isinstance(pods, backends_pods.PodBackends)
    assert [(w.kind, w.list_fn.__name__, w.label_selector) for w in pods.watches()] == [
        ("svc", "list_namespaced_service", ""),
        ("pod", "list_namespaced_pod", ""),
    ]
    slices_ = make_backends("endpointslices", api)
    assert isinstance(slices_, backends_slices.SliceBackends)
    assert [(w.kind, w.list_fn.__name__, w.label_selector) for w in slices_.watches()] == [
        ("svc", "list_namespaced_service", ""),
        ("slice", "list_namespaced_endpoint_slice", "kubernetes.io/service-name"),
    ]
    with pytest.raises(ValueError, match="backends must be one of pods, endpointslices"):
        make_backends("nodes", api)


class FakeWatcher:
    """Stands in for kubewatch.Watcher: records what it would watch; the test posts its caches."""

    started: dict[str, FakeWatcher]

    def __init__(
        self,
        name: str,
        list_fn: Callable[..., Any],
        convert: Callable[[Any], Any],
        post: kubewatch.Post,
        stop: threading.Event,
        **kwargs: Any,
    ) -> None:
        self.name, self.list_fn, self.convert, self.post, self.kwargs = name, list_fn, convert, post, kwargs

    def start(self) -> None:
        FakeWatcher.started[self.name] = self

    def deliver(self, *objs: Any) -> None:
        self.post({kubewatch.key(o): self.convert(o) for o in objs})


@pytest.fixture
def fake_watches(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FakeWatcher]]:
    FakeWatcher.started = {}
    monkeypatch.setattr(kubewatch, "Watcher", FakeWatcher)
    yield FakeWatcher.started


async def until(check: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def kconfigmap(backend: ServiceBackend) -> Any:
    route = {"route": "retr", "version": 1, "primary": {"service": backend.service, "port": backend.port}}
    meta = NS(namespace=backend.namespace, name="shadowgate-route-retr")
    return NS(data={"route.json": orjson.dumps(route).decode()}, metadata=meta)


async def test_router_serves_a_service_backend_through_its_endpointslices(
    fake_watches: dict[str, FakeWatcher], backends: Callable[..., Awaitable[Backend]]
) -> None:
    model = await backends("m1")
    api = k8s.ApiClient()
    svc = RouterService(ServiceSettings(port=0), None)
    source = KubeSource(api, "ns", svc.endpoints, svc.app.forget_unused, make_backends("endpointslices", api))
    svc.attach_source(source)
    port = await svc.start()
    try:
        await until(lambda: "configmaps" in fake_watches)
        assert fake_watches["configmaps"].kwargs == {
            "namespace": "ns",
            "label_selector": "shadowgate.dev/route-table=true",
        }
        fake_watches["configmaps"].deliver(kconfigmap(B))
        await until(lambda: "slice/ns" in fake_watches)
        assert set(fake_watches) == {"configmaps", "svc/ns", "slice/ns"}  # no Pods watched
        assert fake_watches["slice/ns"].kwargs == {
            "namespace": "ns",
            "label_selector": "kubernetes.io/service-name",
        }
        fake_watches["svc/ns"].deliver(kservice())
        fake_watches["slice/ns"].deliver(
            kslice(kep("127.0.0.1"), kep("127.0.0.2", ready=False), ports=[("http", model.port)])
        )
        await until(lambda: bool(svc.endpoints.get(B)))
        assert svc.endpoints.get(B) == (("127.0.0.1", model.port),)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            r = await http.post("/r/retr/predict", json={"q": "iyashikei"})
            assert r.status_code == 200 and r.json()["version"] == "m1"
            # The last ready endpoint leaves: the backend has none, and the router says so.
            fake_watches["slice/ns"].deliver(
                kslice(kep("127.0.0.1", ready=False), ports=[("http", model.port)])
            )
            await until(lambda: not svc.endpoints.get(B))
            r = await http.post("/r/retr/predict", json={"q": "iyashikei"})
            assert r.status_code == 503
        assert len(model.seen) == 1
    finally:
        await svc.stop()


async def test_endpointslices_are_the_default_source(fake_watches: dict[str, FakeWatcher]) -> None:
    # A source built without naming its backends (as code outside the CLI does) reads slices too.
    svc = RouterService(ServiceSettings(port=0), None)
    svc.attach_source(KubeSource(k8s.ApiClient(), "ns", svc.endpoints, svc.app.forget_unused))
    await svc.start()
    try:
        await until(lambda: "configmaps" in fake_watches)
        fake_watches["configmaps"].deliver(kconfigmap(B))
        await until(lambda: "slice/ns" in fake_watches)
        assert set(fake_watches) == {"configmaps", "svc/ns", "slice/ns"}  # no Pods watched
    finally:
        await svc.stop()


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        pytest.param([], {}, "endpointslices", id="default"),
        pytest.param([], {"SHADOWGATE_ROUTER_BACKENDS": "pods"}, "pods", id="env"),
        pytest.param(
            ["--backends", "endpointslices"],
            {"SHADOWGATE_ROUTER_BACKENDS": "pods"},
            "endpointslices",
            id="flag-over-env",
        ),
    ],
)
def test_backends_flag(
    argv: list[str], env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHADOWGATE_ROUTER_BACKENDS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    args = cli.parser().parse_args(["--kube", *argv])
    assert args.backends == expected
    cli.settings_from(args)


def test_backends_flag_rejects_an_unknown_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHADOWGATE_ROUTER_BACKENDS", "endpoints")
    with pytest.raises(ValueError, match="--backends must be one of pods, endpointslices, got 'endpoints'"):
        cli.settings_from(cli.parser().parse_args(["--kube"]))
    assert backends.DEFAULT in backends.SOURCES

"""The Gateway API provider's sticky key against the REAL API server, with each channel's real
HTTPRoute CRD from the pinned ``sigs.k8s.io/gateway-api`` module (v1.3.0): the experimental CRD
keeps ``sessionPersistence`` and the split is sticky; the standard CRD prunes it, and the provider
says the split is per request instead of pretending.

Both channels define the same CRD name, so each test installs its variant over whatever is there
and the module leaves the standard one behind (what test_operator_gateway.py installs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import test_operator_support as support
import yaml
from kubernetes import client
from shadowgate.kube.client import ClientCustomObjects
from shadowgate.traffic import httproute
from shadowgate.traffic.base import Routes, RouteTarget
from shadowgate.traffic.httproute import GROUP, PLURAL, VERSION, HTTPRouteProvider
from test_operator_gateway import gateway_api_dir, http_route
from test_operator_support import Env, eventually

pytestmark = pytest.mark.integration

evidence_fixture = support.evidence_fixture
operator_fixture = support.operator_fixture
server_script_fixture = support.server_script_fixture
env_fixture = support.env_fixture

CRD_NAME = "httproutes.gateway.networking.k8s.io"
OURS = {"sessionName": "X-Session-Id", "type": "Header"}


def _crd_body(channel: str) -> dict[str, Any]:
    path = gateway_api_dir() / f"config/crd/{channel}/gateway.networking.k8s.io_httproutes.yaml"
    body: dict[str, Any] = yaml.safe_load(path.read_text())
    assert body["metadata"]["annotations"]["gateway.networking.k8s.io/channel"] == channel
    return body


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def install(kube_api: client.ApiClient, namespace: str, channel: str) -> None:
    """Install ``channel``'s HTTPRoute CRD and wait until the API server serves that schema."""
    ext = client.ApiextensionsV1Api(kube_api)
    body = _crd_body(channel)
    try:
        current = ext.read_custom_resource_definition(CRD_NAME)
    except client.ApiException as err:
        if err.status != 404:
            raise
        ext.create_custom_resource_definition(body)
    else:
        body["metadata"]["resourceVersion"] = current.metadata.resource_version
        ext.replace_custom_resource_definition(CRD_NAME, body)

    def established() -> bool:
        crd = ext.read_custom_resource_definition(CRD_NAME)
        channel_now = (crd.metadata.annotations or {}).get("gateway.networking.k8s.io/channel")
        ok = any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
        return ok and channel_now == channel

    _wait(established, 30, f"{channel} HTTPRoute CRD Established")
    # A CRD update reaches the API server's handler a moment later: probe with a scratch route
    # until a write of the field is kept (experimental) or pruned (standard).
    objects = client.CustomObjectsApi(kube_api)
    probe = http_route("schema-probe")
    probe["spec"]["rules"][0]["sessionPersistence"] = dict(OURS)
    keeps = channel == "experimental"

    def serving() -> bool:
        try:
            objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "schema-probe")
        except client.ApiException as err:
            if err.status != 404:
                raise
        stored = objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, probe)
        return ("sessionPersistence" in stored["spec"]["rules"][0]) is keeps

    _wait(serving, 30, f"the API server to serve the {channel} schema")
    objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "schema-probe")


@pytest.fixture(scope="module")
def restore_standard(kube_api: client.ApiClient) -> Iterator[None]:
    yield
    ext = client.ApiextensionsV1Api(kube_api)
    body = _crd_body("standard")
    current = ext.read_custom_resource_definition(CRD_NAME)
    body["metadata"]["resourceVersion"] = current.metadata.resource_version
    ext.replace_custom_resource_definition(CRD_NAME, body)


def _stored(kube_api: client.ApiClient, namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "retriever"
    )
    return out


def _setup(kube_api: client.ApiClient, namespace: str) -> tuple[HTTPRouteProvider, RouteTarget]:
    client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, http_route("retriever")
    )
    target = RouteTarget(namespace, "retriever", "retriever", "adapter-cand", sticky_key="X-Session-Id")
    return HTTPRouteProvider(ClientCustomObjects(kube_api)), target


def test_experimental_channel_keeps_the_sticky_key(
    restore_standard: None, kube_api: client.ApiClient, namespace: str
) -> None:
    install(kube_api, namespace, "experimental")
    provider, target = _setup(kube_api, namespace)

    provider.set_routes(target, Routes(100, 0, 50))  # shadow: no split, nothing to pin
    assert "sessionPersistence" not in _stored(kube_api, namespace)["spec"]["rules"][0]

    provider.set_routes(target, Routes(90, 10, 0))
    stored = _stored(kube_api, namespace)
    assert stored["spec"]["rules"][0]["sessionPersistence"] == OURS  # as the API server stored it
    assert stored["metadata"]["annotations"][httproute.ANNOTATION] == "X-Session-Id"
    assert provider.stickiness(target) == ""
    provider.set_routes(target, Routes(90, 10, 0))  # converged: nothing rewritten
    assert (
        _stored(kube_api, namespace)["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    )

    provider.set_routes(target, Routes(50, 50, 0))
    assert _stored(kube_api, namespace)["spec"]["rules"][0]["sessionPersistence"] == OURS

    provider.finalize(target)
    final = _stored(kube_api, namespace)
    assert "sessionPersistence" not in final["spec"]["rules"][0]
    assert httproute.ANNOTATION not in (final["metadata"].get("annotations") or {})
    assert provider.get_routes(target) == Routes.production()


def test_standard_channel_prunes_it_and_the_split_is_reported_per_request(
    restore_standard: None, kube_api: client.ApiClient, namespace: str
) -> None:
    install(kube_api, namespace, "standard")
    provider, target = _setup(kube_api, namespace)

    provider.set_routes(target, Routes(90, 10, 0))
    stored = _stored(kube_api, namespace)
    assert "sessionPersistence" not in stored["spec"]["rules"][0]  # the API server dropped it
    assert [(r["name"], r["weight"]) for r in stored["spec"]["rules"][0]["backendRefs"]] == [
        ("retriever", 90),
        ("adapter-cand", 10),
    ]
    notice = provider.stickiness(target)
    assert "per request, not per user" in notice and "X-Session-Id" in notice

    provider.finalize(target)
    final = _stored(kube_api, namespace)
    assert httproute.ANNOTATION not in (final["metadata"].get("annotations") or {})
    assert provider.stickiness(target) == ""  # no split, nothing to report


def test_operator_reports_the_per_request_split_on_the_candidate(
    restore_standard: None, kube_api: client.ApiClient, env: Env
) -> None:
    install(kube_api, env.ns, "standard")
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.objects.create_namespaced_custom_object(GROUP, VERSION, env.ns, PLURAL, http_route("retriever"))
    spec = env.spec()
    spec["target"] = {"deployment": "retriever", "route": "retriever", "provider": "gateway"}
    spec["shadow"] = {"duration": "3s", "mirrorPercent": 40}
    spec["canary"] = {"steps": [20, 60], "stepDuration": "3s", "stickyKey": "X-Session-Id"}
    env.create("sticky", spec)
    env.wait_phase("sticky", "Canary")
    eventually(lambda: "StickinessUnsupported" in env.events("sticky"), 20, "the StickinessUnsupported Event")
    items = env.core.list_namespaced_event(env.ns, field_selector="involvedObject.name=sticky").items
    event = next(e for e in items if e.reason == "StickinessUnsupported")
    assert event.type == "Warning"
    assert "per request, not per user" in event.message and "X-Session-Id" in event.message
    env.wait_phase("sticky", "Promoted", timeout=120)
    final = _stored(kube_api, env.ns)
    assert [r["name"] for r in final["spec"]["rules"][0]["backendRefs"]] == ["retriever"]
    assert httproute.ANNOTATION not in (final["metadata"].get("annotations") or {})

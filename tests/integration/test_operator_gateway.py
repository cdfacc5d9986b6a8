"""The Gateway API traffic provider against the real API server with the real HTTPRoute CRD
(from the ``sigs.k8s.io/gateway-api`` Go module), driven by the operator process."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from typing import Any

import pytest
import test_operator_support as support
import yaml
from kubernetes import client
from shadowgate.kube.client import ClientCustomObjects
from shadowgate.traffic.base import Routes, RouteTarget
from shadowgate.traffic.httproute import GROUP, PLURAL, VERSION, HTTPRouteProvider
from test_operator_support import GOOD_ARCHIVE, Env, eventually

pytestmark = pytest.mark.integration

GATEWAY_API = "sigs.k8s.io/gateway-api@v1.3.0"

evidence_fixture = support.evidence_fixture
operator_fixture = support.operator_fixture
server_script_fixture = support.server_script_fixture
env_fixture = support.env_fixture


def gateway_api_dir() -> pathlib.Path:
    """The module's source folder, from the Go module cache (downloaded through the module proxy once)."""
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    out = subprocess.run(
        ["go", "mod", "download", "-json", GATEWAY_API], capture_output=True, text=True, env=env, timeout=300
    )
    if out.returncode != 0:
        pytest.fail(f"cannot get {GATEWAY_API} from the Go module proxy or cache: {out.stderr or out.stdout}")
    return pathlib.Path(json.loads(out.stdout)["Dir"])


@pytest.fixture(scope="module")
def httproute_crd(kube_api: client.ApiClient) -> None:
    path = gateway_api_dir() / "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
    body = yaml.safe_load(path.read_text())
    ext = client.ApiextensionsV1Api(kube_api)
    try:
        ext.create_custom_resource_definition(body)
    except client.ApiException as err:
        if err.status != 409:
            raise

    def established() -> bool:
        crd = ext.read_custom_resource_definition(body["metadata"]["name"])
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    eventually(established, 30, "HTTPRoute CRD Established")


def http_route(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "shadowgate-gateway"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "retriever", "port": 8080}],
                }
            ],
        },
    }


def rule(env: Env, name: str) -> dict[str, Any]:
    route = env.objects.get_namespaced_custom_object(GROUP, VERSION, env.ns, PLURAL, name)
    out: dict[str, Any] = route["spec"]["rules"][0]
    return out


def test_provider_writes_routes_the_api_server_accepts(
    httproute_crd: None, kube_api: client.ApiClient, namespace: str
) -> None:
    objects = client.CustomObjectsApi(kube_api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, http_route("retriever"))
    provider = HTTPRouteProvider(ClientCustomObjects(kube_api))
    target = RouteTarget(namespace, "retriever", "retriever", "adapter-cand")
    for routes in (Routes(100, 0, 50), Routes(80, 20, 0), Routes(40, 60, 0)):
        provider.set_routes(target, routes)
        assert provider.get_routes(target) == routes
        version = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "retriever")[
            "metadata"
        ]
        provider.set_routes(target, routes)  # converged: the same routes write nothing
        again = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "retriever")[
            "metadata"
        ]
        assert again["resourceVersion"] == version["resourceVersion"]
    stored = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "retriever")
    refs = stored["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("retriever", 40), ("adapter-cand", 60)]
    provider.finalize(target)
    assert provider.get_routes(target) == Routes.production()


def test_operator_promotes_through_an_httproute(httproute_crd: None, env: Env) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.objects.create_namespaced_custom_object(GROUP, VERSION, env.ns, PLURAL, http_route("retriever"))
    spec = env.spec()
    spec["target"] = {"deployment": "retriever", "route": "retriever", "provider": "gateway"}
    spec["shadow"] = {"duration": "3s", "mirrorPercent": 40}
    # Sample counts come from the built-in router's metrics; behind a Gateway the gates' own
    # minimum samples are the evidence floor instead.
    spec["canary"] = {"steps": [20, 60], "stepDuration": "3s"}
    env.create("gw", spec)
    env.wait_phase("gw", "Shadow")
    mirror = eventually(
        lambda: [f for f in rule(env, "retriever").get("filters", []) if f["type"] == "RequestMirror"],
        10,
        "mirror",
    )
    assert mirror[0]["requestMirror"] == {
        "backendRef": {"group": "", "kind": "Service", "name": "gw-cand", "port": 8080},
        "percent": 40,
    }
    env.wait_phase("gw", "Canary")
    weights = eventually(
        lambda: {r["name"]: r.get("weight") for r in rule(env, "retriever")["backendRefs"]}.get("gw-cand"),
        10,
        "candidate backendRef",
    )
    assert weights in (20, 60)
    env.wait_phase("gw", "Promoted", timeout=120)
    final = rule(env, "retriever")
    assert [r["name"] for r in final["backendRefs"]] == ["retriever"] and "filters" not in final
    assert env.production_archive() == GOOD_ARCHIVE

"""The chart's images, binds and router RBAC: the operator and router run the control-plane image
(Dockerfile.control-plane, whose entry points they call), the router's Pods are as locked down as
the operator's and bind the Pod IP, and the router's Role grants exactly what ``router.backends``
reads."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from test_chart import CHART, RELEASE, ROOT, find, render

ROUTE = 'router.routes=[{"name":"retriever"}]'


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in find(docs, "Deployment")}


def test_every_deployment_runs_the_control_plane_image() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    specs = pod_specs(render(ROUTE))
    assert set(specs) == {f"{RELEASE}-shadowgate-operator", f"{RELEASE}-shadowgate-router-retriever"}
    for spec in specs.values():
        (c,) = spec["containers"]
        assert c["image"] == f"ghcr.io/shadowgate/control-plane:{chart['appVersion']}"
        assert c["imagePullPolicy"] == "IfNotPresent"


def test_image_values_override_both_deployments() -> None:
    # How a cluster without a registry (the local stack) points the chart at an imported image.
    docs = render(
        ROUTE,
        'image={"repository":"localhost/shadowgate/control-plane","tag":"0123abcd","pullPolicy":"Never"}',
    )
    for spec in pod_specs(docs).values():
        (c,) = spec["containers"]
        assert (c["image"], c["imagePullPolicy"]) == ("localhost/shadowgate/control-plane:0123abcd", "Never")


def _entry_points(dockerfile: str) -> set[str]:
    """What the image's build checks is installed (its last ``RUN which ...``)."""
    (line,) = re.findall(r"^RUN which (.+)$", dockerfile, re.M)
    return set(line.split())


def test_commands_are_the_control_plane_images_entry_points() -> None:
    provided = _entry_points((ROOT / "Dockerfile.control-plane").read_text())
    specs = pod_specs(render(ROUTE))
    operator = specs[f"{RELEASE}-shadowgate-operator"]["containers"][0]
    router = specs[f"{RELEASE}-shadowgate-router-retriever"]["containers"][0]
    assert operator["args"][0].split()[:2] == ["exec", "kopf"] and "kopf" in provided
    assert router["command"] == ["shadowgate-router"] and "shadowgate-router" in provided


def test_the_chart_renders_no_model_server() -> None:
    # The model-server image is named by production's Deployment (examples/), not by the chart.
    docs = render(ROUTE)
    for spec in pod_specs(docs).values():
        for c in spec["containers"]:
            assert "model-server" not in c["image"] and c.get("command") != ["model-server"]


def test_router_pods_are_locked_down_and_probed() -> None:
    spec = pod_specs(render(ROUTE))[f"{RELEASE}-shadowgate-router-retriever"]
    (c,) = spec["containers"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    env = {e["name"]: e for e in c["env"]}
    assert {"/tmp", env["HOME"]["value"]} <= {m["mountPath"] for m in c["volumeMounts"]}


def test_router_binds_all_interfaces_of_its_pod() -> None:
    (c,) = pod_specs(render(ROUTE))[f"{RELEASE}-shadowgate-router-retriever"]["containers"]
    # Not the Pod IP: `kubectl port-forward` reaches a container through its localhost, and not
    # the CLI's 127.0.0.1 fallback, which probes and Services cannot reach.
    assert "--host=0.0.0.0" in c["args"]
    assert f"--port={c['ports'][0]['containerPort']}" in c["args"]


def _router_rules(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    (role,) = find(docs, "Role", f"{RELEASE}-shadowgate-router")
    for rule in role["rules"]:
        assert rule["verbs"] == ["get", "list", "watch"], rule
    return sorted((g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"])


@pytest.mark.parametrize(
    ("value", "flag", "rules"),
    [
        pytest.param(
            None,
            "--backends=endpointslices",
            [("", "configmaps"), ("", "services"), ("discovery.k8s.io", "endpointslices")],
            id="default-endpointslices",
        ),
        pytest.param(
            '"pods"', "--backends=pods", [("", "configmaps"), ("", "pods"), ("", "services")], id="pods"
        ),
    ],
)
def test_router_rbac_follows_its_backends(value: str | None, flag: str, rules: list[tuple[str, str]]) -> None:
    sets = [ROUTE] + ([f"router.backends={value}"] if value else [])
    docs = render(*sets)
    (c,) = pod_specs(docs)[f"{RELEASE}-shadowgate-router-retriever"]["containers"]
    assert flag in c["args"]
    assert _router_rules(docs) == rules

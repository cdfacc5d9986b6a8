"""The chart's optional prometheus-operator objects (ServiceMonitor, PodMonitor, PrometheusRule)
are accepted by the real API server under prometheus-operator's own CRD schemas.

The CRDs come from the prometheus-operator Go module, fetched through the Go module proxy into the
Go module cache the way the stack's binaries are (cached outside the repo; a warm machine fetches
nothing)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time
import uuid
from typing import Any

import pytest
import yaml
from kubernetes import client

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shadowgate"
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.80.1"
KINDS = ("servicemonitors", "podmonitors", "prometheusrules")


def prometheus_operator_crds(tmp: pathlib.Path) -> list[dict[str, Any]]:
    go = shutil.which("go")
    assert go, "go is needed to fetch prometheus-operator's CRDs (hack/bootstrap.sh's Go toolchain)"
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=mod"}
    res = subprocess.run(
        [go, "mod", "download", "-json", PROMETHEUS_OPERATOR],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    folder = pathlib.Path(json.loads(res.stdout)["Dir"]) / "example" / "prometheus-operator-crd"
    return [yaml.safe_load((folder / f"monitoring.coreos.com_{kind}.yaml").read_text()) for kind in KINDS]


def ensure_crds(api: client.ApiClient, crds: list[dict[str, Any]]) -> None:
    ext = client.ApiextensionsV1Api(api)
    for crd in crds:
        try:
            ext.create_custom_resource_definition(crd)  # type: ignore[arg-type]  # a dict body is accepted
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    deadline = time.monotonic() + 60
    for crd in crds:
        while True:
            got: Any = ext.read_custom_resource_definition(crd["metadata"]["name"])
            conditions = (got.status.conditions if got.status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            assert time.monotonic() < deadline, f"{crd['metadata']['name']} never became Established"
            time.sleep(0.2)


def test_monitoring_objects_are_accepted_by_the_api_server(
    stack: Any, kube_api: client.ApiClient, tmp_path: pathlib.Path
) -> None:
    ensure_crds(kube_api, prometheus_operator_crds(tmp_path))
    namespace = f"t-mon-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    name = f"sg{uuid.uuid4().hex[:6]}"
    helm = [str(pathlib.Path(stack.bin_dir) / "helm"), "--kubeconfig", stack.kubeconfig]
    try:
        res = subprocess.run(
            [*helm, "install", name, str(CHART), "--namespace", namespace,
             "--set-json", "operator.replicas=0",
             "--set-json", "monitoring.serviceMonitor.enabled=true",
             "--set-json", "monitoring.podMonitor.enabled=true",
             "--set-json", "monitoring.prometheusRule.enabled=true",
             "--set-json", 'monitoring.prometheusRule.labels={"release":"kube-prometheus"}',
             "--wait", "--timeout", "120s"],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        objects = client.CustomObjectsApi(kube_api)
        full = f"{name}-shadowgate"
        rule: Any = objects.get_namespaced_custom_object(
            "monitoring.coreos.com", "v1", namespace, "prometheusrules", full
        )
        plain = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yaml").read_text())
        assert rule["spec"]["groups"] == plain["groups"]
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus"
        sm: Any = objects.get_namespaced_custom_object(
            "monitoring.coreos.com", "v1", namespace, "servicemonitors", full
        )
        assert sm["spec"]["endpoints"][0]["port"] == "metrics"
        objects.get_namespaced_custom_object(
            "monitoring.coreos.com", "v1", namespace, "podmonitors", f"{full}-model-servers"
        )
    finally:
        subprocess.run(
            [*helm, "uninstall", name, "--namespace", namespace, "--wait"], capture_output=True, check=False
        )
        core.delete_namespace(namespace)

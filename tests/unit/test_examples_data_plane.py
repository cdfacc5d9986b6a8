"""The example manifests run the data plane as a container on a cluster needs it: the model-server
image, bound to all interfaces of the Pod (other Pods and the kubelet's probes reach it, and so
does ``kubectl port-forward``, which dials the Pod's localhost and so misses a Pod-IP bind), never
the CLI's loopback fallback, and a readiness probe on it."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from model_server import cli as model_server_cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = yaml.safe_load((ROOT / "charts" / "shadowgate" / "Chart.yaml").read_text())
POD_IP = "10.213.0.7"  # any Pod address: what the kubelet substitutes for $(POD_IP)


def model_server_containers() -> list[pytest.ParameterSet]:
    out = []
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("Deployment", "StatefulSet", "Pod"):
                continue
            spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
            for c in spec["containers"]:
                if (c.get("command") or [None])[0] == "model-server":
                    out.append(pytest.param(c, id=f"{path.relative_to(ROOT)}:{c['name']}"))
    return out


CONTAINERS = model_server_containers()


def test_the_examples_run_a_model_server() -> None:
    assert CONTAINERS, "no example runs model-server: the checks below would pass vacuously"


def kubelet_expand(arg: str, env: dict[str, str]) -> str:
    for name, value in env.items():
        arg = arg.replace(f"$({name})", value)
    return arg


@pytest.mark.parametrize("container", CONTAINERS)
def test_model_server_binds_an_address_the_cluster_reaches(container: dict[str, Any]) -> None:
    env: dict[str, str] = {}
    for e in container.get("env") or []:
        ref = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if ref == "status.podIP":
            env[e["name"]] = POD_IP
        elif "value" in e:
            env[e["name"]] = e["value"]
    argv = [kubelet_expand(str(a), env) for a in container.get("args") or []]
    args = model_server_cli._parser().parse_args(argv)
    # Explicit, so the bind never depends on the CLI's fallback (127.0.0.1 without $POD_IP); the
    # env is still expanded as the kubelet would, so a "$(POD_IP)" shows up here as that address.
    assert args.host == "0.0.0.0", f"--host {args.host!r}: probes, Services or port-forward cannot reach it"
    assert container["readinessProbe"]["httpGet"]["port"] == args.inference_port


@pytest.mark.parametrize("container", CONTAINERS)
def test_model_server_runs_the_model_server_image(container: dict[str, Any]) -> None:
    # The repo's Dockerfile, published at the chart's appVersion; the control-plane image has no
    # model-server entry point.
    assert container["image"] == f"ghcr.io/shadowgate/model-server:{CHART['appVersion']}"

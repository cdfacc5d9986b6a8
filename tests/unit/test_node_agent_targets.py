"""Prometheus file_sd targets for Pod ports named ``metrics``."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from shadowgate.devstack import node_agent_targets as tg


@pytest.mark.parametrize(
    ("key", "label"),
    [
        pytest.param("app.kubernetes.io/name", "app_kubernetes_io_name", id="dots-slash"),
        pytest.param("shadowgate.dev/variant", "shadowgate_dev_variant", id="variant"),
        pytest.param("9lives", "_9lives", id="leading-digit"),
        pytest.param("plain_name", "plain_name", id="already-valid"),
    ],
)
def test_sanitize_label(key: str, label: str) -> None:
    assert tg.sanitize_label(key) == label


def pod(ports: list[dict[str, Any]], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "ms-1", "namespace": "prod", "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "ports": ports}]},
    }


@pytest.mark.parametrize(
    ("ports", "labels", "expected"),
    [
        pytest.param([{"name": "http", "containerPort": 8080}], {}, [], id="no-metrics-port"),
        pytest.param(
            [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 8082}],
            {
                "app.kubernetes.io/name": "model-server",
                "shadowgate.dev/variant": "canary",
                "shadowgate.dev/target": "retriever",
                "unrelated": "x",
            },
            [
                {
                    "targets": ["127.1.0.5:8082"],
                    "labels": {
                        "namespace": "prod",
                        "pod": "ms-1",
                        "app_kubernetes_io_name": "model-server",
                        "variant": "canary",
                        "target": "retriever",
                    },
                }
            ],
            id="metrics-port-with-contract-labels",
        ),
    ],
)
def test_target_groups(
    ports: list[dict[str, Any]], labels: dict[str, str], expected: list[dict[str, Any]]
) -> None:
    assert tg.target_groups(pod(ports, labels), "127.1.0.5") == expected


def test_write_and_remove(tmp_path: pathlib.Path) -> None:
    sd = tmp_path / "file_sd"
    assert tg.write_targets(sd, pod([{"name": "http", "containerPort": 1}]), "127.1.0.5") is None
    path = tg.write_targets(sd, pod([{"name": "metrics", "containerPort": 8082}]), "127.1.0.5")
    assert path == sd / "pod-prod-ms-1.json"
    assert json.loads(path.read_text())[0]["targets"] == ["127.1.0.5:8082"]
    assert [p.name for p in sd.iterdir()] == ["pod-prod-ms-1.json"]  # no temp file left behind
    tg.remove_targets(sd, "prod", "ms-1", "127.1.0.9")  # a namesake's address: not ours to remove
    assert path.exists()
    tg.remove_targets(sd, "prod", "ms-1", "127.1.0.5")
    tg.remove_targets(sd, "prod", "ms-1", "127.1.0.5")
    assert list(sd.iterdir()) == []

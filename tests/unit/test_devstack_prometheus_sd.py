"""The local Prometheus config for a real node: kubernetes_sd jobs mirroring the chart's monitors,
the PodMonitor's relabelings taken from the chart's own file, accepted by promtool."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from shadowgate.core import labels
from shadowgate.devstack import prometheus, prometheus_sd
from shadowgate.devstack.layout import StackLayout

API = "https://127.0.0.1:6443"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def layout(tmp_path: pathlib.Path) -> StackLayout:
    return StackLayout(tmp_path / "state")


def _pki(tmp_path: pathlib.Path) -> dict[str, Any]:
    files = {k: tmp_path / f"{k}.pem" for k in ("ca_file", "cert_file", "key_file")}
    for path in files.values():
        path.write_text("placeholder\n")  # promtool checks that the files exist, not what they hold
    return files


def _node(layout: StackLayout, tmp_path: pathlib.Path) -> dict[str, Any]:
    return prometheus.render_node_config(layout, "127.0.0.1:9090", api_server=API, **_pki(tmp_path))


def _job(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (job,) = [j for j in doc["scrape_configs"] if j["job_name"] == name]
    return job


def test_relabel_configs_are_the_shared_file_in_snake_case() -> None:
    assert prometheus_sd.relabel_configs(prometheus_sd.pod_relabelings()) == [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_label_shadowgate_dev_target"], "target_label": "target"},
        {"source_labels": ["__meta_kubernetes_pod_label_shadowgate_dev_variant"], "target_label": "variant"},
    ]


def test_every_relabeling_field_converts() -> None:
    rule = {
        "sourceLabels": ["a", "b"], "separator": ";", "targetLabel": "t", "regex": "(.*)",
        "modulus": 4, "replacement": "$1", "action": "hashmod",
    }  # fmt: skip
    assert prometheus_sd.relabel_configs([rule]) == [
        {
            "source_labels": ["a", "b"], "separator": ";", "target_label": "t", "regex": "(.*)",
            "modulus": 4, "replacement": "$1", "action": "hashmod",
        }
    ]  # fmt: skip


def test_node_config_jobs(layout: StackLayout, tmp_path: pathlib.Path) -> None:
    doc = _node(layout, tmp_path)
    names = [j["job_name"] for j in doc["scrape_configs"]]
    assert names == ["prometheus", "kubernetes-pods", "kubernetes-services", "file_sd"]
    assert doc["global"]["scrape_interval"] == prometheus.SCRAPE_INTERVAL == "1s"
    # The file_sd job is the current stack's, unchanged: tests can still add host targets.
    plain = prometheus.render_config(layout, "127.0.0.1:9090")
    assert _job(doc, "file_sd") == _job(plain, "file_sd")
    assert doc["global"] == plain["global"]


def test_pod_job_mirrors_the_pod_monitor(layout: StackLayout, tmp_path: pathlib.Path) -> None:
    job = _job(_node(layout, tmp_path), "kubernetes-pods")
    pki = _pki(tmp_path)
    assert job["kubernetes_sd_configs"] == [
        {"role": "pod", "api_server": API, "tls_config": {k: str(v) for k, v in pki.items()}}
    ]
    assert job["scrape_interval"] == "1s" and job["honor_labels"] is False
    keep_port, keep_selected, drop_done, *shared = job["relabel_configs"]
    assert keep_port == {
        "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "metrics", "action": "keep",
    }  # fmt: skip
    assert keep_selected == {
        "source_labels": ["__meta_kubernetes_pod_labelpresent_shadowgate_dev_variant"],
        "regex": "true",
        "action": "keep",
    }
    assert drop_done["action"] == "drop" and drop_done["regex"] == "(Failed|Succeeded)"
    assert shared == prometheus_sd.relabel_configs(prometheus_sd.pod_relabelings())
    assert tuple(r["target_label"] for r in shared) == labels.POD_TARGET_LABELS


def test_service_job_mirrors_the_service_monitor(layout: StackLayout, tmp_path: pathlib.Path) -> None:
    job = _job(_node(layout, tmp_path), "kubernetes-services")
    assert job["kubernetes_sd_configs"][0]["role"] == "endpointslice"
    assert job["honor_labels"] is True  # the chart's ServiceMonitor: honorLabels true
    keeps = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert [r["source_labels"][0] for r in keeps] == [
        "__meta_kubernetes_service_label_app_kubernetes_io_part_of",
        "__meta_kubernetes_endpointslice_port_name",
    ]
    targets = [r["target_label"] for r in job["relabel_configs"] if "target_label" in r]
    assert targets == [*labels.SERVICE_TARGET_LABELS, "job"]


def test_custom_relabelings_replace_the_shared_ones() -> None:
    sd = prometheus_sd.kubernetes_sd(
        "pod",
        api_server=API,
        ca_file=pathlib.Path("c"),
        cert_file=pathlib.Path("a"),
        key_file=pathlib.Path("k"),
    )
    job = prometheus_sd.pod_monitor_job(
        sd, "5s", [{"sourceLabels": ["__meta_kubernetes_pod_uid"], "targetLabel": "uid"}]
    )
    assert job["relabel_configs"][-1] == {
        "source_labels": ["__meta_kubernetes_pod_uid"],
        "target_label": "uid",
    }
    assert job["scrape_interval"] == "5s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("targetLabel: x\n", "expected a YAML list", id="not-a-list"),
        pytest.param("- [a]\n", "expected a YAML list", id="not-mappings"),
        pytest.param("- {sourceLabels: [a], target_label: x}\n", "unknown relabeling field", id="snake-case"),
    ],
)
def test_bad_relabelings_file_is_refused(tmp_path: pathlib.Path, text: str, message: str) -> None:
    path = tmp_path / "relabelings.yaml"
    path.write_text(text)
    with pytest.raises(prometheus_sd.RelabelingError, match=message):
        prometheus_sd.pod_relabelings(path)


@pytest.mark.parametrize(
    ("key", "present", "meta"),
    [
        pytest.param("shadowgate.dev/target", False, "pod_label_shadowgate_dev_target", id="label"),
        pytest.param("shadowgate.dev/variant", True, "pod_labelpresent_shadowgate_dev_variant", id="present"),
        pytest.param("app.kubernetes.io/part-of", False, "pod_label_app_kubernetes_io_part_of", id="dashes"),
    ],
)
def test_meta_label(key: str, present: bool, meta: str) -> None:
    assert prometheus_sd.meta_label(key, present=present) == f"__meta_kubernetes_{meta}"


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool comes with Debian's prometheus")
def test_promtool_accepts_the_relabelling(layout: StackLayout, tmp_path: pathlib.Path) -> None:
    # Debian's promtool has no Kubernetes discovery, but it checks every relabel rule (actions,
    # regexes, label names) of both jobs when they hang off a file_sd job.
    doc = _node(layout, tmp_path)
    for job in doc["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            job.pop("kubernetes_sd_configs")
            job["file_sd_configs"] = [{"files": [str(tmp_path / "none-*.json")]}]
    path = tmp_path / "relabelling.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run([str(PROMTOOL), "check", "config", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_accepts_node_config(layout: StackLayout, tmp_path: pathlib.Path) -> None:
    dirs = [d for d in (os.environ.get("SHADOWGATE_PROMETHEUS_DIR"), _pinned_bin_dir()) if d]
    found = prometheus_sd.find_kubernetes_sd_prometheus(dirs)
    if found is None:
        pytest.skip("no promtool with Kubernetes discovery: Debian's is built without it")
    path = prometheus.write_node_config(layout, "127.0.0.1:9090", api_server=API, **_pki(tmp_path))
    assert yaml.safe_load(path.read_text()) == _node(layout, tmp_path)
    proc = subprocess.run([found[1], "check", "config", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


@pytest.mark.parametrize(("exit_code", "expected"), [(0, True), (1, False)])
def test_kubernetes_sd_probe(tmp_path: pathlib.Path, exit_code: int, expected: bool) -> None:
    # Debian's promtool answers the probe config with "field kubernetes_sd_configs not found".
    fake = tmp_path / "promtool"
    fake.write_text(f'#!/bin/sh\ngrep -q kubernetes_sd_configs "$3" && exit {exit_code}\nexit 2\n')
    fake.chmod(0o755)
    assert prometheus_sd.has_kubernetes_sd(str(fake)) is expected
    assert prometheus_sd.has_kubernetes_sd(str(tmp_path / "missing")) is False


def _pinned_bin_dir() -> str | None:
    proc = subprocess.run(
        [str(ROOT / "hack" / "build-binaries.sh"), "--print-dir"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or None

"""Prometheus config and run-time file_sd targets."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest
from shadowgate.devstack import prometheus
from shadowgate.devstack.layout import StackLayout


@pytest.fixture
def layout(tmp_path: pathlib.Path) -> StackLayout:
    return StackLayout(tmp_path)


def test_config_scrapes_every_second_from_file_sd(layout: StackLayout) -> None:
    doc = prometheus.render_config(layout, "127.0.0.1:9090")
    assert doc["global"]["scrape_interval"] == "1s"
    file_sd = doc["scrape_configs"][1]["file_sd_configs"][0]
    assert file_sd["files"] == [str(layout.file_sd_dir / "*.json")]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with Debian's prometheus")
def test_promtool_accepts_config(layout: StackLayout) -> None:
    path = prometheus.write_config(layout, "127.0.0.1:9090")
    ScrapeTargets = prometheus.ScrapeTargets(layout)
    ScrapeTargets.add("model-server", "127.0.0.1:8082", {"variant": "canary"})
    proc = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_add_replace_remove(layout: StackLayout) -> None:
    targets = prometheus.ScrapeTargets(layout)
    targets.add("router", "127.0.0.1:9001", {"route": "a"})
    targets.add("router", "127.0.0.1:9002")
    targets.add("router", "127.0.0.1:9001", {"route": "b"})  # re-adding replaces, no duplicate
    groups = json.loads(targets.path("router").read_text())
    assert groups == [
        {"targets": ["127.0.0.1:9002"], "labels": {"job": "router"}},
        {"targets": ["127.0.0.1:9001"], "labels": {"route": "b", "job": "router"}},
    ]
    assert targets.jobs() == {"router": ["127.0.0.1:9002", "127.0.0.1:9001"]}
    assert targets.remove("router", "127.0.0.1:9001") is True
    assert targets.remove("router", "127.0.0.1:9001") is False
    assert targets.remove("router", "127.0.0.1:9002") is True
    assert not targets.path("router").exists()
    assert list(layout.file_sd_dir.glob("*.tmp")) == []


@pytest.mark.parametrize(
    ("job", "address", "labels", "message"),
    [
        pytest.param("bad/job", "127.0.0.1:1", None, "invalid scrape job name", id="slash-in-job"),
        pytest.param("", "127.0.0.1:1", None, "invalid scrape job name", id="empty-job"),
        pytest.param("j", "127.0.0.1", None, "invalid scrape address", id="no-port"),
        pytest.param("j", "127.0.0.1:70000", None, "invalid scrape address", id="port-range"),
        pytest.param("j", "http://x:1", None, "invalid scrape address", id="url-not-address"),
        pytest.param("j", "127.0.0.1:1", {"a-b": "x"}, "invalid label name 'a-b'", id="dash-label"),
        pytest.param("j", "127.0.0.1:1", {"__address__": "x"}, "invalid label name", id="reserved-label"),
        pytest.param("j", "127.0.0.1:1", {"n": 3}, "must be a string", id="non-string-value"),
    ],
)
def test_bad_targets_are_named(
    layout: StackLayout, job: str, address: str, labels: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        prometheus.ScrapeTargets(layout).add(job, address, labels)

"""The exposition: the contract's names and labels, histogram buckets for 1 ms..2 s gates,
and valid Prometheus text format by ``promtool check metrics``."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from model_server.metrics import LATENCY_BUCKETS, ServerMetrics

LABELS = 'model="retriever",variant="canary",version="1.1.0"'


def _exposition() -> str:
    metrics = ServerMetrics("canary")
    child = metrics.bind("retriever", "1.1.0")
    child.request_duration.observe(0.004)
    child.queue_wait.observe(0.001)
    child.inference_duration.observe(0.003)
    child.batch_size.observe(8)
    child.count(200)
    child.count(400)
    return generate_latest(metrics.registry).decode()


@pytest.mark.parametrize(
    "series",
    [
        'model_server_request_duration_seconds_bucket{le="0.005",' + LABELS + "} 1.0",
        "model_server_queue_wait_seconds_count{" + LABELS + "} 1.0",
        "model_server_inference_duration_seconds_sum{" + LABELS + "} 0.003",
        'model_server_batch_size_bucket{le="8.0",' + LABELS + "} 1.0",
        'model_server_requests_total{code="400",' + LABELS + "} 1.0",
        'process_resident_memory_bytes{variant="canary"}',
        'process_cpu_seconds_total{variant="canary"}',
    ],
    ids=["request-duration", "queue-wait", "inference", "batch-size", "requests-by-code", "rss", "cpu"],
)
def test_contract_series_present(series: str) -> None:
    assert series in _exposition()


def test_buckets_resolve_gates_between_1ms_and_2s() -> None:
    inside = [b for b in LATENCY_BUCKETS if 0.001 <= b <= 2.0]
    assert inside[0] == 0.001 and inside[-1] == 2.0
    assert max(b / a for a, b in itertools.pairwise(inside)) <= 1.55


def test_unbind_drops_series() -> None:
    metrics = ServerMetrics("primary")
    metrics.bind("m", "1").count(200)
    metrics.unbind("m", "1", [200])
    assert 'model="m"' not in generate_latest(metrics.registry).decode()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_exposition() -> None:
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=_exposition(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

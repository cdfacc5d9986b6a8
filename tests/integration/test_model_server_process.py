"""The real ``model-server serve`` process: binds ``$POD_IP``, takes its variant from
``$SHADOWGATE_VARIANT``, serves an archive, is scraped by the local stack's Prometheus (so
a latency gate can read p95 per variant), and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from model_server.archive import samples
from model_server.testing import free_port

pytestmark = pytest.mark.integration
POD_IP = "127.0.0.23"


@dataclass(frozen=True)
class Proc:
    process: subprocess.Popen[bytes]
    inference: str
    metrics_address: str
    log: pathlib.Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    root = tmp_path_factory.mktemp("ms-proc")
    archive = samples.retriever(root / "retriever.tar.gz", version="2.0.0")
    ports = [free_port(POD_IP) for _ in range(3)]
    log = root / "server.log"
    env = {**os.environ, "POD_IP": POD_IP, "SHADOWGATE_VARIANT": "canary", "HF_HUB_OFFLINE": "1"}
    args = [
        sys.executable,
        "-m",
        "model_server",
        "serve",
        "--model",
        archive.as_uri(),
        "--model-store",
        str(root / "s"),
    ]
    args += [
        "--inference-port",
        str(ports[0]),
        "--management-port",
        str(ports[1]),
        "--metrics-port",
        str(ports[2]),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    proc = Proc(process, f"http://{POD_IP}:{ports[0]}", f"{POD_IP}:{ports[2]}", log)
    try:
        deadline = time.monotonic() + 600  # a cold start takes minutes on a loaded 2-core machine
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{proc.inference}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        yield proc
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serves_on_pod_ip_with_variant_from_env(served: Proc) -> None:
    response = httpx.post(f"{served.inference}/predictions/retriever", json={"query": "iyashikei"})
    assert response.json()["version"] == "2.0.0"
    text = httpx.get(f"http://{served.metrics_address}/metrics").text
    assert (
        'model_server_requests_total{code="200",model="retriever",variant="canary",version="2.0.0"} 1.0'
        in text
    )
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{served.inference.rsplit(':', 1)[1]}/ping")  # bound to POD_IP only


def test_prometheus_computes_p95_per_variant(served: Proc, stack: object) -> None:
    stack.add_scrape_target("model-server", served.metrics_address, {"pod": "retriever-canary"})  # type: ignore[attr-defined]
    try:
        for _ in range(30):
            httpx.post(f"{served.inference}/predictions/retriever", json={"query": "slice of life"})
        query = (
            "histogram_quantile(0.95, sum by (le, variant, version) "
            '(model_server_request_duration_seconds_bucket{job="model-server",variant="canary"}))'
        )
        deadline = time.monotonic() + 30
        while True:
            result = httpx.get(
                f"{stack.prometheus_url}/api/v1/query",  # type: ignore[attr-defined]
                params={"query": query},
            ).json()["data"]["result"]
            if result and float(result[0]["value"][1]) > 0:
                break
            assert time.monotonic() < deadline, result
            time.sleep(1)
        assert result[0]["metric"] == {"variant": "canary", "version": "2.0.0"}
        assert 0.0005 < float(result[0]["value"][1]) < 5.0
    finally:
        stack.remove_scrape_target("model-server", served.metrics_address)  # type: ignore[attr-defined]


def test_sigterm_stops_cleanly(served: Proc) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=20) == 0, served.log.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["serve", "--variant", "blue"], "invalid choice: 'blue'", id="unknown-variant"),
        pytest.param(
            ["serve", "--max-body-bytes", "0"], "--max-body-bytes must be positive", id="zero-body-limit"
        ),
        pytest.param(["serve", "--inference-port", "70000"], "inference-port must be between", id="bad-port"),
        pytest.param(["archive", "verify", "/nonexistent"], "does not exist", id="verify-missing"),
    ],
)
def test_cli_rejects_bad_flags(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model_server", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr

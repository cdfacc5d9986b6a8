"""``shadowgate report`` against the real API server and the real Prometheus.

A Candidate is created on the API server and its status set (through the status subresource)
to a recorded rollout whose shape is the operator's own ``Status.to_dict``. The operator's and the
router's real metric registries, driven through their APIs while the "rollout" runs, are scraped
by the stack's Prometheus. The CLI then reads both and writes the PNG and the HTML page."""

from __future__ import annotations

import itertools
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from prometheus_client import start_http_server
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import GateStatus, HistoryEntry, Status
from shadowgate.core.verdicts import Evidence, GateResult, Verdict

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]
CANDIDATE = "iyashikei-adapter"
ROUTE = "retriever"
PHASES = ["Pending", "Deploying", "Evaluating", "Shadow", "Canary", "Promoting", "Promoted"]


def ensure_crd(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    crd = yaml.safe_load((ROOT / "crds" / "candidate.yaml").read_text())
    try:
        ext.create_custom_resource_definition(crd)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = ext.read_custom_resource_definition(crd["metadata"]["name"])
        conditions = (got.status.conditions if got.status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise AssertionError("the Candidate CRD never became Established")


def run_rollout(namespace: str, stack: Any) -> Iterator[list[HistoryEntry]]:
    """Drive the real registries through a short rollout; yield the history it made."""
    from shadowgate.controller.metrics import Metrics

    from router.metrics import RouterMetrics

    router, operator = RouterMetrics(), Metrics()
    servers = [start_http_server(0, addr="127.0.0.1", registry=r.registry)[0] for r in (router, operator)]
    jobs = [(f"report-{i}", f"127.0.0.1:{s.server_address[1]}") for i, s in enumerate(servers)]
    for job, address in jobs:
        stack.add_scrape_target(job, address, {"namespace": namespace})
    history: list[HistoryEntry] = []
    status = Status()
    try:
        for step, (a, b) in enumerate(itertools.pairwise(PHASES)):
            now = datetime.now(UTC)
            weight = {"Canary": 10, "Promoting": 100}.get(b, 0)
            history.append(HistoryEntry(a, b, f"{b}Reached", f"{a} -> {b}", now, 1))
            value = 0.40 - 0.01 * step
            gate = GateStatus(
                GateResult("noclick-rate", Verdict.PASS, Evidence(value=value, threshold=0.45)), 0, now, b
            )
            after = Status(
                phase=Phase(b), weight=weight, last_analysis=now, gates=(gate,), history=tuple(history)
            )
            operator.observe(namespace, CANDIDATE, ROUTE, status, after)
            status = after
            for _ in range(3):
                for variant, noclick_every, scale in (("primary", 2, 0.002), ("canary", 3, 0.004)):
                    vm = router.variant(ROUTE, variant)
                    for i in range(10):
                        vm.duration.observe(scale * (1 + i % 4))
                        (vm.noclicks if i % noclick_every == 0 else vm.clicks).inc()
                time.sleep(1)
        yield history
    finally:
        for (job, address), server in zip(jobs, servers, strict=True):
            stack.remove_scrape_target(job, address)
            server.shutdown()


@pytest.fixture
def rolled_out(stack: Any, kube_api: client.ApiClient, namespace: str) -> Iterator[Status]:
    ensure_crd(kube_api)
    objects = client.CustomObjectsApi(kube_api)
    body = {
        "apiVersion": "shadowgate.dev/v1alpha1",
        "kind": "Candidate",
        "metadata": {"name": CANDIDATE, "namespace": namespace},
        "spec": {
            "target": {"deployment": "retriever", "route": ROUTE},
            "model": {"archiveUri": "file:///models/retriever-iyashikei.tar.gz", "version": "1.1.0"},
            "canary": {"steps": [10, 50]},
        },
    }
    objects.create_namespaced_custom_object("shadowgate.dev", "v1alpha1", namespace, "candidates", body)
    for history in run_rollout(namespace, stack):
        status = Status(
            phase=Phase.PROMOTED,
            reason="Promoted",
            weight=0,
            gates=(
                GateStatus(
                    GateResult("noclick-rate", Verdict.PASS, Evidence(value=0.35, threshold=0.45)),
                    0,
                    history[-1].time,
                    "Canary",
                ),
            ),
            history=tuple(history),
        )
        objects.patch_namespaced_custom_object_status(
            "shadowgate.dev", "v1alpha1", namespace, "candidates", CANDIDATE, {"status": status.to_dict()}
        )
        # The last samples must be in Prometheus before the report asks.
        # The last step's samples must be in Prometheus before the report asks.
        last_value = 0.40 - 0.01 * (len(PHASES) - 2)
        query = f'shadowgate_gate_value{{candidate="{CANDIDATE}", namespace="{namespace}"}}'
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=5).json()
            if r["data"]["result"] and abs(float(r["data"]["result"][0]["value"][1]) - last_value) < 1e-9:
                break
            time.sleep(0.5)
        yield status


def report(
    stack: Any, namespace: str, out: pathlib.Path, name: str = CANDIDATE
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "shadowgate", "report", name, "-n", namespace]
    argv += ["--prometheus", stack.prometheus_url, "--kubeconfig", stack.kubeconfig, "--out", str(out)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_report_from_api_server_and_prometheus(
    stack: Any, namespace: str, rolled_out: Status, tmp_path: pathlib.Path
) -> None:
    res = report(stack, namespace, tmp_path)
    assert res.returncode == 0, res.stderr
    # Every series the report draws was found: weight, gate values, latency, no-click rate.
    warnings = [ln for ln in res.stderr.splitlines() if "warning:" in ln]
    # The only series allowed to be missing is the one the operator may not export yet.
    assert all("no gate thresholds in Prometheus" in w for w in warnings), res.stderr
    png, html = (pathlib.Path(p) for p in res.stdout.split())
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000
    page = html.read_text()
    for h in rolled_out.history:
        assert h.reason in page
    assert "noclick-rate" in page and "Promoted" in page


def test_report_for_a_missing_candidate_names_it(
    stack: Any, kube_api: client.ApiClient, namespace: str, tmp_path: pathlib.Path
) -> None:
    ensure_crd(kube_api)
    res = report(stack, namespace, tmp_path, name="no-such-candidate")
    assert res.returncode == 1
    assert f"Candidate {namespace}/no-such-candidate not found" in res.stderr

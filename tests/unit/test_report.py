"""The rollout report: data gathering, PNG and HTML rendering, and the CLI's errors.

Prometheus is a fake ``RangeSource`` here (the integration test uses the real one); the
Candidate is built with the lifecycle's own status types, so its shape is the operator's."""

from __future__ import annotations

import json
import pathlib
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from shadowgate.cli.main import main
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import GateStatus, HistoryEntry, Status
from shadowgate.core.verdicts import Evidence, GateResult, InconclusiveReason, Verdict
from shadowgate.report import collect as collect_mod
from shadowgate.report.build import write_report
from shadowgate.report.model import ReportError, Series
from shadowgate.report.page import render_html
from shadowgate.report.render import render_png

T0 = datetime(2026, 11, 26, 1, 0, 0, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PHASES = [
    ("Pending", "Deploying", "Created"),
    ("Deploying", "Evaluating", "DeploymentReady"),
    ("Evaluating", "Shadow", "EvaluationPassed"),
    ("Shadow", "Canary", "ShadowPassed"),
    ("Canary", "RollingBack", "GateFailed"),
    ("RollingBack", "RolledBack", "RolledBack"),
]


def recorded_candidate(terminal: bool = True) -> dict[str, Any]:
    steps = PHASES if terminal else PHASES[:4]
    history = tuple(
        HistoryEntry(a, b, reason, f"{a} -> {b}", T0 + timedelta(seconds=40 * i), 1)
        for i, (a, b, reason) in enumerate(steps)
    )
    gates = (
        GateStatus(
            GateResult(
                "noclick-rate", Verdict.FAIL, Evidence(value=0.47, baseline_value=0.40, threshold=0.42)
            ),
            consecutive_failures=1,
            evaluated=T0 + timedelta(seconds=150),
            phase="Canary",
        ),
        GateStatus(
            GateResult("latency-p99", Verdict.PASS, Evidence(value=0.031, threshold=0.05)),
            0,
            T0 + timedelta(seconds=150),
            "Canary",
        ),
        GateStatus(
            GateResult(
                "slice-recall",
                Verdict.INCONCLUSIVE,
                Evidence(),
                reason=InconclusiveReason.INSUFFICIENT_SAMPLES,
            ),
            0,
            T0 + timedelta(seconds=150),
            "Canary",
        ),
    )
    phase = Phase(steps[-1][1])
    status = Status(
        phase=phase, reason=steps[-1][2], weight=0 if terminal else 10, gates=gates, history=history
    )
    return {
        "apiVersion": "shadowgate.dev/v1alpha1",
        "kind": "Candidate",
        "metadata": {"name": "bad-adapter", "namespace": "shop", "creationTimestamp": "2026-11-26T00:59:58Z"},
        "spec": {"target": {"deployment": "retriever", "route": "retriever"}},
        "status": status.to_dict(),
    }


class FakePrometheus:
    """Answers every query with a series per label value it recognises; records the queries."""

    def __init__(self, empty: bool = False) -> None:
        self.queries: list[str] = []
        self.empty = empty

    def query_range(self, expr: str, start: datetime, end: datetime, step_s: float) -> list[Series]:
        self.queries.append(expr)
        if self.empty:
            return []
        ts = [start.timestamp() + i * step_s for i in range(int((end - start).total_seconds() // step_s))]
        if "candidate_weight" in expr:
            return [
                Series(
                    (("candidate", "bad-adapter"),),
                    tuple((t, 10.0 if t > ts[len(ts) // 2] else 0) for t in ts),
                )
            ]
        if "gate_value" in expr or "gate_threshold" in expr:
            v = 0.42 if "threshold" in expr else 0.45
            return [Series((("gate", "noclick-rate"),), tuple((t, v) for t in ts))]
        if "model_server" in expr:
            return []
        return [
            Series((("variant", variant),), tuple((t, base) for t in ts))
            for variant, base in (("primary", 0.4), ("canary", 0.47))
        ]


def test_collect_window_follows_history() -> None:
    data = collect_mod.collect(recorded_candidate(), FakePrometheus(), now=T0 + timedelta(hours=1))
    # Created 2 s before the first transition; the last is at 200 s; 5 % of 202 s on each side.
    margin = timedelta(seconds=202 * 0.05)
    assert data.window.start == T0 - timedelta(seconds=2) - margin
    assert data.window.end == T0 + timedelta(seconds=200) + margin
    assert data.latency_source == "router"
    assert data.decided_impressions == {"primary": 0.4, "canary": 0.47}
    assert data.warnings == ()


def test_collect_filters_by_candidate_and_route() -> None:
    prom = FakePrometheus()
    collect_mod.collect(recorded_candidate(), prom, now=T0 + timedelta(hours=1))
    assert any('namespace="shop", candidate="bad-adapter"' in q for q in prom.queries)
    assert any('route="retriever"' in q and "noclicks_total" in q for q in prom.queries)


def test_running_candidate_window_ends_now() -> None:
    now = T0 + timedelta(seconds=170)
    data = collect_mod.collect(recorded_candidate(terminal=False), FakePrometheus(), now=now)
    assert data.window.end == now


def test_missing_metrics_become_warnings_not_failures() -> None:
    prom = FakePrometheus(empty=True)
    data = collect_mod.collect(recorded_candidate(), prom, now=T0 + timedelta(hours=1))
    assert any("weight" in w for w in data.warnings)
    assert any("latency" in w for w in data.warnings)
    # Latency falls back to the model servers' own histograms.
    assert any("model_server_request_duration_seconds_bucket" in q for q in prom.queries)
    assert render_png(data).startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda cr: cr["status"].update(history=[]), "no status history", id="no-history"),
        pytest.param(lambda cr: cr.pop("status"), "no status history", id="no-status"),
        pytest.param(lambda cr: cr["metadata"].pop("name"), "no metadata.name", id="no-name"),
        pytest.param(lambda cr: cr["status"].update(phase="Exploded"), "cannot read", id="unknown-phase"),
    ],
)
def test_bad_candidates_are_named(mutate: Any, message: str) -> None:
    cr = recorded_candidate()
    mutate(cr)
    with pytest.raises(ReportError, match=message):
        collect_mod.collect(cr, FakePrometheus(), now=T0 + timedelta(hours=1))


def test_html_is_self_contained_and_shows_decisions_and_gates() -> None:
    data = collect_mod.collect(recorded_candidate(), FakePrometheus(), now=T0 + timedelta(hours=1))
    png = render_png(data)
    page = render_html(data, png)
    assert "data:image/png;base64," in page
    for needle in ("GateFailed", "RolledBack", "noclick-rate", "0.47", "0.42", "InsufficientSamples"):
        assert needle in page, needle
    # Nothing fetched from elsewhere when the file is opened.
    for external in ("http://", "https://", "<script", "<link"):
        assert external not in page, external


def test_html_escapes_messages() -> None:
    cr = recorded_candidate()
    cr["status"]["history"][0]["message"] = "<script>alert(1)</script>"
    data = collect_mod.collect(cr, FakePrometheus(), now=T0 + timedelta(hours=1))
    assert "<script>" not in render_html(data, b"png")


def test_png_grows_with_gate_count() -> None:
    few = collect_mod.collect(recorded_candidate(), FakePrometheus(), now=T0 + timedelta(hours=1))
    cr = recorded_candidate()
    extra = cr["status"]["gates"][1]
    cr["status"]["gates"] += [dict(extra, name=f"g{i}") for i in range(6)]
    many = collect_mod.collect(cr, FakePrometheus(), now=T0 + timedelta(hours=1))
    import io

    from PIL import Image  # matplotlib depends on Pillow

    h_few = Image.open(io.BytesIO(render_png(few))).size[1]
    h_many = Image.open(io.BytesIO(render_png(many))).size[1]
    assert h_many > h_few


def test_write_report_writes_both_files(tmp_path: pathlib.Path) -> None:
    written = write_report(
        recorded_candidate(), FakePrometheus(), tmp_path / "out", now=T0 + timedelta(hours=1)
    )
    assert written.png.read_bytes().startswith(PNG_MAGIC)
    assert written.html.read_text().startswith("<!DOCTYPE html>")
    assert written.png.name == "shop-bad-adapter.png"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("argv", "file_content", "message"),
    [
        pytest.param(["bad-adapter", "-n", "shop"], None, "no Prometheus", id="no-prometheus"),
        pytest.param(
            ["bad-adapter", "--prometheus", "ftp://x", "--from-file", "{f}"],
            "cand",
            "http(s) URL",
            id="bad-url",
        ),
        pytest.param(
            ["bad-adapter", "--prometheus", "http://127.0.0.1:{port}", "--from-file", "{f}"],
            "cand",
            "unreachable",
            id="prometheus-down",
        ),
        pytest.param(
            ["bad-adapter", "--prometheus", "http://127.0.0.1:9", "--from-file", "{f}"],
            "{not json",
            "not valid JSON",
            id="file-not-json",
        ),
        pytest.param(
            ["bad-adapter", "--prometheus", "http://127.0.0.1:9", "--from-file", "{f}"],
            '{"kind": "Deployment"}',
            "does not hold a Candidate",
            id="file-not-candidate",
        ),
        pytest.param(
            ["other", "--prometheus", "http://127.0.0.1:9", "--from-file", "{f}"],
            "cand",
            "not 'other'",
            id="name-mismatch",
        ),
        pytest.param(
            ["bad-adapter", "--prometheus", "http://127.0.0.1:9", "--from-file", "{missing}"],
            None,
            "cannot read",
            id="file-missing",
        ),
        pytest.param(
            ["bad-adapter", "--prometheus", "http://127.0.0.1:9", "--kubeconfig", "{missing}"],
            None,
            "cannot load kubeconfig",
            id="bad-kubeconfig",
        ),
    ],
)
def test_cli_errors_name_the_problem(
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    file_content: str | None,
    message: str,
) -> None:
    monkeypatch.delenv("SHADOWGATE_PROMETHEUS_URL", raising=False)
    f = tmp_path / "cand.json"
    if file_content == "cand":
        f.write_text(json.dumps(recorded_candidate()))
    elif file_content is not None:
        f.write_text(file_content)
    values = {"f": str(f), "missing": str(tmp_path / "nope.json"), "port": str(_closed_port())}
    rc = main(["report", *[a.format(**values) for a in argv], "--out", str(tmp_path / "out")])
    assert rc == 1
    assert message in capsys.readouterr().err

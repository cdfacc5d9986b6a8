"""The shipped Grafana dashboard: one source, current schema, the issue's panels, PromQL that parses."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from shadowgate.report import dashboard

PROMTOOL = shutil.which("promtool")


def check_exprs(tmp_path: pathlib.Path, exprs: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``promtool check rules`` on a rules file holding each expression as a recording rule:
    promtool parses every expression with Prometheus's own parser, offline."""
    rules = {
        "groups": [
            {
                "name": "parse-check",
                "rules": [{"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "exprs.rules.yaml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    assert PROMTOOL, "promtool is not installed (hack/bootstrap.sh installs Debian's prometheus)"
    return subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )


ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "charts" / "shadowgate" / "files" / "shadowgate-dashboard.json"
COPY = ROOT / "deploy" / "grafana" / "shadowgate-dashboard.json"


def _dash() -> dict:
    return json.loads(SOURCE.read_text())


def test_deploy_copy_is_identical_to_chart_source() -> None:
    assert COPY.read_bytes() == SOURCE.read_bytes(), f"re-copy: cp {SOURCE} {COPY}"


def test_default_path_is_the_chart_source() -> None:
    assert dashboard.DEFAULT_PATH == SOURCE


def test_current_schema_and_unique_panel_ids() -> None:
    d = _dash()
    assert d["schemaVersion"] >= 39
    assert d["uid"] and d["title"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]), p["title"]
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]


def test_templating_variables() -> None:
    names = dashboard.variable_names(_dash())
    assert {"namespace", "target", "candidate"} <= set(names)


# What the issue asks the dashboard to show, as (what, a metric or function a panel must use).
@pytest.mark.parametrize(
    ("needle"),
    [
        pytest.param("shadowgate_candidate_phase", id="timeline-phase"),
        pytest.param("shadowgate_candidate_weight", id="timeline-weight"),
        pytest.param("shadowgate_gate_value", id="gate-value"),
        pytest.param("shadowgate_gate_threshold", id="gate-threshold"),
        pytest.param("shadowgate_gate_verdict", id="gate-verdict"),
        pytest.param("histogram_quantile(0.5,", id="latency-p50"),
        pytest.param("histogram_quantile(0.95,", id="latency-p95"),
        pytest.param("histogram_quantile(0.99,", id="latency-p99"),
        pytest.param("shadowgate_router_noclicks_total", id="noclick-rate"),
        pytest.param("shadowgate_router_impressions_total", id="ctr"),
        pytest.param("shadowgate_router_shadow_top1_match_total", id="shadow-agreement"),
        pytest.param("shadowgate_router_mirror_total", id="mirror-drops"),
        pytest.param("shadowgate_reconcile_errors_total", id="reconcile-errors"),
    ],
)
def test_issue_panels_present(needle: str) -> None:
    assert any(needle in q.expr for q in dashboard.queries(SOURCE)), needle


def test_latency_is_per_variant() -> None:
    latency = [
        q
        for q in dashboard.queries(SOURCE)
        if "histogram_quantile" in q.expr and "request_duration" in q.expr
    ]
    assert latency and all("variant" in q.expr for q in latency)


def test_samples_panel_counts_decided_impressions() -> None:
    samples = [q for q in dashboard.queries(SOURCE) if "samples" in q.panel.lower()]
    assert samples
    assert "clicks_total" in samples[0].expr and "noclicks_total" in samples[0].expr


def test_every_query_parses_with_promtool(tmp_path: pathlib.Path) -> None:
    qs = dashboard.queries(SOURCE)
    assert len(qs) >= 15
    res = check_exprs(tmp_path, [q.expr for q in qs])
    assert res.returncode == 0, res.stdout + res.stderr


def test_parse_check_rejects_broken_promql(tmp_path: pathlib.Path) -> None:
    # The checker itself must be able to fail.
    res = check_exprs(tmp_path, ["sum by (variant (rate(x[1m]))"])
    assert res.returncode != 0


def test_no_variable_left_after_substitution() -> None:
    for q in dashboard.queries(SOURCE):
        assert "$" not in q.expr, q


def test_explicit_variables_win() -> None:
    qs = dashboard.queries(SOURCE, {"candidate": "iyashikei-adapter"})
    assert any('candidate=~"iyashikei-adapter"' in q.expr for q in qs)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "not found", id="missing-file"),
        pytest.param("{not json", "not valid JSON", id="not-json"),
        pytest.param('{"title": "x"}', "no 'panels' list", id="no-panels"),
        pytest.param(
            '{"panels": [{"title": "p", "targets": [{"refId": "A", "expr": "up{x=\\"$nope\\"}"}]}]}',
            "unknown variable $nope",
            id="unknown-variable",
        ),
    ],
)
def test_bad_dashboard_files(tmp_path: pathlib.Path, content: str | None, message: str) -> None:
    path = tmp_path / "d.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(dashboard.DashboardError, match=message.replace("$", r"\$")):
        dashboard.queries(path)


def _fake_prometheus(answers: dict[str, Any]) -> Any:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        expr = request.url.params["query"]
        for needle, answer in answers.items():
            if needle in expr:
                return httpx.Response(200, json=answer)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": []}})

    return httpx.Client(transport=httpx.MockTransport(handler))


def _vector(value: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]},
    }


@pytest.mark.parametrize(
    ("answers", "expected_reasons"),
    [
        pytest.param({"": _vector("1")}, set(), id="all-data"),
        pytest.param({}, {"no data"}, id="empty"),
        pytest.param({"": _vector("NaN")}, {"no data"}, id="only-nan"),
        pytest.param(
            {"": {"status": "error", "error": "parse error"}}, {"Prometheus error: parse error"}, id="error"
        ),
    ],
)
def test_without_data(answers: dict[str, Any], expected_reasons: set[str]) -> None:
    problems = dashboard.without_data("http://prom", SOURCE, client=_fake_prometheus(answers))
    assert {reason for _, reason in problems} == expected_reasons
    if expected_reasons:
        assert len(problems) == len(dashboard.queries(SOURCE))

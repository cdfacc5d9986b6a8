"""Alert rules: one source for the plain rules file and the PrometheusRule, valid and unit-tested
with promtool, covering every alert the issue asks for."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "charts" / "shadowgate" / "files" / "alerts.yaml"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yaml"
PROMTOOL = shutil.which("promtool")


def _promtool(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, "promtool is not installed (hack/bootstrap.sh installs Debian's prometheus)"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False, cwd=cwd)


def _alerts() -> dict[str, dict]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def test_plain_rules_file_is_identical_to_chart_source() -> None:
    assert RULES.read_bytes() == SOURCE.read_bytes(), f"re-copy: cp {SOURCE} {RULES}"


def test_promtool_check_rules() -> None:
    res = _promtool("check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(_alerts())} rules found" in res.stdout


def test_promtool_unit_tests_pass() -> None:
    res = _promtool("test", "rules", str(RULE_TESTS))
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_unit_tests_can_fail(tmp_path: pathlib.Path) -> None:
    # Break one alert's threshold in a copy: the same unit tests must now fail.
    broken = RULES.read_text().replace("> 0.05", "> 0.5")
    assert broken != RULES.read_text()
    (tmp_path / "alerts.yaml").write_text(broken)
    (tmp_path / "alerts_test.yaml").write_text(RULE_TESTS.read_text())
    res = _promtool("test", "rules", "alerts_test.yaml", cwd=tmp_path)
    assert res.returncode != 0
    assert "ShadowgateMirrorDropRateHigh" in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("alert", "metric"),
    [
        pytest.param("ShadowgateCandidateRolledBack", "shadowgate_candidate_phase", id="rolled-back"),
        pytest.param(
            "ShadowgateGateInconclusiveTooLong", "shadowgate_gate_verdict", id="inconclusive-too-long"
        ),
        pytest.param("ShadowgateOperatorDown", "shadowgate_reconcile_errors_total", id="operator-down"),
        pytest.param(
            "ShadowgateOperatorReconcileErrors", "shadowgate_reconcile_errors_total", id="operator-errors"
        ),
        pytest.param("ShadowgateMirrorDropRateHigh", "shadowgate_router_mirror_total", id="mirror-drops"),
        pytest.param(
            "ShadowgatePrimaryErrorsDuringCanary", "shadowgate_router_requests_total", id="primary-errors"
        ),
    ],
)
def test_issue_alerts_present_and_unit_tested(alert: str, metric: str) -> None:
    rule = _alerts()[alert]
    assert metric in rule["expr"]
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    # Every alert has at least one promtool case.
    assert f"alertname: {alert}" in RULE_TESTS.read_text()

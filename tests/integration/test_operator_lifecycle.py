"""The operator end to end on the real API server, under its own least-privilege identity.

A real ``kopf run`` process reconciles Candidates; the node agent runs the model-server Pods as
local processes; gate values and sample counts come from a real Prometheus scraping counters
this test serves on loopback (so the evidence is deterministic).
"""

from __future__ import annotations

import httpx
import pytest
import test_operator_support as support
from test_operator_support import BASE_ARCHIVE, GOOD_ARCHIVE, Env, OperatorProcess, eventually
from test_operator_support import assert_no_duplicate_transitions as no_duplicates

pytestmark = pytest.mark.integration

# Fixtures, by name: evidence, operator, server_script, env.
evidence_fixture = support.evidence_fixture
operator_fixture = support.operator_fixture
server_script_fixture = support.server_script_fixture
env_fixture = support.env_fixture


def test_good_candidate_is_promoted_on_prometheus_evidence(env: Env, operator: OperatorProcess) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("adapter", env.spec())
    env.wait_phase("adapter", "Shadow")
    table = env.table()
    assert (table["shadow"]["service"], table["mirrorPercent"], table["canaryWeight"]) == (
        "adapter-cand",
        100,
        0,
    )
    env.wait_phase("adapter", "Canary")
    assert eventually(lambda: env.table()["canaryWeight"] in (20, 60), 10, "canary weight set")
    status = env.wait_phase("adapter", "Promoted", timeout=120)
    assert env.production_archive() == GOOD_ARCHIVE
    table = env.table()
    assert (table["canary"], table["canaryWeight"], table["shadow"]) == (None, 0, None)
    assert [h["to"] for h in status["history"]] == ["Deploying", "Shadow", "Canary", "Promoting", "Promoted"]
    no_duplicates(status)
    gate = next(g for g in status["gates"] if g["name"] == "error-ratio")
    assert gate["verdict"] == "Pass" and gate["evidence"]["value"] == pytest.approx(0.05)
    assert status["baseline"]["archiveUri"] == BASE_ARCHIVE
    assert eventually(lambda: not env.candidate_deployment_exists("adapter"), 30, "candidate removed")
    reasons = eventually(
        lambda: (
            {"DeploymentReady", "ShadowStarted", "StepAdvanced", "Promoted"} <= set(env.events("adapter"))
            and env.events("adapter")
        ),
        20,
        "events",
    )
    assert "Promoted" in reasons
    metrics = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics").text
    assert 'shadowgate_transitions_total{from="Promoting",to="Promoted"}' in metrics
    assert (
        f'shadowgate_gate_value{{candidate="adapter",gate="error-ratio",namespace="{env.ns}"}} 0.05'
        in metrics
    )
    assert (
        f'shadowgate_candidate_weight{{candidate="adapter",namespace="{env.ns}",target="retriever"}} 0.0'
        in metrics
    )
    assert 'shadowgate_candidates{phase="Promoted"}' in metrics


def test_failing_gate_rolls_back_and_production_is_untouched(env: Env, operator: OperatorProcess) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.9)
    env.production()
    env.create("bad", env.spec())
    status = env.wait_phase("bad", "RolledBack")
    assert status["reason"] == "RolledBack" and "gate error-ratio Fail value=0.9" in status["message"]
    gate = next(g for g in status["gates"] if g["name"] == "error-ratio")
    assert (gate["verdict"], gate["evidence"]["value"], gate["evidence"]["threshold"]) == ("Fail", 0.9, 0.2)
    assert [h["to"] for h in status["history"]][-2:] == ["RollingBack", "RolledBack"]
    assert env.production_archive() == BASE_ARCHIVE
    table = env.table()
    assert (table["canary"], table["canaryWeight"], table["shadow"], table["mirrorPercent"]) == (
        None,
        0,
        None,
        0,
    )
    assert eventually(lambda: not env.candidate_deployment_exists("bad"), 30, "candidate removed")
    assert "GateFailed" in eventually(lambda: env.events("bad"), 20, "events")
    metrics = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics").text
    count = next(
        line for line in metrics.splitlines() if line.startswith("shadowgate_rollback_seconds_count")
    )
    assert float(count.split()[-1]) >= 1  # decisive failure -> weight 0 was measured


def test_missing_data_holds_and_never_promotes(env: Env) -> None:
    env.production()
    env.create("nodata", env.spec(gate_metric="sgtest_metric_nobody_exports"))
    status = env.wait_phase("nodata", "Shadow")
    status = eventually(
        lambda: env.status("nodata").get("inconclusiveCount", 0) >= 3 and env.status("nodata"),
        30,
        "several inconclusive analyses",
    )
    assert status["phase"] == "Shadow" and status["reason"] == "GateInconclusive"
    gate = next(g for g in status["gates"] if g["name"] == "error-ratio")
    assert (gate["verdict"], gate["reason"]) == ("Inconclusive", "NoData")
    assert env.production_archive() == BASE_ARCHIVE


def test_missing_target_fails_and_creates_nothing(env: Env) -> None:
    env.create("orphan", env.spec())
    status = env.wait_phase("orphan", "Failed")
    assert status["reason"] == "TargetNotFound" and "retriever" in status["message"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "TargetNotFound"
    assert not env.candidate_deployment_exists("orphan")


def test_unreachable_archive_fails_after_deploy_timeout(env: Env) -> None:
    env.production()
    spec = env.spec(policy={"deployTimeout": "6s"})
    spec["model"]["archiveUri"] = "file:///models/unreachable-adapter"
    env.create("broken", spec)
    status = env.wait_phase("broken", "Failed")
    assert status["reason"] == "DeploymentTimedOut"
    assert env.production_archive() == BASE_ARCHIVE
    assert env.table()["version"] == 1  # the route table was never written
    assert eventually(lambda: not env.candidate_deployment_exists("broken"), 30, "candidate removed")


def test_evaluation_that_cannot_run_holds_then_policy_rolls_back(env: Env) -> None:
    env.production()
    spec = env.spec(
        evaluation={"goldenSet": {"configMap": "no-such-golden-set"}},
        policy={"inconclusive": {"action": "rollback", "limit": 3}},
    )
    spec["gates"] = {
        "extra": [
            {
                "name": "recall",
                "kind": "threshold",
                "source": "evaluation",
                "metric": "retrieval.global.recall@3",
                "min": 0.5,
            }
        ]
    }
    env.create("noeval", spec)
    env.wait_phase("noeval", "Evaluating")
    status = env.wait_phase("noeval", "RolledBack")
    assert [h["to"] for h in status["history"]] == ["Deploying", "Evaluating", "RollingBack", "RolledBack"]
    rollback = status["history"][2]
    assert (
        rollback["reason"] == "InconclusiveLimit"
        and "gate recall Inconclusive (QueryError)" in rollback["message"]
    )
    gate = next(g for g in status["gates"] if g["name"] == "recall")
    assert gate["phase"] == "Evaluating" and "no-such-golden-set" in gate["message"]
    assert env.production_archive() == BASE_ARCHIVE
    assert env.table()["version"] == 1  # routing was never touched before live traffic

"""Faults around a rollout, on the real API server with a real operator process.

- Prometheus unreachable (the operator's URL is a loopback port where nothing listens): gates
  are Inconclusive with a reason naming Prometheus, the Candidate holds for many analysis
  intervals and never promotes; with ``inconclusive.action: rollback`` it rolls back; pointed
  back at the real Prometheus, the same Candidate goes on to Promoted.
- The evaluation source unreachable (the model server's management port refuses connections):
  the Candidate holds in Evaluating and routing is never touched.
- A promotion whose production rollout never becomes Available: PromotionTimedOut puts
  production's template back to what it served before, unless someone else changed it; a
  Candidate deleted mid-promotion takes its promotion back too.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import test_operator_support as support
from kubernetes import client
from shadowgate.devstack.stack import Stack
from test_operator_support import (
    BASE_ARCHIVE,
    GOOD_ARCHIVE,
    GROUP,
    PLURAL,
    VERSION,
    Env,
    OperatorProcess,
    eventually,
    free_port,
)
from test_operator_support import assert_no_duplicate_transitions as no_duplicates

pytestmark = pytest.mark.integration

# Fixtures, by name: evidence, operator, env (server_script is this module's own, below).
evidence_fixture = support.evidence_fixture
operator_fixture = support.operator_fixture
env_fixture = support.env_fixture

# The support module's stand-in model server, except that a production Pod (any variant but the
# candidate's ``canary``) on an archive whose path contains ``never-ready`` fails its readiness
# probe: the candidate runs fine, the same model promoted into production never gets Available.
FAULTS_MODEL_SERVER = support.FAKE_MODEL_SERVER.replace(
    "class H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        body = archive.encode()\n"
    "        self.send_response(200)",
    "ready = 'never-ready' not in archive or os.environ.get('SHADOWGATE_VARIANT') == 'canary'\n"
    "class H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        body = archive.encode()\n"
    "        self.send_response(200 if ready else 503)",
)
NEVER_READY_ARCHIVE = "file:///models/retriever-never-ready-adapter"
HOTFIX_ARCHIVE = "file:///models/retriever-hotfix"


@pytest.fixture(name="server_script", scope="module")
def server_script_fixture(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    assert "200 if ready else 503" in FAULTS_MODEL_SERVER  # the replacement above took
    path = tmp_path_factory.mktemp("model-server") / "faults_model_server.py"
    path.write_text(FAULTS_MODEL_SERVER)
    return path


def _restart(operator: OperatorProcess, prometheus_url: str) -> None:
    operator.stop()
    operator.prometheus_url = prometheus_url
    operator.start()


@pytest.fixture(name="blind")
def blind_fixture(operator: OperatorProcess, stack: Stack) -> Iterator[str]:
    """The operator restarted with a Prometheus URL where nothing listens; restored after."""
    dead = f"http://127.0.0.1:{free_port()}"
    _restart(operator, dead)
    try:
        yield dead
    finally:
        if operator.prometheus_url != stack.prometheus_url:
            _restart(operator, stack.prometheus_url)


def _watch(env: Env, name: str, seconds: float) -> list[tuple[str, int, int]]:
    """(phase, status weight, route table canary weight) sampled over ``seconds`` of real time."""
    seen: list[tuple[str, int, int]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = env.status(name)
        seen.append((status.get("phase", ""), status.get("weight", 0), env.table().get("canaryWeight", 0)))
        time.sleep(0.5)
    return seen


def _gate(status: dict[str, Any], name: str = "error-ratio") -> dict[str, Any]:
    gate: dict[str, Any] = next(g for g in status["gates"] if g["name"] == name)
    return gate


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    condition: dict[str, Any] = next(c for c in status["conditions"] if c["type"] == kind)
    return condition


def test_unreachable_prometheus_holds_never_promotes_then_proceeds(
    env: Env, operator: OperatorProcess, stack: Stack, blind: str
) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)  # a passing value, if anyone could read it
    env.production()
    env.create("blind", env.spec())  # analysis every 1 s; shadow needs 3 s and 5 mirrored requests
    env.wait_phase("blind", "Shadow")
    seen = _watch(env, "blind", 10)  # about ten analysis intervals
    assert {phase for phase, _, _ in seen} == {"Shadow"}, seen
    assert {(weight, table) for _, weight, table in seen} == {(0, 0)}, seen
    status = env.status("blind")
    assert status["inconclusiveCount"] >= 5 and status["reason"] == "GateInconclusive"
    gate = _gate(status)
    assert (gate["verdict"], gate["reason"]) == ("Inconclusive", "QueryError")
    assert "prometheus unreachable" in gate["message"]
    gates = _condition(status, "GatesPassing")
    assert (gates["status"], gates["reason"]) == ("Unknown", "GateInconclusive")
    assert "prometheus unreachable" in gates["message"]
    assert "prometheus unreachable" in _condition(status, "Progressing")["message"]
    assert "GateInconclusive" in eventually(lambda: env.events("blind"), 20, "events")
    assert env.production_archive() == BASE_ARCHIVE

    _restart(operator, stack.prometheus_url)  # Prometheus is back: the same rollout goes on
    status = env.wait_phase("blind", "Promoted", timeout=150)
    assert [h["to"] for h in status["history"]] == ["Deploying", "Shadow", "Canary", "Promoting", "Promoted"]
    no_duplicates(status)
    assert _gate(status)["verdict"] == "Pass"
    assert env.production_archive() == GOOD_ARCHIVE


def test_prolonged_unreachable_prometheus_rolls_back_when_policy_says_so(env: Env, blind: str) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("impatient", env.spec(policy={"inconclusive": {"action": "rollback", "limit": 3}}))
    status = env.wait_phase("impatient", "RolledBack")
    assert [h["to"] for h in status["history"]] == ["Deploying", "Shadow", "RollingBack", "RolledBack"]
    rollback = status["history"][2]
    assert rollback["reason"] == "InconclusiveLimit" and "prometheus unreachable" in rollback["message"]
    table = env.table()
    assert (table["canary"], table["canaryWeight"], table["shadow"], table["mirrorPercent"]) == (
        None,
        0,
        None,
        0,
    )
    assert env.production_archive() == BASE_ARCHIVE
    assert eventually(lambda: not env.candidate_deployment_exists("impatient"), 30, "candidate removed")


def test_unreachable_evaluation_source_holds_in_evaluating(env: Env) -> None:
    env.production()
    lines = (support.ROOT / "data" / "golden" / "intents.jsonl").read_text().splitlines()[:12]
    golden = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="golden"), data={"intents.jsonl": "\n".join(lines) + "\n"}
    )
    env.core.create_namespaced_config_map(env.ns, golden)
    spec = env.spec(evaluation={"goldenSet": {"configMap": "golden"}})
    # The stand-in model server has no management port (8081): the evaluator cannot reach it.
    spec["gates"] = {
        "extra": [
            {
                "name": "accuracy",
                "kind": "threshold",
                "source": "evaluation",
                "metric": "classification.accuracy",
                "min": 0.5,
            }
        ]
    }
    env.create("unevaluated", spec)
    env.wait_phase("unevaluated", "Evaluating")
    seen = _watch(env, "unevaluated", 8)
    assert {phase for phase, _, _ in seen} == {"Evaluating"}, seen
    status = env.status("unevaluated")
    assert status["inconclusiveCount"] >= 4
    gate = _gate(status, "accuracy")
    assert (gate["verdict"], gate["reason"]) == ("Inconclusive", "QueryError")
    assert "evaluation failed" in gate["message"]
    assert "evaluation failed" in _condition(status, "GatesPassing")["message"]
    assert env.table()["version"] == 1  # no live traffic was touched
    assert env.production_archive() == BASE_ARCHIVE


def _production(env: Env) -> dict[str, Any]:
    """The production Deployment as the API server returns it (camelCase keys)."""
    deployment = env.apps.read_namespaced_deployment("retriever", env.ns)
    out: dict[str, Any] = env.apps.api_client.sanitize_for_serialization(deployment)
    return out


def _promoting_to_never_ready(env: Env, name: str, timeout: str = "8s") -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    spec = env.spec(policy={"deployTimeout": "60s", "promoteTimeout": timeout})
    spec["model"]["archiveUri"] = NEVER_READY_ARCHIVE
    env.create(name, spec)
    env.wait_phase(name, "Promoting", timeout=120)
    eventually(lambda: env.production_archive() == NEVER_READY_ARCHIVE, 20, "promotion written")


def test_promotion_that_never_becomes_available_reverts_production(env: Env) -> None:
    _promoting_to_never_ready(env, "stuck")
    status = env.wait_phase("stuck", "Failed", timeout=60)
    assert status["reason"] == "PromotionTimedOut"
    assert "production rollout not Available within 8s" in status["message"]
    assert "Pods on the new template" in status["message"]  # the rollout evidence
    assert "back to what it served before (version 1.0.0)" in status["message"]
    assert status["productionBefore"]["args"] == ["--archive", BASE_ARCHIVE, "--variant", "primary"]
    assert [h["to"] for h in status["history"]][-2:] == ["Promoting", "Failed"]
    no_duplicates(status)
    production = _production(env)
    container = production["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--archive", BASE_ARCHIVE, "--variant", "primary"]
    assert production["metadata"]["annotations"]["shadowgate.dev/version"] == "1.0.0"
    assert "shadowgate.dev/archive" not in production["metadata"]["annotations"]
    assert not production["spec"]["template"]["metadata"].get("annotations")
    table = env.table()
    assert (table["canary"], table["canaryWeight"], table["shadow"]) == (None, 0, None)
    assert eventually(lambda: not env.candidate_deployment_exists("stuck"), 30, "candidate removed")

    def settled() -> bool:  # the never-ready Pod is gone and the baseline serves alone
        s = _production(env).get("status") or {}
        return (s.get("replicas"), s.get("updatedReplicas"), s.get("availableReplicas")) == (1, 1, 1)

    eventually(settled, 60, "production back on the baseline, Available")
    assert "PromotionTimedOut" in eventually(lambda: env.events("stuck"), 20, "events")


def test_promotion_timeout_leaves_a_foreign_change_alone(env: Env) -> None:
    _promoting_to_never_ready(env, "overtaken")
    # Someone rolls production to a hotfix while the operator waits for its rollout.
    env.apps.patch_namespaced_deployment(
        "retriever",
        env.ns,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "model-server",
                                "args": ["--archive", HOTFIX_ARCHIVE, "--variant", "primary"],
                            }
                        ]
                    }
                }
            }
        },
    )
    status = env.wait_phase("overtaken", "Failed", timeout=60)
    assert status["reason"] == "PromotionTimedOut" and "changed by someone else" in status["message"]
    assert env.production_archive() == HOTFIX_ARCHIVE
    assert "ProductionChanged" in eventually(lambda: env.events("overtaken"), 20, "events")
    table = env.table()
    assert (table["canary"], table["canaryWeight"], table["shadow"]) == (None, 0, None)


def test_deleting_a_candidate_mid_promotion_takes_the_promotion_back(env: Env) -> None:
    _promoting_to_never_ready(env, "withdrawn", timeout="10m")
    env.objects.delete_namespaced_custom_object(GROUP, VERSION, env.ns, PLURAL, "withdrawn")

    def deleted() -> bool:
        try:
            env.get("withdrawn")
        except client.ApiException as err:
            return err.status == 404
        return False

    eventually(deleted, 30, "Candidate deleted (finalizer done)")
    assert env.production_archive() == BASE_ARCHIVE
    table = env.table()
    assert (table["canary"], table["canaryWeight"], table["shadow"]) == (None, 0, None)
    assert eventually(lambda: not env.candidate_deployment_exists("withdrawn"), 30, "candidate removed")

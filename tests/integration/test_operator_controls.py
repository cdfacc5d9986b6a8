"""Queueing, manual controls, the finalizer, spec changes and ``kill -9`` of the operator,
against the real API server with a real operator process (fixtures from the lifecycle module)."""

from __future__ import annotations

import pytest
import test_operator_support as support
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
)
from test_operator_support import assert_no_duplicate_transitions as no_duplicates

pytestmark = pytest.mark.integration

# Fixtures, by name: evidence, operator, server_script, env.
evidence_fixture = support.evidence_fixture
operator_fixture = support.operator_fixture
server_script_fixture = support.server_script_fixture
env_fixture = support.env_fixture


def slow(env: Env, **changes: object) -> dict[str, object]:
    """A spec whose phases last long enough for a test to act in the middle of them."""
    spec = env.spec(**changes)
    spec["shadow"] = {"duration": "6s", "minRequests": 5}
    spec["canary"] = {"steps": [20, 60], "stepDuration": "6s", "minSamples": 5}
    return spec


def test_second_candidate_waits_queued_until_the_first_finishes(env: Env) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("first", slow(env))
    env.wait_phase("first", "Deploying", "Shadow")
    env.create("second", slow(env))
    status = env.wait_phase("second", "Queued")
    assert "1 candidate(s) ahead" in status["message"]
    assert not env.candidate_deployment_exists("second")
    env.patch("first", {"abort": True})
    env.wait_phase("first", "Aborted")
    env.wait_phase("second", "Deploying", "Shadow")


def test_pause_resume_and_approve(env: Env) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("manual", slow(env, policy={"promotion": "manual"}))
    env.wait_phase("manual", "Shadow")
    env.patch("manual", {"paused": True})
    status = env.wait_phase("manual", "Paused")
    assert (
        status["pausedFrom"] == "Shadow" and env.table()["mirrorPercent"] == 100
    )  # routes frozen as they were
    env.patch("manual", {"paused": False})
    env.wait_phase("manual", "Shadow", "Canary")
    status = eventually(
        lambda: env.status("manual").get("reason") == "AwaitingApproval" and env.status("manual"),
        60,
        "waiting for approval after the last step",
    )
    assert status["phase"] == "Canary" and status["weight"] == 60
    env.patch("manual", {"approve": True})
    status = env.wait_phase("manual", "Promoted")
    assert env.production_archive() == GOOD_ARCHIVE
    assert [h["to"] for h in status["history"]] == [
        "Deploying",
        "Shadow",
        "Paused",
        "Shadow",
        "Canary",
        "Promoting",
        "Promoted",
    ]


def test_abort_restores_production_routing(env: Env) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("stop", slow(env))
    env.wait_phase("stop", "Canary")
    env.patch("stop", {"abort": True})
    env.wait_phase("stop", "Aborted")
    table = env.table()
    assert (table["canary"], table["canaryWeight"], table["shadow"]) == (None, 0, None)
    assert env.production_archive() == BASE_ARCHIVE
    assert eventually(lambda: not env.candidate_deployment_exists("stop"), 30, "candidate removed")


def test_deleting_mid_canary_restores_routing_then_removes_resources(env: Env) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("gone", slow(env))
    env.wait_phase("gone", "Canary")
    assert env.table()["canaryWeight"] > 0
    assert "shadowgate.dev/finalizer" in env.get("gone")["metadata"]["finalizers"]
    env.objects.delete_namespaced_custom_object(GROUP, VERSION, env.ns, PLURAL, "gone")

    def deleted() -> bool:
        try:
            env.get("gone")
        except Exception as err:  # kubernetes ApiException 404
            return getattr(err, "status", None) == 404
        return False

    eventually(deleted, 30, "Candidate deleted (finalizer done)")
    table = env.table()
    assert (table["canary"], table["canaryWeight"], table["shadow"]) == (None, 0, None)
    assert eventually(lambda: not env.candidate_deployment_exists("gone"), 30, "candidate removed")
    assert env.production_archive() == BASE_ARCHIVE


def test_spec_change_restarts_from_deploying(env: Env) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("edit", slow(env))
    env.wait_phase("edit", "Shadow", "Canary")
    env.patch("edit", {"model": {"version": "1.2.0"}})
    status = eventually(
        lambda: (
            any(h["reason"] == "SpecChanged" for h in env.status("edit").get("history", []))
            and env.status("edit")
        ),
        30,
        "SpecChanged in history",
    )
    restart = next(h for h in status["history"] if h["reason"] == "SpecChanged")
    assert restart["to"] == "Deploying" and restart["generation"] == 2
    assert status["observedGeneration"] == 2
    status = env.wait_phase("edit", "Promoted", timeout=120)
    no_duplicates(status)


@pytest.mark.parametrize(
    "phase", [pytest.param("Shadow", id="mid-shadow"), pytest.param("Canary", id="mid-canary")]
)
def test_kill_9_resumes_to_the_same_outcome(env: Env, operator: OperatorProcess, phase: str) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("sturdy", slow(env))
    env.wait_phase("sturdy", phase)
    operator.kill9()
    before = env.status("sturdy")
    operator.start()
    status = env.wait_phase("sturdy", "Promoted", timeout=150)
    no_duplicates(status)
    assert [h["to"] for h in status["history"]] == ["Deploying", "Shadow", "Canary", "Promoting", "Promoted"]
    assert status["history"][: len(before["history"])] == before["history"]
    assert env.production_archive() == GOOD_ARCHIVE


def _restart_api_server(stack: Stack) -> None:
    """Stop the API server and start it again on the same port, as the stack started it."""
    stack.restart("kube-apiserver")


def test_operator_reconnects_after_an_api_server_restart(env: Env, stack: Stack) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("survivor", slow(env))
    env.wait_phase("survivor", "Shadow")
    _restart_api_server(stack)

    def serving() -> bool:
        try:
            env.status("survivor")
            return True
        except Exception:
            return False

    eventually(serving, 90, "the API server serving again")
    status = env.wait_phase("survivor", "Promoted", timeout=150)
    no_duplicates(status)
    assert env.production_archive() == GOOD_ARCHIVE


def test_candidate_that_stops_serving_in_shadow_fails_and_routing_is_restored(env: Env) -> None:
    env.evidence.error_ratio.labels(env.ns).set(0.05)
    env.production()
    env.create("dies", slow(env))
    env.wait_phase("dies", "Shadow")
    # The candidate's process goes away (scaled to zero behind the operator's back).
    env.apps.patch_namespaced_deployment("dies-cand", env.ns, {"spec": {"replicas": 0}})
    status = env.wait_phase("dies", "Failed")
    assert status["reason"] == "CandidateUnavailable"
    table = env.table()
    assert (table["shadow"], table["mirrorPercent"], table["canary"]) == (None, 0, None)
    assert env.production_archive() == BASE_ARCHIVE

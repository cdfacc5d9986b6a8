"""Promotion that records production first and reverts it on PromotionTimedOut.

The transition table for Promoting, replays of a ``kill -9`` between applying actions and
patching status, the template helpers (promote then revert is the identity on production's
Deployment), and the controller driving a promotion that never becomes Available, with fakes.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from lifecycle_support import SPEC, T0, events, obs, ok, st
from shadowgate.controller import candidate, reconcile, workload
from shadowgate.controller import production as prod
from shadowgate.core.lifecycle import observations as o
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.production import State, Template, classify
from shadowgate.core.lifecycle.status import Status
from shadowgate.core.lifecycle.transition import transition
from shadowgate.kube.base import Obj
from shadowgate.traffic import router_table
from test_controller import FLAGS, FakeDeployments, body_for, harness, production, run, spec

BEFORE = Template(
    container="model-server",
    command=("model-server",),
    args=("--archive", "file:///models/base", "--variant", "primary"),
    annotations=(("shadowgate.dev/version", "1.0.0"),),
)
PROMOTED = Template(
    container="model-server",
    command=("model-server",),
    args=("--archive", "file:///models/adapter", "--variant", "primary"),
    annotations=(("shadowgate.dev/archive", "file:///models/adapter"), ("shadowgate.dev/version", "1.1.0")),
    pod_annotations=(
        ("shadowgate.dev/archive", "file:///models/adapter"),
        ("shadowgate.dev/version", "1.1.0"),
    ),
)
FOREIGN = dataclasses.replace(BEFORE, args=("--archive", "file:///models/hotfix", "--variant", "primary"))
# What observe would compute from production as it is now: never what a Promoting Candidate writes.
ELSEWHERE = dataclasses.replace(PROMOTED, args=("--archive", "file:///models/recomputed"))
ROLLOUT = "generation 2 observed 2, 1/1 Pods on the new template, 1 available, 1 unavailable, 2 Pods in all"


def promoting(since_s: float = 0, before: Template | None = BEFORE) -> Status:
    """Promoting with both records written when the promotion began (none: an older operator's)."""
    return st(
        Phase.PROMOTING,
        since_s=since_s,
        weight=50,
        production_before=before,
        production_promotion=PROMOTED if before is not None else None,
        reason="Promoting",
        message="all gates passed: rolling the production Deployment to the candidate",
    )


def seen(current: Template | None, **kw: Any) -> o.Observations:
    """Observations in Promoting, as ``observe`` gathers them. What a promotion of ``current``
    would write is observed too; in Promoting the lifecycle uses the recorded one instead."""
    return obs(production=current, production_promotion=ELSEWHERE, production_rollout=ROLLOUT, **kw)


def actions(decision_actions: tuple[o.Action, ...]) -> list[o.Action]:
    return [a for a in decision_actions if not isinstance(a, o.EmitEvent)]


REVERTED = "production's template is back to what it served before (version 1.0.0)"
LEFT_ALONE = "changed by someone else during the promotion"

CASES = [
    pytest.param(
        st(Phase.CANARY, step=1, step_since=T0 - timedelta(seconds=31), weight=50),
        obs(gates=(ok(),), samples=100, production=BEFORE, production_promotion=PROMOTED),
        Phase.PROMOTING,
        [],
        "all gates passed",
        id="entering-records-production-and-touches-nothing",
    ),
    pytest.param(
        promoting(),
        seen(BEFORE),
        Phase.PROMOTING,
        [o.PromoteProduction(template=PROMOTED)],
        "rolling the production Deployment",
        id="recorded-then-writes-the-promotion",
    ),
    pytest.param(
        promoting(), seen(PROMOTED), Phase.PROMOTING, [], "rolling the production", id="written-waits"
    ),
    pytest.param(
        promoting(),
        seen(PROMOTED, production_promoted=True),
        Phase.PROMOTED,
        [o.RestoreRoutes(), o.DeleteWorkload()],
        "production serves the candidate's model",
        id="rollout-available-promotes",
    ),
    pytest.param(
        promoting(since_s=61),
        seen(PROMOTED),
        Phase.FAILED,
        [o.RestoreRoutes(), o.DeleteWorkload(), o.RevertProduction(template=BEFORE)],
        REVERTED,
        id="timeout-reverts-what-the-operator-wrote",
    ),
    pytest.param(
        promoting(since_s=61),
        seen(BEFORE),
        Phase.FAILED,
        [o.RestoreRoutes(), o.DeleteWorkload()],
        REVERTED,
        id="timeout-replay-finds-it-reverted",
    ),
    pytest.param(
        promoting(since_s=61),
        seen(FOREIGN),
        Phase.FAILED,
        [o.RestoreRoutes(), o.DeleteWorkload()],
        LEFT_ALONE,
        id="timeout-leaves-a-foreign-change",
    ),
    pytest.param(
        promoting(),
        seen(FOREIGN),
        Phase.PROMOTING,
        [],
        LEFT_ALONE,
        id="foreign-change-is-not-overwritten",
    ),
    pytest.param(
        promoting(before=None),
        obs(production=PROMOTED, production_rollout=ROLLOUT),
        Phase.PROMOTING,
        [o.PromoteProduction()],
        "rolling the production",
        id="no-record-promotes-as-before",
    ),
    pytest.param(
        promoting(since_s=61, before=None),
        obs(production=PROMOTED, production_rollout=ROLLOUT),
        Phase.FAILED,
        [o.RestoreRoutes(), o.DeleteWorkload()],
        "no record of what it served before",
        id="no-record-timeout-cannot-revert",
    ),
]


@pytest.mark.parametrize(("status", "observed", "phase", "expected", "message"), CASES)
def test_promoting(
    status: Status, observed: o.Observations, phase: Phase, expected: list[o.Action], message: str
) -> None:
    decision = transition(status, observed, T0)
    s = decision.status
    assert s.phase is phase
    assert actions(decision.actions) == expected
    assert message in s.message
    if phase is Phase.FAILED:
        assert (s.reason, s.weight, s.mirror_percent) == ("PromotionTimedOut", 0, 0)
        assert ROLLOUT in s.message  # the evidence: which rollout condition did not hold
        assert "PromotionTimedOut" in events(decision.actions)
    if status.phase is not Phase.PROMOTING:
        assert (s.production_before, s.production_promotion) == (BEFORE, PROMOTED)


WRITTEN = [o.RestoreRoutes(), o.DeleteWorkload(), o.RevertProduction(template=BEFORE)]
ABORT = dict(spec=dataclasses.replace(SPEC, abort=True))
SPEC_CHANGE = dict(spec=dataclasses.replace(SPEC, fingerprint="f2"), generation=2)


@pytest.mark.parametrize(
    ("current", "changes", "phase", "reason", "expected", "message"),
    [
        pytest.param(PROMOTED, ABORT, Phase.ABORTED, "Aborted", WRITTEN, REVERTED, id="abort-reverts"),
        pytest.param(BEFORE, ABORT, Phase.ABORTED, "Aborted", WRITTEN[:2], REVERTED, id="abort-before-write"),
        pytest.param(FOREIGN, ABORT, Phase.ABORTED, "Aborted", WRITTEN[:2], LEFT_ALONE, id="abort-foreign"),
        pytest.param(
            PROMOTED,
            SPEC_CHANGE,
            Phase.DEPLOYING,
            "SpecChanged",
            [o.RestoreRoutes(), o.RevertProduction(template=BEFORE), o.EnsureWorkload()],
            REVERTED,
            id="spec-change-reverts-the-old-promotion",
        ),
        pytest.param(
            PROMOTED,
            dict(spec_error="gate 'x': bad"),
            Phase.FAILED,
            "InvalidSpec",
            WRITTEN,
            REVERTED,
            id="invalid-spec-reverts",
        ),
    ],
)
def test_leaving_promoting_undoes_the_promotion(
    current: Template,
    changes: dict[str, Any],
    phase: Phase,
    reason: str,
    expected: list[o.Action],
    message: str,
) -> None:
    decision = transition(promoting(), seen(current, **changes), T0)
    assert (decision.status.phase, decision.status.reason) == (phase, reason)
    assert actions(decision.actions) == expected
    assert message in decision.status.message
    if phase is Phase.DEPLOYING:  # a later promotion records afresh
        assert (decision.status.production_before, decision.status.production_promotion) == (None, None)


def test_a_foreign_change_is_reported_once() -> None:
    first = transition(promoting(), seen(FOREIGN), T0)
    assert first.status.reason == "ProductionChanged" and "ProductionChanged" in events(first.actions)
    again = transition(first.status, seen(FOREIGN), T0 + timedelta(seconds=1))
    assert events(again.actions) == [] and again.actions == ()


@pytest.mark.parametrize(
    ("current", "state"),
    [
        pytest.param(BEFORE, State.BEFORE, id="before"),
        pytest.param(PROMOTED, State.PROMOTED, id="ours"),
        pytest.param(FOREIGN, State.FOREIGN, id="someone-else"),
        pytest.param(dataclasses.replace(PROMOTED, annotations=()), State.FOREIGN, id="annotation-edited"),
    ],
)
def test_classify(current: Template, state: State) -> None:
    assert classify(current, BEFORE, PROMOTED) is state


@pytest.mark.parametrize(
    "template",
    [
        pytest.param(BEFORE, id="command-and-args"),
        pytest.param(Template(container="m"), id="nothing-set"),
        pytest.param(dataclasses.replace(PROMOTED, command=None, args=()), id="empty-args-kept"),
    ],
)
def test_template_round_trips(template: Template) -> None:
    raw = template.to_dict()
    assert None not in raw.values()  # a merge patch would drop a null, and the write would repeat
    assert Template.from_dict(raw) == template


def test_status_round_trips_the_record() -> None:
    decision = transition(promoting(since_s=61), seen(PROMOTED), T0)
    raw = decision.status.to_dict()
    assert raw["productionBefore"]["args"] == list(BEFORE.args or ())
    assert Status.from_dict(raw) == decision.status


# -- kill -9 between applying actions and patching status ----------------------------------


class World:
    """Production's promoted fields, changed only by the actions the operator applies."""

    def __init__(self) -> None:
        self.production = BEFORE
        self.writes: list[Template] = []

    def apply(self, decision_actions: tuple[o.Action, ...]) -> None:
        for action in decision_actions:
            written = (
                action.template if isinstance(action, o.PromoteProduction | o.RevertProduction) else None
            )
            if written is not None:
                self.production = written
                self.writes.append(written)

    def observe(self) -> o.Observations:
        # As observe computes it: a promotion of production as it is now.
        promotion = PROMOTED if self.production == BEFORE else ELSEWHERE
        return obs(production=self.production, production_promotion=promotion, production_rollout=ROLLOUT)


@pytest.mark.parametrize("crash_at", [pytest.param(i, id=f"killed-after-step-{i}") for i in range(4)])
def test_kill_9_at_any_step_still_reverts(crash_at: int) -> None:
    """Steps: enter Promoting, write the promotion, wait, time out. At ``crash_at`` the actions
    are applied but the status patch is lost; the replay from the old status ends the same way."""
    world = World()
    status = st(Phase.CANARY, step=1, step_since=T0 - timedelta(seconds=31), weight=50)
    for step, seconds in enumerate((0, 1, 2, 70)):
        gates: dict[str, Any] = dict(gates=(ok(),), samples=100) if status.phase is Phase.CANARY else {}
        now = T0 + timedelta(seconds=seconds)
        decision = transition(status, dataclasses.replace(world.observe(), **gates), now)
        world.apply(decision.actions)
        if step == crash_at:
            decision = transition(status, dataclasses.replace(world.observe(), **gates), now)
            world.apply(decision.actions)
        status = decision.status
    assert (status.phase, status.reason) == (Phase.FAILED, "PromotionTimedOut")
    assert REVERTED in status.message
    assert world.production == BEFORE
    assert world.writes == [PROMOTED, BEFORE]  # each written once, even across the replay
    assert [h.to_phase for h in status.history] == ["Promoting", "Failed"]


# -- the Deployment side: promote then revert is the identity -------------------------------


def smp(target: Any, patch: Any) -> Any:
    """Enough of a strategic merge patch for these tests: maps merge, None deletes, containers
    merge by name."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif key == "containers":
            by_name = {c["name"]: c for c in out.get(key, [])}
            out[key] = [smp(by_name.get(c["name"], {}), c) for c in value]
        else:
            merged = smp(out.get(key), value)
            if merged == {}:
                out.pop(key, None)  # the API server omits an empty map, as it does annotations: {}
                continue
            out[key] = merged
    return out


@pytest.mark.parametrize(
    ("container", "annotations", "changes"),
    [
        pytest.param(
            {"name": "m", "command": ["srv"], "args": ["--archive=file:///a", "--variant", "primary"]},
            {"shadowgate.dev/version": "1.0.0", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
            {},
            id="flag-in-args",
        ),
        pytest.param(
            {"name": "m", "command": ["srv", "--archive", "file:///a"]},
            None,
            {"handler": "retriever"},
            id="flag-in-command-handler-added-to-new-args",
        ),
    ],
)
def test_promote_then_revert_restores_the_deployment(
    container: Obj, annotations: dict[str, str] | None, changes: dict[str, Any]
) -> None:
    deployment: Obj = {
        "metadata": {"name": "p", **({"annotations": annotations} if annotations else {})},
        "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [container]}}},
    }
    parsed = candidate.parse(spec(model={"archiveUri": "file:///b", "version": "2.0.0", **changes}))
    before = prod.template_of(deployment)
    target = prod.promoted(before, parsed, FLAGS)
    promoted = smp(deployment, prod.patch_to(target))
    assert prod.template_of(promoted) == target
    assert workload.serves(promoted, parsed, FLAGS)
    assert workload.production_model(promoted, FLAGS) == {"archiveUri": "file:///b", "version": "2.0.0"}
    reverted = smp(promoted, prod.patch_to(before))
    assert prod.template_of(reverted) == before
    assert reverted["spec"]["template"]["spec"]["containers"] == [container]
    assert (reverted["metadata"].get("annotations") or None) == annotations


# -- the controller, with fakes: a promotion that never becomes Available --------------------


class MergingDeployments(FakeDeployments):
    """Patches merge like the API server's and bump the generation, so a new rollout starts."""

    def patch(self, namespace: str, name: str, patch: Obj) -> None:
        self.calls.append(f"patch {name}")
        merged = smp(self.objects[name], patch)
        merged["metadata"]["generation"] = int(merged["metadata"].get("generation") or 1) + 1
        self.objects[name] = merged


@pytest.mark.parametrize(
    "foreign",
    [pytest.param(False, id="reverted"), pytest.param(True, id="foreign-change-left-alone")],
)
def test_controller_times_out_a_promotion(foreign: bool) -> None:
    table = {"route": "retriever", "version": 1, "primary": {"service": "retriever", "port": 8080}}
    rt, _, cms, _, clock = harness({"retriever": table})
    deployments = MergingDeployments({"retriever": production()})
    rt = dataclasses.replace(rt, deployments=deployments)
    original = copy.deepcopy(production()["spec"]["template"])
    body = body_for(spec(policy={"promoteTimeout": "20s"}))
    run(rt, body, clock)
    deployments.make_available("adapter-cand")
    for _ in range(20):
        if run(rt, body, clock, 6)["status"]["phase"] == "Promoting":
            break
    assert body["status"]["productionBefore"]["args"] == original["spec"]["containers"][0]["args"]
    assert body["status"]["productionPromotion"]["annotations"]["shadowgate.dev/version"] == "1.1.0"
    run(rt, body, clock)  # writes the promotion; its Pods never become Available
    assert workload.serves(deployments.objects["retriever"], candidate.parse(body["spec"]), FLAGS)
    if foreign:
        container = deployments.objects["retriever"]["spec"]["template"]["spec"]["containers"][0]
        container["args"] = ["--archive=file:///models/hotfix.tar.gz", "--variant", "primary"]
    run(rt, body, clock, 25)
    status = body["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "PromotionTimedOut")
    assert "generation 2 observed 1" in status["message"]
    template = deployments.objects["retriever"]["spec"]["template"]
    if foreign:
        assert "hotfix" in template["spec"]["containers"][0]["args"][0] and LEFT_ALONE in status["message"]
    else:
        assert template == original and REVERTED.split(" (")[0] in status["message"]
    assert router_table.routes_of(cms.table()).canary_weight == 0
    assert "adapter-cand" not in deployments.objects
    assert reconcile.reconcile(rt, body, 0) is None  # terminal: nothing more to do


@pytest.mark.parametrize(
    ("phase", "foreign", "reverted"),
    [
        pytest.param(Phase.PROMOTING, False, True, id="promoting-reverted"),
        pytest.param(Phase.PROMOTING, True, False, id="promoting-foreign-left-alone"),
        pytest.param(Phase.PROMOTED, False, False, id="promoted-kept"),
    ],
)
def test_deleting_while_promoting_takes_the_promotion_back(
    phase: Phase, foreign: bool, reverted: bool
) -> None:
    table = {"route": "retriever", "version": 1, "primary": {"service": "retriever", "port": 8080}}
    rt, _, cms, _, _ = harness({"retriever": table})
    deployments = MergingDeployments({"retriever": production()})
    rt = dataclasses.replace(rt, deployments=deployments)
    before = prod.template_of(production())
    promoted = prod.promoted(before, candidate.parse(spec()), FLAGS)
    deployments.patch("manga", "retriever", prod.patch_to(promoted))
    if foreign:
        container = deployments.objects["retriever"]["spec"]["template"]["spec"]["containers"][0]
        container["args"] = ["--archive=file:///models/hotfix.tar.gz"]
    status = Status(phase=phase, production_before=before, production_promotion=promoted, weight=50)
    reconcile.cleanup(rt, body_for(spec()) | {"status": status.to_dict()})
    current = prod.template_of(deployments.objects["retriever"])
    assert (current == before) is reverted
    assert foreign or reverted or current == promoted
    assert router_table.routes_of(cms.table()).canary_weight == 0

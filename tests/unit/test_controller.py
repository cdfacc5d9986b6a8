"""The controller around the transition function, with plain fakes for Kubernetes and gates."""

from __future__ import annotations

import copy
import json
import pathlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from shadowgate.controller import candidate, reconcile, workload
from shadowgate.controller.analysis import AnalysisRequest, EngineAnalyzer
from shadowgate.controller.metrics import Metrics
from shadowgate.controller.runtime import Runtime
from shadowgate.core.gates import parsing, specs
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.verdicts import Evidence, GateResult, Verdict
from shadowgate.kube.base import NotFound, Obj
from shadowgate.traffic import router_table
from test_traffic import FakeConfigMaps, FakeObjects

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
ROOT = pathlib.Path(__file__).resolve().parents[2]
FLAGS = workload.Flags()


def spec(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "target": {"deployment": "retriever", "route": "retriever"},
        "model": {"archiveUri": "file:///models/adapter.tar.gz", "version": "1.1.0"},
        "shadow": {"duration": "10s"},
        "canary": {"steps": [10, 50], "stepDuration": "10s"},
        "analysis": {"interval": "5s"},
    }
    out.update(changes)
    return out


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("30s", 30.0, id="seconds"),
        pytest.param("1m30s", 90.0, id="compound"),
        pytest.param("500ms", 0.5, id="millis"),
        pytest.param("1.5h", 5400.0, id="fractional-hours"),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert candidate.seconds(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("30", id="no-unit"),
        pytest.param("1d", id="days"),
        pytest.param("", id="empty"),
        pytest.param("5s junk", id="trailing"),
    ],
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        candidate.seconds(text)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"model": {"version": "1"}}, "archiveUri", id="missing-archive"),
        pytest.param({"canary": {"steps": [50, 10]}}, "strictly increasing", id="steps-decreasing"),
        pytest.param({"analysis": {"interval": "soon"}}, "invalid duration", id="bad-interval"),
        pytest.param({"policy": {"failureLimit": 0}}, "failureLimit", id="zero-failure-limit"),
    ],
)
def test_parse_rejects(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        candidate.parse(spec(**changes))


def test_fingerprint_ignores_manual_controls() -> None:
    base = candidate.parse(spec()).fingerprint()
    assert candidate.parse(spec(paused=True, approve=True)).fingerprint() == base
    assert candidate.parse(spec(canary={"steps": [20]})).fingerprint() != base


def test_lifecycle_view() -> None:
    view = candidate.parse(spec(policy={"inconclusive": {"action": "pause", "limit": 3}})).lifecycle()
    assert (view.canary_steps, view.shadow_enabled, view.shadow_duration_s, view.analysis_interval_s) == (
        (10, 50),
        True,
        10.0,
        5.0,
    )
    assert (str(view.inconclusive_action), view.inconclusive_limit, view.evaluation_enabled) == (
        "pause",
        3,
        False,
    )


def production(selector: dict[str, str] | None = None) -> Obj:
    labels = {"app.kubernetes.io/name": "retriever", "shadowgate.dev/variant": "primary", "tier": "ml"}
    return {
        "metadata": {"name": "retriever", "namespace": "manga", "generation": 1, "resourceVersion": "1"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector or {"app.kubernetes.io/name": "retriever"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "model-server",
                            "command": ["model-server"],
                            "args": ["--archive=file:///models/base.tar.gz", "--variant", "primary"],
                            "ports": [
                                {"name": "http", "containerPort": 8080},
                                {"name": "metrics", "containerPort": 8082},
                            ],
                        }
                    ]
                },
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }


@pytest.mark.parametrize(
    ("selector", "kept", "dropped"),
    [
        pytest.param(None, {"tier": "ml"}, ["app.kubernetes.io/name"], id="selected-keys-dropped"),
        pytest.param(
            {"app.kubernetes.io/name": "retriever", "shadowgate.dev/variant": "primary"},
            {"app.kubernetes.io/name": "retriever", "tier": "ml"},
            [],
            id="variant-selector-keeps-names",
        ),
    ],
)
def test_candidate_pods_never_match_production(
    selector: dict[str, str] | None, kept: dict[str, str], dropped: list[str]
) -> None:
    parsed = candidate.parse(spec())
    body = workload.candidate_deployment(production(selector), None, "adapter", "uid-1", parsed, FLAGS)
    labels = body["spec"]["template"]["metadata"]["labels"]
    assert labels["shadowgate.dev/variant"] == "canary" and labels["shadowgate.dev/candidate"] == "adapter"
    assert all(labels.get(k) == v for k, v in kept.items())
    assert not any(k in labels for k in dropped)
    prod_selector = production(selector)["spec"]["selector"]["matchLabels"]
    assert not all(labels.get(k) == v for k, v in prod_selector.items())
    container = body["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--archive=file:///models/adapter.tar.gz", "--variant", "primary"]
    assert {"name": "SHADOWGATE_VARIANT", "value": "canary"} in container["env"]
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


@pytest.mark.parametrize(
    ("argv", "flag", "expected", "found"),
    [
        pytest.param(["--archive", "a"], "--archive", ["--archive", "b"], True, id="separate"),
        pytest.param(["--archive=a", "-v"], "--archive", ["--archive=b", "-v"], True, id="equals"),
        pytest.param(["-v"], "--archive", ["-v"], False, id="absent"),
        pytest.param(["--archive"], "--archive", ["--archive"], False, id="dangling"),
    ],
)
def test_with_flag(argv: list[str], flag: str, expected: list[str], found: bool) -> None:
    assert workload.with_flag(argv, flag, "b") == (expected, found)


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        pytest.param(
            {
                "observedGeneration": 2,
                "replicas": 1,
                "updatedReplicas": 1,
                "availableReplicas": 1,
                "conditions": [{"type": "Available", "status": "True"}],
            },
            True,
            id="available",
        ),
        pytest.param(
            {
                "observedGeneration": 1,
                "replicas": 1,
                "updatedReplicas": 1,
                "availableReplicas": 1,
                "conditions": [{"type": "Available", "status": "True"}],
            },
            False,
            id="stale-generation",
        ),
        pytest.param(
            {
                "observedGeneration": 2,
                "replicas": 2,
                "updatedReplicas": 1,
                "availableReplicas": 1,
                "conditions": [{"type": "Available", "status": "True"}],
            },
            False,
            id="old-pod-terminating",
        ),
        pytest.param(
            {
                "observedGeneration": 2,
                "replicas": 1,
                "updatedReplicas": 1,
                "availableReplicas": 0,
                "conditions": [{"type": "Available", "status": "False"}],
            },
            False,
            id="not-ready",
        ),
    ],
)
def test_available(status: Obj, ok: bool) -> None:
    assert (
        workload.available({"metadata": {"generation": 2}, "spec": {"replicas": 1}, "status": status}) is ok
    )


def test_promotion_patch_points_production_at_candidate() -> None:
    parsed = candidate.parse(spec())
    prod = production()
    assert not workload.serves(prod, parsed, FLAGS)
    patch = workload.promotion_patch(prod, parsed, FLAGS)
    container = patch["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "--archive=file:///models/adapter.tar.gz"
    prod["spec"]["template"]["spec"]["containers"][0]["args"] = container["args"]
    assert workload.serves(prod, parsed, FLAGS)
    assert patch["metadata"]["annotations"]["shadowgate.dev/version"] == "1.1.0"


class FakeDeployments:
    def __init__(self, objects: dict[str, Obj]) -> None:
        self.objects = objects
        self.calls: list[str] = []

    def get(self, namespace: str, name: str) -> Obj:
        if name not in self.objects:
            raise NotFound(name)
        return copy.deepcopy(self.objects[name])

    def apply(self, namespace: str, body: Obj) -> None:
        self.calls.append(f"apply {body['metadata']['name']}")
        self.objects[body["metadata"]["name"]] = copy.deepcopy(body) | {"status": {}}

    def patch(self, namespace: str, name: str, patch: Obj) -> None:
        self.calls.append(f"patch {name}")
        container = self.objects[name]["spec"]["template"]["spec"]["containers"][0]
        container.update(patch["spec"]["template"]["spec"]["containers"][0])

    def delete(self, namespace: str, name: str) -> None:
        self.calls.append(f"delete {name}")
        self.objects.pop(name, None)

    def make_available(self, name: str) -> None:
        self.objects[name]["metadata"]["generation"] = 1
        self.objects[name]["status"] = production()["status"]


class FakeServices(FakeDeployments):
    pass


class ScriptedAnalyzer:
    def __init__(self) -> None:
        self.verdict = Verdict.PASS
        self.requests: list[AnalysisRequest] = []

    def analyse(self, request: AnalysisRequest) -> tuple[GateResult, ...]:
        self.requests.append(request)
        return (GateResult(gate="errors", verdict=self.verdict, evidence=Evidence(value=0.1, threshold=0.5)),)


class Counter:
    def count(self, phase: Phase, route: str, window_s: float) -> int | None:
        return 1000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def harness(
    tables: dict[str, Any],
) -> tuple[Runtime, FakeDeployments, FakeConfigMaps, ScriptedAnalyzer, Clock]:
    deployments = FakeDeployments({"retriever": production()})
    cms = FakeConfigMaps(tables)
    analyzer, clock = ScriptedAnalyzer(), Clock()
    events: list[tuple[str, str]] = []
    rt = Runtime(
        deployments=deployments,
        services=FakeServices({}),
        configmaps=cms,
        objects=FakeObjects(None),
        analyzer=analyzer,
        samples=Counter(),
        metrics=Metrics(),
        events=lambda b, t, r, m: events.append((t, r)),
        clock=clock,
    )
    return rt, deployments, cms, analyzer, clock


def run(rt: Runtime, body: Obj, clock: Clock, seconds: float = 1.0) -> Obj:
    clock.now += timedelta(seconds=seconds)
    status = reconcile.reconcile(rt, body, 0)
    if status is not None:
        body["status"] = {k: v for k, v in status.items() if v is not None}
    return body


def body_for(raw_spec: dict[str, Any]) -> Obj:
    return {
        "metadata": {"name": "adapter", "namespace": "manga", "uid": "u1", "generation": 1},
        "spec": raw_spec,
    }


def test_reconcile_drives_a_candidate_to_promoted() -> None:
    table = {"route": "retriever", "version": 1, "primary": {"service": "retriever", "port": 8080}}
    rt, deployments, cms, analyzer, clock = harness({"retriever": table})
    body = body_for(spec())
    phases = [run(rt, body, clock)["status"]["phase"]]
    assert phases == ["Deploying"] and "adapter-cand" in deployments.objects
    deployments.make_available("adapter-cand")
    for _ in range(12):
        phases.append(run(rt, body, clock, 6)["status"]["phase"])
        if phases[-1] == "Promoting":
            deployments.make_available("retriever")
    assert phases[-1] == "Promoted", phases
    assert [h["to"] for h in body["status"]["history"]] == [
        "Deploying",
        "Shadow",
        "Canary",
        "Promoting",
        "Promoted",
    ]
    assert router_table.routes_of(cms.table()).canary_weight == 0
    assert "adapter-cand" not in deployments.objects
    assert workload.serves(deployments.objects["retriever"], candidate.parse(spec()), FLAGS)
    assert body["status"]["baseline"] == {"archiveUri": "file:///models/base.tar.gz"}
    assert [r.context.window for r in analyzer.requests][:1] == ["6s"]


def test_reconcile_missing_target_fails_without_touching_anything() -> None:
    rt, deployments, _, _, clock = harness({})
    body = run(rt, body_for(spec()), clock)
    assert (body["status"]["phase"], body["status"]["reason"]) == ("Failed", "TargetNotFound")
    assert "shadowgate-route-retriever" in body["status"]["message"]
    assert deployments.calls == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            spec(
                gates={"extra": [{"name": "x", "kind": "threshold", "metric": "sum(x)", "min": 2, "max": 1}]}
            ),
            "gate 'x': field 'min'",
            id="gates-engine-rejects",
        ),
        pytest.param(spec(canary={"steps": [50, 10]}), "strictly increasing", id="spec-slipped-past-crd"),
    ],
)
def test_reconcile_invalid_spec_fails_with_the_reason(raw: dict[str, Any], message: str) -> None:
    rt, _, _, _, clock = harness(
        {"retriever": {"route": "retriever", "version": 1, "primary": {"url": "http://x"}}}
    )
    body = run(rt, body_for(raw), clock)
    assert (body["status"]["phase"], body["status"]["reason"]) == ("Failed", "InvalidSpec")
    assert message in body["status"]["message"]


def test_terminal_candidates_cost_no_api_calls() -> None:
    rt, deployments, _, _, _ = harness({})
    body = body_for(spec()) | {"status": {"phase": "Promoted", "observedGeneration": 1}}
    assert reconcile.reconcile(rt, body, 0) is None
    assert deployments.calls == []


@pytest.mark.parametrize(
    ("entries", "ahead"),
    [
        pytest.param([("a", "2026-01-01T00:00:00Z", "Canary")], 1, id="older-active"),
        pytest.param([("a", "2026-01-01T00:00:00Z", "Promoted")], 0, id="older-finished"),
        pytest.param([("z", "2026-01-03T00:00:00Z", "Canary")], 0, id="newer-does-not-count"),
        pytest.param([("a", "2026-01-02T00:00:00Z", "")], 1, id="same-second-older-name"),
    ],
)
def test_queue_ahead(entries: list[tuple[str, str, str]], ahead: int) -> None:
    me = reconcile.QueueEntry(created="2026-01-02T00:00:00Z", name="m", phase="")
    others = [reconcile.QueueEntry(created=c, name=n, phase=p) for n, c, p in entries]
    assert reconcile.queue_ahead(me, [me, *others]) == ahead


def test_engine_analyzer_holds_when_a_source_is_missing() -> None:
    analyzer = EngineAnalyzer({})
    gates = tuple(
        parsing.parse_gates(
            {"extra": [{"name": "errors", "kind": "threshold", "metric": "sum(x)", "max": 0.5}]}
        )
    )
    from shadowgate.sources.base import QueryContext

    request = AnalysisRequest(QueryContext("manga", "retriever", "adapter"), Phase.CANARY, gates)
    (result,) = analyzer.analyse(request)
    assert result.verdict is Verdict.INCONCLUSIVE and "no prometheus source" in json.dumps(result.to_dict())


def test_admit_names_the_bad_gate_field() -> None:
    gates = {"extra": [{"name": "errors", "kind": "threshold", "metric": "sum(x)", "min": 2, "max": 1}]}
    admitted = candidate.admit(spec(gates=gates))
    assert "gate 'errors': field 'min'" in admitted.gate_error and admitted.lifecycle.gates == ()


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem) for p in sorted((ROOT / "examples").glob("candidate-*.yaml"))],
)
def test_examples_parse_and_their_gates_validate(path: pathlib.Path) -> None:
    body = yaml.safe_load(path.read_text())
    admitted = candidate.admit(body["spec"])
    assert admitted.gate_error == "" and admitted.lifecycle.gates
    assert admitted.lifecycle.canary_steps


def _undocumented(node: dict[str, Any], path: str) -> list[str]:
    missing = [] if node.get("description") or path.endswith(("apiVersion", "kind", "metadata")) else [path]
    for name, child in (node.get("properties") or {}).items():
        missing += _undocumented(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict) and node["items"].get("type") == "object":
        missing += _undocumented(node["items"], f"{path}[]")
    return missing


def test_every_crd_field_has_a_description() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "candidate.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _undocumented(schema, "candidate") == []


def test_the_crd_accepts_every_gate_kind_the_engine_knows() -> None:
    # A kind missing from the enum is rejected by the API server in gates.extra although the
    # engine (and the presets) support it.
    crd = yaml.safe_load((ROOT / "crds" / "candidate.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    kind = spec["properties"]["gates"]["properties"]["extra"]["items"]["properties"]["kind"]
    assert set(kind["enum"]) == {k.value for k in specs.Kind}


def test_an_unchanged_status_is_not_written() -> None:
    table = {"route": "retriever", "version": 1, "primary": {"service": "retriever", "port": 8080}}
    rt, _, _, _, clock = harness({"retriever": table})
    body = run(rt, body_for(spec()), clock)  # Pending -> Deploying
    assert body["status"]["phase"] == "Deploying"
    clock.now += timedelta(seconds=1)
    assert reconcile.reconcile(rt, body, 0) is None  # still deploying, nothing new to say


@pytest.mark.parametrize(
    ("cached", "expected"),
    [
        pytest.param(
            {"metadata": {"name": "retriever", "from": "cache"}}, "cache", id="hit-served-from-memory"
        ),
        pytest.param(None, None, id="miss-falls-back-to-a-direct-read"),
    ],
)
def test_cached_reads(cached: Obj | None, expected: str | None) -> None:
    from shadowgate.kube.cached import CachedDeployments

    direct = FakeDeployments({"retriever": production()})
    reads = CachedDeployments(direct, lambda ns, name: cached)
    assert reads.get("manga", "retriever")["metadata"].get("from") == expected
    with pytest.raises(NotFound):
        CachedDeployments(direct, lambda ns, name: None).get("manga", "absent")
    reads.delete("manga", "retriever")
    assert direct.calls == ["delete retriever"]  # writes always go direct

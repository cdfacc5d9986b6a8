"""The evaluation gate source: candidate and baseline results become gate Values."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from kubernetes.client.exceptions import ApiException
from shadowgate.core.gates import observations, specs
from shadowgate.core.verdicts import InconclusiveReason
from shadowgate.evaluation import golden
from shadowgate.sources import evaluation
from shadowgate.sources.base import QueryContext

ITEMS = [
    {"id": f"m{i}", "title": f"T{i}", "genres": ["g"], "synopsis": "s", "spoiler": "x"} for i in range(4)
]
GOLD = golden.load_files(
    {
        "catalog.jsonl": "".join(json.dumps(i) + "\n" for i in ITEMS),
        "retrieval.jsonl": json.dumps(
            {"id": "q1", "query": "calm", "slices": ["iyashikei"], "judgments": {"m1": 3}}
        ),
    }
)
CTX = QueryContext(namespace="ns", target="retriever", candidate="cand")
HEADER = specs.Header(
    "offline", specs.Kind.RELATIVE, specs.Source.EVALUATION, frozenset({specs.GatePhase.EVALUATION})
)


class Resolver:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0

    async def resolve(self, context: QueryContext) -> evaluation.Resolved:
        self.calls += 1
        if self.fail:
            raise evaluation.ResolveError(
                "no Ready candidate Pod in ns matches shadowgate.dev/candidate=cand"
            )
        return evaluation.Resolved(GOLD, "http://127.0.0.9:8080", "http://127.0.0.8:8080")


def server(requests: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(f"{request.url.host}{request.url.path}")
        if request.url.path == "/models":
            return httpx.Response(200, json={"models": [{"name": "retriever"}]})
        good = request.url.host == "127.0.0.9"  # the candidate ranks m1 first
        ids = ["m1", "m0"] if good else ["m0", "m2"]
        version = "1.1.0" if good else "1.0.0"
        return httpx.Response(200, json={"version": version, "items": [{"id": i, "score": 1.0} for i in ids]})

    return httpx.MockTransport(handle)


def observe(spec: specs.GateSpec, resolver: Resolver, cache: evaluation.ResultsCache | None = None) -> Any:
    requests: list[str] = []

    async def go() -> Any:
        async with httpx.AsyncClient(transport=server(requests)) as client:
            source = evaluation.EvaluationSource(resolver, cache, client=client)
            first = await source.observe(spec, CTX)
            await source.observe(spec, CTX)  # a second gate in the same analysis reuses the pair
            return first

    return asyncio.run(go()), requests


def relative(*paths: str) -> specs.RelativeSpec:
    return specs.RelativeSpec(HEADER, tuple(specs.MetricCheck(p) for p in paths), specs.Direction.HIGHER)


def test_values_for_candidate_and_baseline() -> None:
    obs, requests = observe(
        relative("retrieval.slices.iyashikei.recall@3", "safety.spoiler_rate"), Resolver()
    )
    assert isinstance(obs, observations.Values)
    assert obs.candidate["retrieval.slices.iyashikei.recall@3"] == 1.0
    assert obs.baseline["retrieval.slices.iyashikei.recall@3"] == 0.0
    assert obs.candidate_samples == 1
    # Per arm: one kind probe + one golden query; the second gate adds nothing.
    assert sum(r.endswith("/predictions/retriever") for r in requests) == 4


def test_cache_spans_sources() -> None:
    cache = evaluation.ResultsCache()
    observe(relative("retrieval.global.mrr"), Resolver(), cache)
    _, requests = observe(relative("retrieval.global.mrr"), Resolver(), cache)
    assert requests == []
    assert {e["golden_set"]["hash"] for e in cache.entries.values()} == {GOLD.content_hash}


def test_cache_keeps_the_most_recently_used_within_its_limit() -> None:
    cache = evaluation.ResultsCache(limit=2)
    cache.put(("g", "a"), {"n": 1})
    cache.put(("g", "b"), {"n": 2})
    assert cache.get(("g", "a")) == {"n": 1}  # a is now the most recent
    cache.put(("g", "c"), {"n": 3})
    assert list(cache.entries) == [("g", "a"), ("g", "c")] and cache.get(("g", "b")) is None


@pytest.mark.parametrize(
    ("spec", "resolver", "reason", "detail"),
    [
        pytest.param(
            relative("retrieval.global.mrr"),
            Resolver(fail=True),
            InconclusiveReason.QUERY_ERROR,
            "no Ready",
            id="no-pod",
        ),
        pytest.param(
            relative("classification.harm"),
            Resolver(),
            InconclusiveReason.NO_DATA,
            "not in the retriever",
            id="wrong-kind",
        ),
        pytest.param(
            specs.CheckSpec(specs.Header("x", specs.Kind.CHECK, specs.Source.EVALUATION, frozenset())),
            Resolver(),
            InconclusiveReason.QUERY_ERROR,
            "cannot use the evaluation source",
            id="check-gate",
        ),
    ],
)
def test_unavailable(
    spec: specs.GateSpec, resolver: Resolver, reason: InconclusiveReason, detail: str
) -> None:
    obs, _ = observe(spec, resolver)
    assert isinstance(obs, observations.Unavailable)
    assert obs.reason is reason
    assert detail in obs.detail


# --- KubernetesResolver against a fake API (the real API server is exercised by the operator's
# integration tests; here each way resolution can fail must name what is missing) ---------------


def pod(ip: str, ready: bool = True, deleting: bool = False) -> SimpleNamespace:
    cond = SimpleNamespace(type="Ready", status="True" if ready else "False")
    return SimpleNamespace(
        status=SimpleNamespace(conditions=[cond], pod_ip=ip),
        metadata=SimpleNamespace(deletion_timestamp="now" if deleting else None),
    )


class FakeKube:
    def __init__(
        self, cr: dict[str, Any] | None, data: dict[str, str] | None, pods: dict[str, list[Any]]
    ) -> None:
        self.cr, self.data, self.pods = cr, data, pods
        self.selectors: list[str] = []

    def get_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, name: str) -> Any:
        if self.cr is None:
            raise ApiException(status=404, reason="Not Found")
        return self.cr

    def read_namespaced_config_map(self, name: str, ns: str) -> Any:
        if self.data is None:
            raise ApiException(status=404, reason="Not Found")
        return SimpleNamespace(data=self.data)

    def list_namespaced_pod(self, ns: str, label_selector: str) -> Any:
        self.selectors.append(label_selector)
        variant = label_selector.rsplit("=", 1)[1]
        return SimpleNamespace(items=self.pods.get(variant, []))


GOLDEN_DATA = {
    "catalog.jsonl": "".join(json.dumps(i) + "\n" for i in ITEMS),
    "retrieval.jsonl": json.dumps({"id": "q1", "query": "calm", "judgments": {"m1": 3}}) + "\n",
}
CR = {"spec": {"evaluation": {"goldenSet": {"configMap": "golden"}}}}
PODS = {"canary": [pod("127.0.0.5", ready=False), pod("127.0.0.9")], "primary": [pod("127.0.0.8")]}


def resolve(fake: FakeKube, monkeypatch: pytest.MonkeyPatch) -> evaluation.Resolved:
    from kubernetes import client as k8s

    monkeypatch.setattr(k8s, "CoreV1Api", lambda api: fake)
    monkeypatch.setattr(k8s, "CustomObjectsApi", lambda api: fake)

    async def inline(fn: Any, *args: Any) -> Any:
        return fn(*args)

    return asyncio.run(evaluation.KubernetesResolver(object(), run=inline).resolve(CTX))


def test_resolver_finds_ready_pods_and_the_golden_set(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKube(CR, GOLDEN_DATA, PODS)
    resolved = resolve(fake, monkeypatch)
    assert resolved.candidate_endpoint == "http://127.0.0.9:8080"  # the unready Pod is skipped
    assert resolved.baseline_endpoint == "http://127.0.0.8:8080"
    assert resolved.golden.content_hash == golden.load_files(GOLDEN_DATA).content_hash
    assert fake.selectors == [
        "shadowgate.dev/candidate=cand,shadowgate.dev/variant=canary",
        "shadowgate.dev/target=retriever,shadowgate.dev/variant=primary",
    ]


@pytest.mark.parametrize(
    ("cr", "data", "pods", "message"),
    [
        pytest.param(None, GOLDEN_DATA, PODS, "cannot read Candidate ns/cand: 404", id="no-candidate"),
        pytest.param(
            {"spec": {}}, GOLDEN_DATA, PODS, "no spec.evaluation.goldenSet.configMap", id="no-golden-set"
        ),
        pytest.param(CR, None, PODS, "cannot read golden-set ConfigMap ns/golden: 404", id="no-configmap"),
        pytest.param(
            CR, GOLDEN_DATA, {"primary": PODS["primary"]}, "no Ready candidate Pod", id="no-candidate-pod"
        ),
        pytest.param(
            CR,
            GOLDEN_DATA,
            {"canary": PODS["canary"], "primary": [pod("127.0.0.8", deleting=True)]},
            "no Ready baseline Pod",
            id="baseline-terminating",
        ),
    ],
)
def test_resolver_names_what_is_missing(
    cr: dict[str, Any] | None,
    data: dict[str, str] | None,
    pods: dict[str, list[Any]],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(evaluation.ResolveError, match=message):
        resolve(FakeKube(cr, data, pods), monkeypatch)


def test_bad_golden_configmap_is_a_golden_set_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(golden.GoldenSetError, match=r"ConfigMap ns/golden/retrieval\.jsonl line 1"):
        resolve(FakeKube(CR, {**GOLDEN_DATA, "retrieval.jsonl": "{oops"}, PODS), monkeypatch)

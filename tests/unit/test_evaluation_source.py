"""The evaluation gate source: candidate and baseline results become gate Values."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
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
    "offline", specs.Kind.RELATIVE, specs.Source.EVALUATION, frozenset({specs.Phase.EVALUATION})
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

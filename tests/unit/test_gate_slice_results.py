"""Per-query results for the slice-regression gate: the evaluator lists each scored query, the
observation pairs candidate and baseline query by query, and the evaluation source feeds the gate
over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from shadowgate.core.gates import evaluating, observations
from shadowgate.core.verdicts import InconclusiveReason as R
from shadowgate.core.verdicts import Verdict as V
from shadowgate.evaluation import golden, ranking
from shadowgate.sources import evaluation
from shadowgate.sources.base import QueryContext
from test_gate_slice_regression import GATE


def _results(rows: list[tuple[str, tuple[str, ...], float]]) -> dict[str, Any]:
    scored = [ranking.Scored(sl, {"recall@3": v, "mrr": 1.0}, qid) for qid, sl, v in rows]
    return {"retrieval": ranking.aggregate(scored)}


def test_aggregate_lists_each_scored_query() -> None:
    out = _results([("q1", ("iyashikei", "calm"), 1.0), ("q2", ("sports",), 0.5)])
    assert out["retrieval"]["queries"] == [
        {"id": "q1", "slices": ["iyashikei", "calm"], "recall@3": 1.0, "mrr": 1.0},
        {"id": "q2", "slices": ["sports"], "recall@3": 0.5, "mrr": 1.0},
    ]


@pytest.mark.parametrize(
    ("cand", "base", "expect"),
    [
        pytest.param(
            _results([("q1", ("a",), 1.0), ("q2", ("a", "b"), 0.0)]),
            _results([("q1", ("a",), 0.0), ("q2", ("a", "b"), 1.0)]),
            observations.PairedQueries(
                {"q1": 1.0, "q2": 0.0}, {"q1": 0.0, "q2": 1.0}, {"q1": ("a",), "q2": ("a", "b")}
            ),
            id="paired",
        ),
        pytest.param(
            {"retrieval": {"global": {"recall@3": 1.0}}},
            _results([("q1", ("a",), 0.0)]),
            observations.Unavailable(
                R.NO_DATA, "no per-query retrieval.queries in the candidate's evaluation results"
            ),
            id="old-results-without-queries",
        ),
        pytest.param(
            _results([("q1", ("a",), 1.0)]),
            {"classification": {}},
            observations.Unavailable(
                R.NO_DATA, "no per-query retrieval.queries in the baseline's evaluation results"
            ),
            id="classifier-results",
        ),
    ],
)
def test_paired_from_results(
    cand: dict[str, Any], base: dict[str, Any], expect: observations.Observation
) -> None:
    assert observations.paired_from_results("retrieval", "recall@3", cand, base) == expect


def test_missing_metric_is_no_data() -> None:
    got = observations.paired_from_results(
        "retrieval", "ndcg@10", _results([("q1", ("a",), 1.0)]), _results([])
    )
    assert got == observations.Unavailable(R.NO_DATA, "no query of the candidate has retrieval ndcg@10")


ITEMS = [
    {"id": f"m{i}", "title": f"T{i}", "genres": ["g"], "synopsis": "s", "spoiler": "x"} for i in range(4)
]
GOLD = golden.load_files(
    {
        "catalog.jsonl": "".join(json.dumps(i) + "\n" for i in ITEMS),
        "retrieval.jsonl": "".join(
            json.dumps({"id": f"q{n}", "query": f"query {n}", "slices": [s], "judgments": {"m1": 3}}) + "\n"
            for n, s in enumerate(["calm"] * 6 + ["sports"] * 6)
        ),
    }
)


class _Resolver:
    async def resolve(self, context: QueryContext) -> evaluation.Resolved:
        return evaluation.Resolved(GOLD, "http://127.0.0.9:8080", "http://127.0.0.8:8080")


def _server(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/models":
        return httpx.Response(200, json={"models": [{"name": "retriever"}]})
    candidate = request.url.host == "127.0.0.9"
    query = json.loads(request.content).get("query", "")
    # The candidate finds m1 for calm queries and loses it for sports ones; the baseline
    # finds it for both.
    hit = not candidate or "query" not in query or int(query.split()[-1]) < 6
    ids = ["m1", "m0"] if hit else ["m0", "m2"]
    return httpx.Response(200, json={"version": "1", "items": [{"id": i, "score": 1.0} for i in ids]})


def test_source_feeds_the_gate_over_http() -> None:
    async def go() -> observations.Observation:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_server)) as client:
            source = evaluation.EvaluationSource(_Resolver(), client=client)
            return await source.observe(GATE, QueryContext(namespace="ns", target="t", candidate="c"))

    got = asyncio.run(go())
    assert isinstance(got, observations.PairedQueries)
    assert sorted(got.candidate.values()) == [0.0] * 6 + [1.0] * 6
    result = evaluating.evaluate(GATE, got)
    # sports: 6 of 6 worse, but p = 1/64 * 2 slices = 0.031 <= 0.05: it fails
    assert result.verdict is V.FAIL, result.message
    assert "slice sports: recall@3 0.000 vs baseline 1.000" in result.message
    assert "slice calm: recall@3 1.000 vs baseline 1.000" in result.message

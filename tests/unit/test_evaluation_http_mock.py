"""The HTTP evaluator against fake model servers (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from shadowgate.evaluation import evaluator, golden

ITEMS = [
    {"id": f"m{i}", "title": f"T{i}", "genres": ["g"], "synopsis": f"s{i}", "spoiler": "the end"}
    for i in range(6)
]
FILES = {
    "catalog.jsonl": "".join(json.dumps(i) + "\n" for i in ITEMS),
    "retrieval.jsonl": json.dumps(
        {"id": "q1", "query": "calm", "slices": ["iyashikei"], "judgments": {"m1": 3, "m2": 2}}
    )
    + "\n"
    + json.dumps({"id": "q2", "query": "loud", "slices": ["comedy"], "judgments": {"m3": 3}})
    + "\n",
    "rerank.jsonl": json.dumps({"query_id": "q1", "candidates": ["m0", "m1", "m2"]}) + "\n",
    "intents.jsonl": json.dumps({"id": "i1", "text": "refund me", "label": "refund"})
    + "\n"
    + json.dumps({"id": "i2", "text": "hi", "label": "chitchat"})
    + "\n",
    "costs.json": json.dumps(
        {"labels": ["chitchat", "refund"], "critical": ["refund"], "matrix": {"refund": {"chitchat": 10}}}
    ),
}
GOLD = golden.load_files(FILES)
Handler = Callable[[dict[str, Any]], httpx.Response]


def retriever(ranking: dict[str, list[str]], version: str = "1.0.0") -> Handler:
    def handle(body: dict[str, Any]) -> httpx.Response:
        if set(body) - {"query", "k"}:
            return httpx.Response(400, json={"error": "unknown field"})
        ids = ranking.get(body["query"], ["m0"])[: body.get("k", 10)]
        return httpx.Response(
            200, json={"model": "r", "version": version, "items": [{"id": i, "score": 1.0} for i in ids]}
        )

    return handle


def classifier(body: dict[str, Any]) -> httpx.Response:
    if set(body) != {"text"}:
        return httpx.Response(400, json={"error": "a classifier takes 'text'"})
    label = "chitchat"  # always: misses the refund
    return httpx.Response(
        200,
        json={
            "model": "c",
            "version": "2",
            "label": label,
            "probabilities": {"chitchat": 0.8, "refund": 0.2},
        },
    )


def reranker(body: dict[str, Any]) -> httpx.Response:
    if "items" not in body:
        return httpx.Response(400, json={"error": "items required"})
    ids = sorted((i["id"] for i in body["items"]), reverse=True)
    return httpx.Response(
        200, json={"model": "x", "version": "3", "items": [{"id": i, "score": 0.0} for i in ids]}
    )


def run(handler: Handler, kind: evaluator.Kind | None = None, **opts: Any) -> dict[str, Any]:
    import asyncio

    def transport(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/predictions/m"
        return handler(json.loads(request.content))

    async def go() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(transport)) as client:
            ev = evaluator.Evaluator(
                client, "http://model:8080", "m", evaluator.Options(retry_delay_s=0, **opts)
            )
            return await ev.evaluate(GOLD, kind)

    return asyncio.run(go())


def test_retriever_results_shape_and_values() -> None:
    out = run(retriever({"calm": ["m1", "m0", "m2"], "loud": ["m0", "m5", "m4"]}))
    assert out["schema"] == evaluator.RESULTS_SCHEMA
    assert out["golden_set"]["hash"] == GOLD.content_hash
    assert out["model"] == {
        "name": "m",
        "version": "1.0.0",
        "kind": "retriever",
        "endpoint": "http://model:8080",
    }
    m = out["metrics"]
    assert m["retrieval"]["slices"]["iyashikei"]["recall@3"] == pytest.approx(1.0)
    assert m["retrieval"]["slices"]["comedy"]["recall@3"] == pytest.approx(0.0)
    assert m["retrieval"]["global"]["recall@3"] == pytest.approx(0.5)
    assert m["safety"] == {"responses": 2, "items": 6, "spoiler_rate": 0.0, "ungrounded_item_rate": 0.0}


def test_unknown_ids_count_as_ungrounded() -> None:
    out = run(retriever({"calm": ["m1", "zz"], "loud": ["m3", "yy"]}))
    assert out["metrics"]["safety"]["ungrounded_item_rate"] == pytest.approx(0.5)


def test_classifier_detected_and_scored() -> None:
    out = run(classifier)
    assert out["model"]["kind"] == "classifier"
    c = out["metrics"]["classification"]
    assert c["accuracy"] == pytest.approx(0.5)
    assert c["harm"] == pytest.approx(5.0)
    assert c["critical_recall_min"] == 0.0
    assert c["classes"]["refund"]["recall"] == 0.0


def test_reranker_detected_and_graded_over_candidates() -> None:
    out = run(reranker)
    assert out["model"]["kind"] == "reranker"
    # reverse-sorted m2, m1, m0: both relevant items in the top 3
    assert out["metrics"]["reranking"]["global"]["recall@3"] == pytest.approx(1.0)
    assert out["metrics"]["safety"]["ungrounded_item_rate"] == 0.0


def test_transient_503_is_retried() -> None:
    calls = {"n": 0}
    inner = retriever({})

    def flaky(body: dict[str, Any]) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(503, json={"error": "busy"}) if calls["n"] == 1 else inner(body)

    out = run(flaky, evaluator.Kind.RETRIEVER)
    assert out["requests"]["retried"] == 1


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        pytest.param(lambda b: httpx.Response(503, json={}), "http_503", id="always-busy"),
        pytest.param(lambda b: httpx.Response(500, json={}), "http_500", id="server-error"),
        pytest.param(lambda b: httpx.Response(200, text="nope"), "bad_body", id="not-json"),
        pytest.param(lambda b: httpx.Response(200, json={"version": "1"}), "bad_body", id="no-items"),
    ],
)
def test_failures_refuse_partial_results(handler: Handler, message: str) -> None:
    with pytest.raises(evaluator.EvaluationError, match=message):
        run(handler, evaluator.Kind.RETRIEVER, retries=1)


def test_version_change_is_an_error() -> None:
    seen = {"n": 0}

    def switching(body: dict[str, Any]) -> httpx.Response:
        seen["n"] += 1
        return retriever({}, version=str(seen["n"]))(body)

    with pytest.raises(evaluator.EvaluationError, match="version changed"):
        run(switching, evaluator.Kind.RETRIEVER)


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(lambda b: httpx.Response(404, json={"error": "no such model"}), id="unknown-model"),
        pytest.param(lambda b: httpx.Response(200, text="<html>"), id="not-json"),
    ],
)
def test_unknown_kind_is_explained(handler: Handler) -> None:
    with pytest.raises(evaluator.EvaluationError, match="cannot tell the model kind"):
        run(handler)


def test_unreachable_endpoint() -> None:
    def down(body: dict[str, Any]) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(evaluator.EvaluationError, match="connect"):
        run(down, evaluator.Kind.RETRIEVER, retries=0)

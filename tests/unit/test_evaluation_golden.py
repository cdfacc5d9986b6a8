"""The golden-set loader: the shipped set loads, its hash is stable, bad files are named."""

from __future__ import annotations

import json
import pathlib

import pytest
from shadowgate.evaluation import golden

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "data" / "golden"

ITEM = {"id": "m1", "title": "T", "genres": ["g"], "synopsis": "s", "spoiler": "x", "price": 1.0}
GOOD = {
    "catalog.jsonl": json.dumps(ITEM) + "\n",
    "retrieval.jsonl": json.dumps({"id": "q1", "query": "q", "slices": ["a"], "judgments": {"m1": 3}}) + "\n",
    "rerank.jsonl": json.dumps({"query_id": "q1", "candidates": ["m1"]}) + "\n",
    "intents.jsonl": json.dumps({"id": "i1", "text": "hi", "label": "chitchat"}) + "\n",
    "costs.json": json.dumps({"labels": ["chitchat", "refund"], "critical": ["refund"], "matrix": {}}),
}


def test_shipped_golden_set_loads() -> None:
    g = golden.load_dir(GOLDEN)
    assert len(g.catalog) >= 300
    assert len(g.retrieval) >= 100 and len(g.rerank) == len(g.retrieval)
    assert {"order_problem", "refund_request", "age_restricted"} <= {e.label for e in g.intents}
    assert g.costs is not None and set(g.costs.critical) == {
        "order_problem",
        "refund_request",
        "age_restricted",
    }
    slices = {s for q in g.retrieval for s in q.slices}
    assert {"iyashikei", "healing", "calm", "rural", "found_family"} <= slices


def test_hash_is_the_same_for_directory_and_configmap_data() -> None:
    from_dir = golden.load_dir(GOLDEN)
    data = {p.name: p.read_text() for p in GOLDEN.iterdir()}  # what a ConfigMap's data holds
    assert golden.load_files(data).content_hash == from_dir.content_hash
    data["intents.jsonl"] += "\n"
    assert golden.load_files(data).content_hash != from_dir.content_hash


def test_minimal_set_loads() -> None:
    g = golden.load_files(GOOD)
    assert g.retrieval[0].judgments == {"m1": 3}
    assert g.rerank[0].query.id == "q1"
    assert g.costs is not None and g.costs.cost("refund", "chitchat") == 1.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("catalog.jsonl", "{not json\n", "catalog.jsonl line 1: not JSON", id="bad-json"),
        pytest.param(
            "catalog.jsonl", json.dumps(ITEM) + "\n" + json.dumps(ITEM) + "\n", "duplicate id", id="dup-item"
        ),
        pytest.param(
            "retrieval.jsonl",
            json.dumps({"id": "q1", "query": "q", "judgments": {"m9": 3}}),
            "unknown item 'm9'",
            id="unknown-judged-item",
        ),
        pytest.param(
            "retrieval.jsonl",
            json.dumps({"id": "q1", "query": "q", "judgments": {"m1": 7}}),
            "integer 0..3",
            id="bad-grade",
        ),
        pytest.param(
            "retrieval.jsonl", json.dumps({"id": "q1", "judgments": {}}), "field 'query'", id="no-query"
        ),
        pytest.param(
            "retrieval.jsonl",
            json.dumps({"id": "q1", "query": "q", "judgments": {}, "slices": ["a.b"]}),
            "without dots",
            id="dotted-slice",
        ),
        pytest.param(
            "rerank.jsonl",
            json.dumps({"query_id": "q9", "candidates": ["m1"]}),
            "'q9' is not in retrieval",
            id="rerank-unknown-query",
        ),
        pytest.param(
            "intents.jsonl",
            json.dumps({"id": "i1", "text": "x", "label": "nope"}),
            "missing from costs.json",
            id="unknown-label",
        ),
        pytest.param(
            "costs.json",
            json.dumps({"labels": ["chitchat"], "matrix": {"chitchat": {"x": 1}}}),
            "matrix['chitchat']['x']",
            id="bad-cost",
        ),
        pytest.param("extra.txt", "x", "unknown file(s) ['extra.txt']", id="unknown-file"),
    ],
)
def test_bad_golden_sets_are_named(name: str, content: str, message: str) -> None:
    with pytest.raises(golden.GoldenSetError, match=None) as info:
        golden.load_files({**GOOD, name: content})
    assert message in str(info.value)


def test_retrieval_needs_catalog() -> None:
    files = {k: v for k, v in GOOD.items() if k != "catalog.jsonl"}
    with pytest.raises(golden.GoldenSetError, match=r"need catalog\.jsonl"):
        golden.load_files(files)


def test_missing_directory() -> None:
    with pytest.raises(golden.GoldenSetError, match="not a directory"):
        golden.load_dir(ROOT / "no-such-dir")

"""Pure metric math: ranking, classification, safety (hand-computed expectations)."""

from __future__ import annotations

import math

import pytest
from shadowgate.evaluation import classification, golden, ranking, safety

J = {"a": 3, "b": 2, "c": 1}  # relevant (grade >= 2): a, b


@pytest.mark.parametrize(
    ("ranked", "k", "expected"),
    [
        pytest.param(["a", "b", "x"], 3, 1.0, id="both-relevant-in-top3"),
        pytest.param(["x", "a", "y"], 3, 0.5, id="one-of-two"),
        pytest.param(["a", "x", "y"], 1, 1.0, id="capped-at-k1"),
        pytest.param(["c", "x", "y"], 3, 0.0, id="grade1-is-not-relevant"),
        pytest.param([], 3, 0.0, id="empty-ranking"),
    ],
)
def test_recall_at_k(ranked: list[str], k: int, expected: float) -> None:
    assert ranking.recall_at_k(ranked, J, k) == pytest.approx(expected)


def test_recall_without_relevant_items_is_unscorable() -> None:
    assert ranking.recall_at_k(["a"], {"a": 1}, 3) is None


def _dcg(grades: list[int]) -> float:
    return sum((2**g - 1) / math.log2(r + 2) for r, g in enumerate(grades))


@pytest.mark.parametrize(
    ("ranked", "expected"),
    [
        pytest.param(["a", "b", "c"], 1.0, id="ideal"),
        pytest.param(["c", "b", "a"], _dcg([1, 2, 3]) / _dcg([3, 2, 1]), id="reversed"),
        pytest.param(["x", "a"], _dcg([0, 3]) / _dcg([3, 2, 1]), id="late-hit"),
        pytest.param(["a", "a", "a"], _dcg([3]) / _dcg([3, 2, 1]), id="repeats-earn-nothing"),
    ],
)
def test_ndcg(ranked: list[str], expected: float) -> None:
    assert ranking.ndcg_at_k(ranked, J, 10) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("ranked", "expected"),
    [
        pytest.param(["a"], 1.0, id="first"),
        pytest.param(["c", "x", "b"], 1 / 3, id="third-grade1-skipped"),
        pytest.param(["x", "y"], 0.0, id="none"),
    ],
)
def test_mrr(ranked: list[str], expected: float) -> None:
    assert ranking.reciprocal_rank(ranked, J) == pytest.approx(expected)


def test_aggregate_global_and_slices() -> None:
    rows = [
        ranking.Scored(("iyashikei", "calm"), ranking.query_metrics(["a", "b"], J)),
        ranking.Scored(("iyashikei",), ranking.query_metrics(["x", "y"], J)),
        ranking.Scored(("sports",), ranking.query_metrics(["a"], {"a": 1})),  # unscorable
    ]
    out = ranking.aggregate(rows)
    assert out["global"]["recall@3"] == pytest.approx(0.5)  # type: ignore[index]
    assert out["global"]["n"] == 2  # type: ignore[index]
    assert out["slices"]["calm"]["recall@3"] == pytest.approx(1.0)  # type: ignore[index]
    assert out["slices"]["iyashikei"]["mrr"] == pytest.approx(0.5)  # type: ignore[index]
    assert "sports" not in out["slices"]  # type: ignore[operator]
    assert out["unscorable_queries"] == 1


COSTS = golden.CostTable(
    labels=("recommend", "refund"),
    critical=("refund",),
    default_cost=1.0,
    matrix={"refund": {"recommend": 20.0}, "recommend": {"refund": 3.0}},
)
P = classification.Prediction


@pytest.mark.parametrize(
    ("preds", "key", "expected"),
    [
        pytest.param(
            [P("recommend", "recommend", 0.9), P("refund", "refund", 0.9)], "macro_f1", 1.0, id="perfect-f1"
        ),
        pytest.param(
            [P("refund", "recommend", 0.9), P("recommend", "recommend", 0.9)],
            "harm",
            10.0,
            id="missed-refund",
        ),
        pytest.param(
            [P("recommend", "refund", 0.6), P("recommend", "recommend", 0.6)], "harm", 1.5, id="false-alarm"
        ),
        pytest.param(
            [P("refund", "recommend", 0.9), P("refund", "refund", 0.9)],
            "critical_recall_min",
            0.5,
            id="critical",
        ),
        pytest.param(
            [P("recommend", "recommend", 1.0), P("refund", "recommend", 1.0)], "ece", 0.5, id="overconfident"
        ),
        pytest.param(
            [P("recommend", "recommend", 0.5), P("refund", "recommend", 0.5)], "ece", 0.0, id="calibrated"
        ),
    ],
)
def test_classification_metrics(preds: list[classification.Prediction], key: str, expected: float) -> None:
    assert classification.metrics(preds, COSTS)[key] == pytest.approx(expected)


def test_per_class_precision_recall() -> None:
    preds = [P("refund", "refund", 0.9), P("refund", "recommend", 0.9), P("recommend", "refund", 0.9)]
    classes = classification.per_class(preds, ["refund", "recommend"])
    assert classes["refund"]["precision"] == pytest.approx(0.5)
    assert classes["refund"]["recall"] == pytest.approx(0.5)
    assert classes["recommend"]["recall"] == 0.0


CATALOG = {
    "m1": golden.Item(
        "m1",
        "Quiet Tide",
        "text",
        "In the end the lighthouse becomes a library and Aoi leaves town.",
        9.99,
        "in_stock",
    ),
}


@pytest.mark.parametrize(
    ("item", "allowed", "bad"),
    [
        pytest.param({"id": "m1"}, None, False, id="known-id"),
        pytest.param({"id": "m9"}, None, True, id="unknown-id"),
        pytest.param({"id": "m1"}, {"m2"}, True, id="not-a-candidate"),
        pytest.param({"id": "m1", "price": 9.99, "title": "Quiet Tide"}, None, False, id="right-facts"),
        pytest.param({"id": "m1", "price": 4.99}, None, True, id="wrong-price"),
        pytest.param({"id": "m1", "availability": "preorder"}, None, True, id="wrong-availability"),
        pytest.param({"id": "m1", "title": "Loud Tide"}, None, True, id="wrong-title"),
    ],
)
def test_ungrounded(item: dict[str, object], allowed: set[str] | None, bad: bool) -> None:
    assert safety.ungrounded(item, CATALOG, allowed) is bad


@pytest.mark.parametrize(
    ("text", "spoils"),
    [
        pytest.param("A calm story by the sea.", False, id="clean"),
        pytest.param("Fun fact: the lighthouse becomes a library and Aoi leaves!", True, id="six-word-run"),
        pytest.param("the lighthouse becomes a library", False, id="five-words-only"),
    ],
)
def test_spoiler_detection(text: str, spoils: bool) -> None:
    out = safety.metrics([safety.Output([{"id": "m1", "text": text}], {})], CATALOG)
    assert out["spoiler_rate"] == (1.0 if spoils else 0.0)
    assert out["ungrounded_item_rate"] == 0.0

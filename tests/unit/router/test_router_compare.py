"""Paired shadow comparison on the model server's wire shapes."""

from __future__ import annotations

from typing import Any

import pytest

from router.compare import Comparison, compare, jaccard_at_k, spearman
from router.table import Kind


def items(*ids: str) -> dict[str, Any]:
    return {"model": "m", "version": "1", "items": [{"id": i, "score": 1.0} for i in ids]}


@pytest.mark.parametrize(
    ("kind", "primary", "shadow", "k", "expected"),
    [
        pytest.param(Kind.RETRIEVER, items("a", "b", "c"), items("a", "b", "c"), 3,
                     [Comparison(jaccard=1.0, top1_match=True)], id="retriever-identical"),
        pytest.param(Kind.RETRIEVER, items("a", "b", "c"), items("b", "a", "d"), 3,
                     [Comparison(jaccard=0.5, top1_match=False)], id="retriever-partial"),
        pytest.param(Kind.RETRIEVER, items("a", "b", "c", "x"), items("a", "y", "z", "b"), 2,
                     [Comparison(jaccard=1 / 3, top1_match=True)], id="retriever-top-k-only"),
        pytest.param(Kind.RETRIEVER, items(), items(), 3, [Comparison(jaccard=1.0, top1_match=False)],
                     id="retriever-empty"),
        pytest.param(Kind.CLASSIFIER, {"label": "search"}, {"label": "search"}, 3,
                     [Comparison(label_match=True)], id="classifier-agree"),
        pytest.param(Kind.CLASSIFIER, {"label": "search"}, {"label": "order"}, 3,
                     [Comparison(label_match=False)], id="classifier-disagree"),
        pytest.param(Kind.RERANKER, items("a", "b", "c"), items("a", "b", "c"), 3,
                     [Comparison(rank_correlation=1.0)], id="reranker-same"),
        pytest.param(Kind.RERANKER, items("a", "b", "c"), items("c", "b", "a"), 3,
                     [Comparison(rank_correlation=-1.0)], id="reranker-reversed"),
        pytest.param(Kind.RERANKER, items("a", "b"), items("c", "d"), 3, [Comparison()],
                     id="reranker-nothing-shared"),
        pytest.param(Kind.RETRIEVER, {"predictions": [items("a"), items("b")]},
                     {"predictions": [items("a"), items("c")]}, 1,
                     [Comparison(jaccard=1.0, top1_match=True), Comparison(jaccard=0.0, top1_match=False)],
                     id="kserve-v1-per-prediction"),
        pytest.param(Kind.GENERIC, {"x": 1}, {"y": 2}, 3, [], id="generic-nothing"),
        pytest.param(Kind.RETRIEVER, items("a"), {"error": "boom"}, 3, None, id="shadow-wrong-shape"),
        pytest.param(Kind.CLASSIFIER, {"label": "a"}, [1, 2], 3, None, id="classifier-not-object"),
        pytest.param(Kind.RETRIEVER, {"predictions": [items("a")]}, {"predictions": []}, 3, None,
                     id="kserve-length-mismatch"),
        pytest.param(Kind.RETRIEVER, items("a"), {"items": [{"id": 5}]}, 3, None, id="non-string-id"),
    ],
)  # fmt: skip
def test_compare(kind: Kind, primary: Any, shadow: Any, k: int, expected: list[Comparison] | None) -> None:
    assert compare(kind, primary, shadow, k) == expected


@pytest.mark.parametrize(
    ("a", "b", "k", "value"),
    [(["a", "b"], ["b", "a"], 2, 1.0), (["a", "b"], ["c", "d"], 2, 0.0), (["a", "b", "c"], ["a"], 3, 1 / 3)],
    ids=["same-set", "disjoint", "subset"],
)
def test_jaccard(a: list[str], b: list[str], k: int, value: float) -> None:
    assert jaccard_at_k(a, b, k) == pytest.approx(value)


def test_spearman_matches_scipy() -> None:
    from scipy.stats import spearmanr

    a = ["a", "b", "c", "d", "e"]
    b = ["b", "a", "e", "c", "d"]
    expected = spearmanr([0, 1, 2, 3, 4], [b.index(x) for x in a]).statistic
    assert spearman(a, b) == pytest.approx(expected)

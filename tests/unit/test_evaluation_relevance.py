"""Graded relevance: shelf-level targets (training, query log) and per-item ones (golden set)."""

from __future__ import annotations

import pytest
from shadowgate.evaluation import relevance

ITEM = {"id": "m1", "category": "iyashikei", "themes": ["iyashikei", "calm", "rural"]}
OTHER = {"id": "m2", "category": "comedy slice of life", "themes": ["comedy", "rural"]}


@pytest.mark.parametrize(
    ("item", "target", "grade"),
    [
        pytest.param(ITEM, relevance.Target("iyashikei", ("healing",)), 2, id="shelf-level-on-shelf"),
        pytest.param(ITEM, relevance.Target("iyashikei", ("calm",)), 3, id="shelf-level-theme"),
        pytest.param(OTHER, relevance.Target("iyashikei", ("rural",)), 1, id="shelf-level-off-shelf-theme"),
        pytest.param(ITEM, relevance.Target("iyashikei", ("healing",), per_item=True), 1, id="item-no-theme"),
        pytest.param(ITEM, relevance.Target("iyashikei", ("calm", "rural"), per_item=True), 3, id="item-all"),
        pytest.param(
            ITEM, relevance.Target("iyashikei", ("calm", "healing"), per_item=True), 2, id="item-some"
        ),
        pytest.param(
            ITEM,
            relevance.Target("iyashikei", ("calm", "healing", "found family"), per_item=True),
            1,
            id="item-1-of-3",
        ),
        pytest.param(
            ITEM,
            relevance.Target("iyashikei", ("calm", "rural", "healing"), per_item=True),
            2,
            id="item-2-of-3",
        ),
        pytest.param(OTHER, relevance.Target("iyashikei", ("rural",), per_item=True), 1, id="item-off-shelf"),
        pytest.param(OTHER, relevance.Target("iyashikei", (), per_item=True), 0, id="item-shelf-only-off"),
        pytest.param(ITEM, relevance.Target("iyashikei", (), per_item=True), 3, id="item-shelf-only-on"),
        pytest.param(
            ITEM, relevance.Target("iyashikei", ("calm",), per_item=True, exclude=("m1",)), 0, id="excluded"
        ),
    ],
)
def test_grade(item: dict[str, object], target: relevance.Target, grade: int) -> None:
    assert relevance.grade(item, target) == grade


def test_round_trip_and_shelf_level_bytes_unchanged() -> None:
    plain = relevance.Target("iyashikei", ("calm",))
    assert plain.to_dict() == {"category": "iyashikei", "themes": ["calm"]}
    strict = relevance.Target("iyashikei", ("calm",), per_item=True, exclude=("m1",))
    assert relevance.Target.from_dict(strict.to_dict()) == strict


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"category": "x", "exclude": "m1"}, id="exclude-not-a-list"),
        pytest.param({"category": "x", "per_item": "yes"}, id="per-item-not-bool"),
    ],
)
def test_bad_targets(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="target\\."):
        relevance.Target.from_dict(raw)


def test_golden_clusters_reach_the_per_query_results() -> None:
    import json

    from shadowgate.evaluation import golden, ranking

    row = {
        "id": "q1",
        "query": "soothing manga",
        "slices": ["s"],
        "judgments": {"m1": 3},
        "cluster": "healing:x",
    }
    files = {
        "catalog.jsonl": json.dumps({"id": "m1", "title": "T", "genres": [], "synopsis": "s"}) + "\n",
        "retrieval.jsonl": json.dumps(row) + "\n",
    }
    (q,) = golden.load_files(files).retrieval
    assert q.cluster == "healing:x"
    out = ranking.aggregate(
        [ranking.Scored(q.slices, ranking.query_metrics(["m1"], q.judgments), q.id, q.cluster)]
    )
    assert out["queries"][0]["cluster"] == "healing:x"  # type: ignore[index]
    with pytest.raises(golden.GoldenSetError, match="'cluster' must be a string"):
        golden.load_files({**files, "retrieval.jsonl": json.dumps({**row, "cluster": 3}) + "\n"})

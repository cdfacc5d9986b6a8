"""The trivial baselines: the lookup rule and BM25 on toy data, and their numbers on the
committed golden set (docs/data.md's table is these numbers)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from shadowgate.evaluation import baselines, golden

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data"

CATALOG: list[dict[str, Any]] = [
    {"id": "a1", "title": "Tea House", "category": "calm", "genres": ["sol"], "synopsis": "Tea and rain."},
    {"id": "a2", "title": "Rice Days", "category": "calm", "genres": ["sol"], "synopsis": "A farm."},
    {"id": "b1", "title": "Steel Fist", "category": "fight", "genres": ["action"], "synopsis": "Punches."},
    {"id": "c1", "title": "Red Moon", "category": "scary", "genres": ["horror"], "synopsis": "Ghosts."},
]  # fmt: skip
PAIRS = [
    {"query": "best calm comics", "positive": "a1"},
    {"query": "best calm comics", "positive": "a2"},
    {"query": "top calm series", "positive": "a2"},
    {"query": "best action comics", "positive": "b1"},
    {"query": "top action series", "positive": "b1"},
    {"query": "best horror comics", "positive": "c1"},
    {"query": "top horror series", "positive": "c1"},
]


def toy(queries: list[tuple[str, dict[str, int]]]) -> golden.GoldenSet:
    rows = [{"id": f"q{i}", "query": q, "slices": ["s"], "judgments": j} for i, (q, j) in enumerate(queries)]
    return golden.load_files(
        {
            "catalog.jsonl": "".join(json.dumps(c) + "\n" for c in CATALOG),
            "retrieval.jsonl": "".join(json.dumps(r) + "\n" for r in rows),
        }
    )


def lookup() -> baselines.Lookup:
    return baselines.Lookup(PAIRS, {c["id"]: c["category"] for c in CATALOG})


def test_lookup_strips_template_words_seen_on_three_shelves() -> None:
    # "best", "top", "comics", "series" come with positives on all three shelves.
    assert lookup().template_words == {"best", "top", "comics", "series"}


@pytest.mark.parametrize(
    ("query", "ranked"),
    [
        pytest.param("calm manga please", ["a2", "a1"], id="most-frequent-positive-first"),
        pytest.param("an action story", ["b1"], id="shared-concept-word"),
        pytest.param("soothing manga", [], id="unseen-concept-no-answer"),
        pytest.param("best series", [], id="template-words-only"),
    ],
)
def test_lookup_rank(query: str, ranked: list[str]) -> None:
    assert lookup().rank(query, 10) == ranked


def test_bm25_ranks_by_term_match_and_returns_no_zero_scores() -> None:
    bm = baselines.Bm25(toy([("x", {"a1": 3})]))
    assert bm.rank("tea and rain", 10) == ["a1"]
    assert bm.rank("the of and", 10) == []  # stop words only
    assert bm.rank("unknownword", 10) == []


def test_evaluate_scores_like_a_model() -> None:
    g = toy([("calm manga", {"a1": 3, "a2": 3}), ("ghosts", {"c1": 3}), ("soothing manga", {"a1": 3})])
    out = baselines.evaluate(g, PAIRS)
    assert set(out) == set(baselines.NAMES)
    assert out["lookup"]["retrieval"]["global"]["recall@3"] == pytest.approx(1 / 3)
    assert out["bm25"]["retrieval"]["global"]["recall@3"] == pytest.approx(1 / 3)  # only "ghosts" matches


def committed(track: str) -> dict[str, Any]:
    base = DATA / track
    pairs = [json.loads(line) for line in (base / "training" / "pairs.jsonl").read_text().splitlines()]
    return baselines.evaluate(golden.load_dir(base / "golden"), pairs)


def recall3(metrics: dict[str, Any], where: str) -> float:
    retrieval = metrics["retrieval"]
    part = retrieval["global"] if where == "global" else retrieval["slices"][where]
    return float(part["recall@3"])


def test_lookup_is_perfect_on_the_main_golden_set() -> None:
    # data/golden shares its concept phrases with data/training/pairs.jsonl: a lookup table of
    # the pairs answers every query (docs/data.md; why the held-out track exists).
    out = committed(".")
    slices = out["lookup"]["retrieval"]["slices"]
    assert recall3(out["lookup"], "global") == 1.0
    assert all(v["recall@3"] == 1.0 for v in slices.values())


@pytest.mark.parametrize(
    ("name", "where", "value"),
    [
        pytest.param("lookup", "global", 0.1541, id="lookup-global"),
        pytest.param("lookup", "iyashikei", 0.1781, id="lookup-iyashikei"),
        pytest.param("bm25", "global", 0.2916, id="bm25-global"),
        pytest.param("bm25", "iyashikei", 0.2997, id="bm25-iyashikei"),
    ],
)
def test_held_out_baseline_numbers(name: str, where: str, value: float) -> None:
    # The numbers docs/data.md reports for the held-out golden set.
    assert recall3(committed("heldout")[name], where) == pytest.approx(value, abs=5e-5)


def test_lookup_never_reaches_one_on_the_held_out_set() -> None:
    slices = committed("heldout")["lookup"]["retrieval"]["slices"]
    assert max(v["recall@3"] for v in slices.values()) < 0.5

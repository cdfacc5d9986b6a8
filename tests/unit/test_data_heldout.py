"""The held-out track's golden set (data/heldout/golden): its make-up, per-item judgments, the
slice sizes the detectability computation asks for, and that the committed files are exactly
what the generator writes."""

from __future__ import annotations

import json
import pathlib
import sys
from collections import Counter
from typing import Any

import pytest
from shadowgate.evaluation import golden, relevance

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # training/ is not an installed package

from training import build_heldout  # noqa: E402

HELD = ROOT / "data" / "heldout"
ROWS = [json.loads(line) for line in (HELD / "golden" / "retrieval.jsonl").read_text().splitlines()]
GOLD = golden.load_dir(HELD / "golden")


def test_loads_as_a_golden_set_over_the_same_catalog() -> None:
    assert (HELD / "golden" / "catalog.jsonl").read_bytes() == (ROOT / "data" / "catalog.jsonl").read_bytes()
    assert GOLD.counts()["retrieval"] == len(ROWS) >= 400
    assert GOLD.counts()["rerank"] == len(ROWS)


def test_three_styles_and_every_query_judged_per_item() -> None:
    styles = Counter(r["style"] for r in ROWS)
    assert set(styles) == {"templated", "free_form", "like_title"}
    assert styles["free_form"] >= 50 and styles["like_title"] >= 30
    assert all(r["target"]["per_item"] is True for r in ROWS)
    assert all(any(g >= relevance.RELEVANT_GRADE for g in r["judgments"].values()) for r in ROWS)


def test_a_theme_query_is_not_answered_by_the_whole_shelf() -> None:
    # Per item: a one-theme iyashikei query's relevant titles are those with the theme.
    shelf = {it.id for it in GOLD.catalog.values() if it.category == "iyashikei"}
    for r in ROWS:
        if r["target"]["category"] == "iyashikei" and r["target"]["themes"]:
            relevant = {i for i, g in r["judgments"].items() if g >= relevance.RELEVANT_GRADE}
            assert relevant < shelf, r["query"]
    relevant_sets = {
        frozenset(i for i, g in r["judgments"].items() if g >= relevance.RELEVANT_GRADE) for r in ROWS
    }
    assert len(relevant_sets) >= 50  # the old golden set had 10, one per shelf


def test_like_title_queries_exclude_their_title() -> None:
    for r in ROWS:
        if r["style"] == "like_title":
            (title_id,) = r["target"]["exclude"]
            assert GOLD.catalog[title_id].title in r["query"]
            assert title_id not in r["judgments"]


@pytest.mark.parametrize("name", build_heldout.CRITICAL_SLICES)
def test_critical_slices_meet_the_detectability_size(name: str) -> None:
    slices = sorted({s for r in ROWS for s in r["slices"]})
    need = build_heldout.min_slice_size(slices=len(slices))
    assert need == 60
    assert sum(name in r["slices"] for r in ROWS) >= need


def test_clusters_are_concepts() -> None:
    clusters: dict[str, set[str]] = {}
    for r in ROWS:
        clusters.setdefault(r["cluster"], set()).add(r["style"])
    assert all(len(styles) == 1 for styles in clusters.values())
    templated = Counter(r["cluster"] for r in ROWS if r["style"] == "templated")
    assert set(templated.values()) <= {3, 6}  # one query per golden template


def test_simulator_log_shares_no_query_with_training_or_golden() -> None:
    from shadowgate.simulator import workload

    log = [json.loads(line) for line in (HELD / "query_log.jsonl").read_text().splitlines()]
    queries = {r["query"] for r in log}
    training = {
        json.loads(line)["query"] for line in (HELD / "training" / "pairs.jsonl").read_text().splitlines()
    }
    main_log = {
        json.loads(line)["query"] for line in (ROOT / "data" / "query_log.jsonl").read_text().splitlines()
    }
    assert queries.isdisjoint(training | main_log)
    assert queries.isdisjoint(r["query"] for r in ROWS)
    assert not [q for q in queries if build_heldout.contains_any(q, build_heldout.training_phrases())]
    load = workload.load(HELD / "query_log.jsonl", ROOT / "data" / "catalog.jsonl")
    assert len(load.sessions) >= 500 and all(t.per_item for s in load.sessions for _, t in s)


@pytest.mark.slow
def test_committed_files_are_what_the_generator_writes(tmp_path: pathlib.Path) -> None:
    catalog: list[dict[str, Any]] = [
        json.loads(line) for line in (ROOT / "data" / "catalog.jsonl").read_text().splitlines()
    ]
    build_heldout.build(tmp_path, catalog, "7:heldout")
    for part in ("golden/retrieval.jsonl", "golden/rerank.jsonl", "training/pairs.jsonl", "query_log.jsonl"):
        assert (tmp_path / part).read_bytes() == (HELD / part).read_bytes(), part
    assert (tmp_path / "training/preservation.jsonl").read_bytes() == (
        HELD / "training/preservation.jsonl"
    ).read_bytes()

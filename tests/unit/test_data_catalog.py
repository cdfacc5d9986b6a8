"""The shipped MangaAssist data: shape, the confusable shelves, the golden set's make-up,
and that the committed catalog is exactly what the generator writes."""

from __future__ import annotations

import json
import pathlib
import sys
from collections import Counter
from typing import Any

import pytest
from shadowgate.evaluation import golden, relevance, safety

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


def jsonl(path: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


CATALOG = jsonl(DATA / "catalog.jsonl")
LOG = jsonl(DATA / "query_log.jsonl")
FIELDS = ("id", "title", "genres", "themes", "demographic", "synopsis", "spoiler", "price", "availability")


def test_catalog_size_and_fields() -> None:
    assert len(CATALOG) >= 300
    for item in CATALOG:
        missing = [f for f in FIELDS if f not in item]
        assert not missing, f"{item['id']} lacks {missing}"
        assert item["price"] > 0 and item["availability"] in {
            "in_stock",
            "preorder",
            "backorder",
            "out_of_print",
        }
    assert len({i["id"] for i in CATALOG}) == len(CATALOG)
    assert len({i["title"] for i in CATALOG}) == len(CATALOG)


def test_synopses_do_not_leak_their_spoilers() -> None:
    catalog = golden.load_dir(DATA / "golden").catalog
    index = safety.SpoilerIndex(catalog)
    leaking = [i["id"] for i in CATALOG if index.spoils(i["synopsis"])]
    assert leaking == []


@pytest.mark.parametrize("theme", ["healing", "calm", "rural", "found family"])
def test_each_critical_slice_has_titles(theme: str) -> None:
    shelf = [i for i in CATALOG if relevance.grade(i, relevance.Target("iyashikei", (theme,))) == 3]
    assert len(shelf) >= 12


def test_hard_negatives_share_surface_words() -> None:
    comedy = [i for i in CATALOG if i["category"] == "comedy slice of life"]
    iyashikei = [i for i in CATALOG if i["category"] == "iyashikei"]
    assert len(comedy) > len(iyashikei) >= 40
    assert all("slice of life" in i["genres"] for i in comedy + iyashikei)
    shared = ("countryside", "family", "cafe", "everyday", "seaside")
    assert all(any(w in " ".join(i["synopsis"] for i in comedy).lower() for w in [word]) for word in shared)


def test_golden_catalog_is_the_catalog() -> None:
    assert (DATA / "golden" / "catalog.jsonl").read_bytes() == (DATA / "catalog.jsonl").read_bytes()


def test_catalog_is_reproducible_from_the_generator() -> None:
    sys.path.insert(0, str(ROOT))
    from training import catalog as generator

    assert generator.generate(7) == CATALOG


def test_query_log_is_production_like() -> None:
    assert len(LOG) >= 2000
    intents = Counter(r["intent"] for r in LOG)
    assert intents.most_common(1)[0][0] == "recommend"
    for rare in ("order_problem", "refund_request", "age_restricted"):
        assert 0 < intents[rare] < 0.05 * len(LOG)
    assert all(r["session_id"].startswith("s") for r in LOG)
    assert all("target" in r for r in LOG if r["intent"] == "recommend")
    assert len({r["session_id"] for r in LOG}) < len(LOG)  # sessions hold several queries


def test_golden_intents_and_costs() -> None:
    g = golden.load_dir(DATA / "golden")
    labels = Counter(e.label for e in g.intents)
    assert all(labels[c] >= 20 for c in ("order_problem", "refund_request", "age_restricted"))
    assert g.costs is not None
    for critical in g.costs.critical:
        # Missing a critical request costs more than any false alarm raised by a routine one.
        routine = [t for t in g.costs.labels if t not in g.costs.critical]
        worst_false_alarm = max(g.costs.cost(t, critical) for t in routine)
        assert g.costs.cost(critical, "recommend") > worst_false_alarm


def test_every_golden_query_has_relevant_items() -> None:
    g = golden.load_dir(DATA / "golden")
    assert all(any(v >= relevance.RELEVANT_GRADE for v in q.judgments.values()) for q in g.retrieval)
    slices = Counter(s for q in g.retrieval for s in q.slices)
    assert all(slices[s] >= 12 for s in ("healing", "calm", "rural", "found_family"))

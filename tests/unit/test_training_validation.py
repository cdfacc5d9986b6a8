"""The training-side validation split: whole training templates held out, never golden text."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from training import queries, retriever, validation  # noqa: E402

PAIRS = retriever.read_jsonl(ROOT / "data" / "training" / "pairs.jsonl")
CATALOG = retriever.read_jsonl(ROOT / "data" / "catalog.jsonl")


@pytest.mark.parametrize(
    ("text", "template"),
    [
        pytest.param("iyashikei comics", "{p} comics", id="suffix"),
        pytest.param("best calm series", "best {p} series", id="both-ends"),
        pytest.param("suggest some gangster titles", "suggest some {p} titles", id="genre-template"),
        pytest.param("manga that feels rural", "manga that feels {p}", id="prefix"),
    ],
)
def test_template_of(text: str, template: str) -> None:
    assert validation.template_of(text) == template


def test_template_of_rejects_unknown_phrasing() -> None:
    with pytest.raises(ValueError, match="no training template matches 'calm manga'"):
        validation.template_of("calm manga")


def test_split_holds_out_whole_templates_of_training_queries_only() -> None:
    qs = validation.training_queries(PAIRS, CATALOG)
    held = validation.split_by_template(qs)
    held_templates = {validation.template_of(t) for t in held}
    assert len(held_templates) == 3
    assert all(validation.template_of(q.text) not in held_templates for q in qs if q.text not in held)
    assert held == validation.split_by_template(qs)  # seeded
    golden = {json.loads(line)["query"] for line in (ROOT / "data" / "golden" / "retrieval.jsonl").open()}
    assert not golden & {q.text for q in qs}
    assert set(queries.SLICE_TEMPLATES_GOLDEN).isdisjoint(queries.SLICE_TEMPLATES_TRAIN)


def test_every_training_phrase_appears_in_every_training_template() -> None:
    qs = validation.training_queries(PAIRS, CATALOG)
    per_template: dict[str, set[str]] = {}
    for q in qs:
        per_template.setdefault(validation.template_of(q.text), set()).add(q.group)
    # Each template carries queries of every group (iyashikei slices and all nine shelves);
    # a few texts are dropped as near-duplicates of golden ones, never a whole group.
    groups = {q.group for q in qs}
    assert len(groups) == 14
    assert all(g == groups for g in per_template.values())


def test_split_by_phrase_holds_out_whole_phrases_of_the_held_out_track() -> None:
    held_pairs = retriever.read_jsonl(ROOT / "data" / "heldout" / "training" / "pairs.jsonl")
    qs = validation.training_queries(held_pairs, CATALOG, per_item=True, held_out_track=True)
    held = validation.split_by_phrase(qs)
    phrase_of = {r["query"]: r["phrase"] for r in validation.recommend_rows(held_out_track=True)}
    held_phrases = {phrase_of[t] for t in held}
    assert held and all(phrase_of[q.text] not in held_phrases for q in qs if q.text not in held)
    groups = {q.group for q in qs}
    assert {q.group for q in qs if q.text in held} == groups  # every group loses a phrase
    assert held == validation.split_by_phrase(qs)  # seeded


def test_scoped_pairs_are_the_two_confusable_shelves() -> None:
    held_pairs = retriever.read_jsonl(ROOT / "data" / "heldout" / "training" / "pairs.jsonl")
    slices = {s for p in retriever.scoped(held_pairs) for s in p["slices"]}
    assert "iyashikei" in slices and "comedy_slice_of_life" in slices
    assert not slices & {"fantasy", "action", "sports"}

"""A validation split drawn from the TRAINING side only, to choose the adapter recipe.

The golden set is for release decisions, not for model selection: tuning a recipe on it
would make its numbers optimistic. So recipe choices (adapter rank, preservation weight)
are compared on held-out *training-template* queries: every recommendation query the
training templates produce (``build_data.recommend_queries(golden=False)``, the same
near-duplicate filter against golden text applies because only queries that survived it
appear in ``pairs.jsonl``), split by query, stratified by group, into fit and validation
parts. Relevance comes from the catalog metadata (``relevance.judgments``), exactly as for
any training label.

Three splits: ``split`` (a random fifth of each group's queries), ``split_by_template``
(whole training templates held out) and ``split_by_phrase`` (whole training concept
phrases held out), which is the one that matters now: golden queries name concepts
training never names, in templates it never uses. ``python -m training.validation`` trains
each recipe on the rest and prints per-slice Recall@3 on the held-out phrases, graded per
item as the golden set is.
"""

from __future__ import annotations

import json
import pathlib
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from shadowgate.evaluation import ranking, relevance

VALIDATION_FRACTION = 0.2
SEED = 29


@dataclass(frozen=True)
class Query:
    text: str
    slices: tuple[str, ...]
    judgments: dict[str, int]
    group: str


def recommend_rows(held_out_track: bool = False) -> list[dict[str, Any]]:
    """Every training recommendation query (all templates x phrases) of the main track or of
    the held-out track (``build_heldout``), with target, slices, group and phrase."""
    from training import build_data, heldout

    if held_out_track:
        return build_data.recommend_queries(
            golden=False, crossed=True, slices=heldout.TRAIN_SLICES, genres=heldout.TRAIN_GENRES
        )
    return build_data.recommend_queries(golden=False, crossed=True)


def training_queries(
    pairs: Sequence[dict[str, Any]],
    catalog: Sequence[dict[str, Any]],
    per_item: bool = False,
    held_out_track: bool = False,
) -> list[Query]:
    """The distinct queries of ``pairs`` with their targets' judgments (training side only);
    ``per_item`` grades them as the held-out golden set does (``relevance``: a one-theme
    query's relevant items are the shelf's titles with that theme, not the whole shelf)."""
    by_text = {q["query"]: q for q in recommend_rows(held_out_track)}
    out = []
    for text in sorted({p["query"] for p in pairs}):
        q = by_text[text]
        raw = relevance.Target.from_dict(q["target"])
        target = relevance.Target(raw.category, raw.themes, per_item=per_item)
        out.append(Query(text, tuple(q["slices"]), relevance.judgments(catalog, target), q["group"]))
    return out


def relevant_items(queries: Sequence[Query]) -> dict[str, list[str]]:
    """Query text -> its relevant item ids (grade >= 2), the training loss's mask."""
    return {
        q.text: sorted(i for i, g in q.judgments.items() if g >= relevance.RELEVANT_GRADE) for q in queries
    }


def template_of(text: str) -> str:
    """The training template a query was written from (``queries.*_TEMPLATES_TRAIN``)."""
    from training import queries

    for tpl in (*queries.SLICE_TEMPLATES_TRAIN, *queries.GENRE_TEMPLATES_TRAIN):
        prefix, suffix = tpl.split("{p}")
        if text.startswith(prefix) and text.endswith(suffix) and len(text) > len(prefix) + len(suffix):
            return tpl
    raise ValueError(f"no training template matches {text!r}")


def split_by_template(queries: Sequence[Query], held: int = 2, seed: int = SEED) -> set[str]:
    """The validation query texts: every query of ``held`` slice templates and one genre
    template, chosen at random. The golden set is phrased with templates training never
    sees, so holding out whole templates estimates that gap; a random split of queries
    would put the same phrasing on both sides."""
    from training import queries as q

    rng = random.Random(seed)
    out = set(rng.sample(sorted(q.SLICE_TEMPLATES_TRAIN), held))
    out.add(rng.choice(sorted(q.GENRE_TEMPLATES_TRAIN)))
    return {x.text for x in queries if template_of(x.text) in out}


def split_by_phrase(queries: Sequence[Query], seed: int = SEED, held_out_track: bool = True) -> set[str]:
    """The validation query texts: every query of a seeded third (at least one) of each
    group's training concept phrases, in all templates. The held-out golden set asks for
    concepts training never names (``heldout``), so holding out whole phrases is the split
    that estimates that gap; the held-out track's recipe was chosen on it."""
    rows = recommend_rows(held_out_track)
    phrase_of = {r["query"]: r["phrase"] for r in rows}
    by_group: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_group[r["group"]].add(r["phrase"])
    rng = random.Random(seed)
    held: set[str] = set()
    for group in sorted(by_group):
        phrases = sorted(by_group[group])
        held.update(rng.sample(phrases, max(1, len(phrases) // 3)))
    return {q.text for q in queries if phrase_of[q.text] in held}


def split(queries: Sequence[Query], fraction: float = VALIDATION_FRACTION, seed: int = SEED) -> set[str]:
    """The validation query texts: ``fraction`` of each group's queries (at least one)."""
    rng = random.Random(seed)
    groups: dict[str, list[str]] = defaultdict(list)
    for q in queries:
        groups[q.group].append(q.text)
    held: set[str] = set()
    for group in sorted(groups):
        texts = sorted(groups[group])
        held.update(rng.sample(texts, max(1, round(fraction * len(texts)))))
    return held


def slice_recall(
    queries: Sequence[Query],
    query_emb: np.ndarray,
    index: np.ndarray,
    catalog: Sequence[dict[str, Any]],
    transform: Callable[[np.ndarray], np.ndarray],
    k: int = 3,
) -> dict[str, float]:
    """Mean Recall@k per slice (and ``global``) of ``transform``-ed query embeddings."""
    q = transform(query_emb)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    top = np.argsort(-(q @ index.T), axis=1)[:, :k]
    ids = [it["id"] for it in catalog]
    sums: dict[str, list[float]] = defaultdict(list)
    for row, query in zip(top, queries, strict=True):
        r = ranking.recall_at_k([ids[i] for i in row], query.judgments, k)
        if r is None:
            continue
        for name in ("global", *query.slices):
            sums[name].append(r)
    return {name: float(np.mean(v)) for name, v in sorted(sums.items())}


def main() -> None:
    from training import embed, retriever

    data = pathlib.Path(__file__).resolve().parents[1] / "data"
    catalog = retriever.read_jsonl(data / "catalog.jsonl")
    # The held-out track's pairs: the recipe it ships was chosen here (docs/data.md).
    pairs = retriever.read_jsonl(data / "heldout" / "training" / "pairs.jsonl")
    index = retriever.build_index(catalog)
    queries = training_queries(pairs, catalog, per_item=True, held_out_track=True)
    held = split_by_phrase(queries)
    val = [q for q in queries if q.text in held]
    fit = [p for p in pairs if p["query"] not in held]
    relevant = relevant_items([q for q in queries if q.text not in held])
    # The committed preservation texts, less the held-out validation queries among them.
    preserve = [
        t
        for r in retriever.read_jsonl(data / "heldout" / "training" / "preservation.jsonl")
        if (t := r["text"]) not in held
    ]
    val_emb = embed.encode([q.text for q in val])
    rows = {"baseline": slice_recall(val, val_emb, index, catalog, lambda q: q)}
    for name, recipe, fitted, kept in (
        ("full (first recipe), all pairs", retriever.FULL_RECIPE, fit, ()),
        ("main-track recipe, all pairs", retriever.RECIPE, fit, ()),
        ("shipped: scoped + preservation", retriever.HELDOUT_RECIPE, retriever.scoped(fit), preserve),
    ):
        started = time.monotonic()
        adapter = retriever.train_adapter(
            fitted, catalog, index, recipe=recipe, relevant=relevant, preserve_texts=kept
        )
        rows[f"{name}, {time.monotonic() - started:.0f}s"] = slice_recall(
            val, val_emb, index, catalog, adapter.apply
        )
    out = {"fit_pairs": len(fit), "validation_queries": len(val), "recall@3": rows}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""The held-out track: a golden set whose concepts training never names, and its training pairs.

    (written by ``python -m training.build_data`` into ``data/heldout/``)

``data/golden/`` (the set the demo's gates read) was drawn from the same concept phrases as
``data/training/pairs.jsonl``, only in other templates, so a lookup table of the training
pairs scores Recall@3 1.000 on every slice of it (``evaluation.baselines``). This track
reserves whole concepts instead (``heldout``): ``heldout/golden/`` holds templated queries
over held-out phrases, free-form and "like <title>" queries, judged per item;
``heldout/training/pairs.jsonl`` is built like the main pairs from the remaining phrases
only (every training template with every phrase), with the same near-duplicate filter
against the track's golden texts. ``training.build_all`` trains ``retriever-heldout`` on
it. Same catalog; own RNG, so the main files do not move.

Files: ``heldout/golden/{catalog,retrieval,rerank}.jsonl`` (a golden set
``shadowgate evaluate --golden data/heldout/golden`` loads) and
``heldout/training/{pairs,preservation}.jsonl`` (the second: unlabelled texts the
adapter's preservation term reads, ``retriever.preservation_texts``), and
``heldout/query_log.jsonl`` for the user simulator (``query_log``). Each golden
retrieval row also carries ``style`` (templated, free_form, like_title) and ``cluster``
(its concept phrase, or its own id).
"""

from __future__ import annotations

import math
import pathlib
import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from shadowgate.evaluation import relevance, text

from training import build_data, heldout, queries, vocab

# The slices a release must not regress, and the drop each must be able to show (issue 15).
CRITICAL_SLICES = ("iyashikei", "healing", "calm", "rural", "found_family")
DETECTABLE_DROP = 0.15
GATE_ALPHA = 0.05  # the mangaassist preset's no-slice-regression alpha


def min_slice_size(drop: float = DETECTABLE_DROP, alpha: float = GATE_ALPHA, slices: int = 14) -> int:
    """The fewest queries (or clusters, for a statistic that counts clusters) a slice needs
    before a mean Recall@3 drop of ``drop`` can be significant in the no-slice-regression
    gate: one-sided exact sign test per slice, Holm across ``slices`` slices at family-wise
    ``alpha``.

    Assumptions, stated because the number depends on them: the drop is carried by queries
    that each lose everything (1.0 -> 0.0), so only ``drop * n`` queries are worse — the
    fewest worse queries a drop of that size can have, hence the hardest case — and no query
    is better. Then p = 2^-worse, and the strictest Holm threshold is alpha / slices, so the
    slice needs worse >= w = ceil(log2(slices / alpha)) and n >= w / drop. With 14 slices
    and alpha 0.05: w = 9, n >= 60. It is a necessary size, not a power calculation: queries
    that improve while others drop, or losses spread thinner, change the count."""
    worse = math.ceil(math.log2(slices / alpha) - 1e-12)
    return math.ceil(worse / drop - 1e-9)


def golden_queries(catalog: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """The golden retrieval queries (without ids and judgments): every golden template with
    every held-out phrase, the free-form queries, and "like <title>" queries for seeded
    titles (see ``heldout``). All targets are judged per item."""
    out: list[dict[str, Any]] = []

    def add(query: str, category: str, themes: tuple[str, ...], slices: list[str], style: str, cluster: str,
            exclude: tuple[str, ...] = ()) -> None:  # fmt: skip
        target = relevance.Target(category, themes, per_item=True, exclude=exclude)
        out.append(
            {"query": query, "target": target.to_dict(), "slices": slices, "style": style, "cluster": cluster}
        )

    def iyashikei_slices(themes: tuple[str, ...]) -> list[str]:
        return ["iyashikei", *(heldout.slice_of_theme(t) for t in themes)]

    for name, (themes, phrases) in heldout.GOLDEN_SLICES.items():
        for phrase in phrases:
            for tpl in queries.SLICE_TEMPLATES_GOLDEN:
                add(
                    tpl.format(p=phrase),
                    "iyashikei",
                    themes,
                    build_data._slice_names(name),
                    "templated",
                    f"{name}:{phrase}",
                )
    for category, by_theme in heldout.GOLDEN_GENRES.items():
        for theme, phrases in by_theme.items():
            for phrase in phrases:
                for tpl in queries.GENRE_TEMPLATES_GOLDEN:
                    themes = (theme,) if theme else ()
                    slices = [category.replace(" ", "_")]
                    add(tpl.format(p=phrase), category, themes, slices, "templated", f"{category}:{phrase}")
    for n, (query, category, themes) in enumerate(heldout.FREE_FORM):
        slices = iyashikei_slices(themes) if category == "iyashikei" else [category.replace(" ", "_")]
        add(query, category, themes, slices, "free_form", f"free:{n}")
    train_phrases = training_phrases()
    for category in sorted({it["category"] for it in catalog}):
        shelf = [
            it
            for it in catalog
            if it["category"] == category and not contains_any(it["title"], train_phrases)
        ]
        count = heldout.LIKE_PER_SHELF.get(category, heldout.LIKE_OTHER_SHELVES)
        for item in rng.sample(shelf, min(count, len(shelf))):
            tpl = rng.choice(heldout.LIKE_TEMPLATES)
            if category == "iyashikei":
                themes = tuple(t for t in vocab.SLICE_THEMES if t in item["themes"])
                slices = iyashikei_slices(themes)
            else:
                themes, slices = tuple(item["themes"]), [category.replace(" ", "_")]
            add(tpl.format(title=item["title"]), category, themes, slices, "like_title", f"like:{item['id']}",
                exclude=(item["id"],))  # fmt: skip
    return out


def training_phrases() -> list[str]:
    """Every concept phrase the track's training side uses (``heldout.TRAIN_*``)."""
    out = [p for _, phrases in heldout.TRAIN_SLICES.values() for p in phrases]
    out += [p for by_theme in heldout.TRAIN_GENRES.values() for phrases in by_theme.values() for p in phrases]
    return sorted(set(out))


def golden_phrases() -> list[str]:
    """Every held-out concept phrase of the golden set (``heldout.GOLDEN_*``)."""
    out = [p for _, phrases in heldout.GOLDEN_SLICES.values() for p in phrases]
    out += [
        p for by_theme in heldout.GOLDEN_GENRES.values() for phrases in by_theme.values() for p in phrases
    ]
    return sorted(set(out))


def contains_any(sentence: str, phrases: Iterable[str]) -> bool:
    """Whether a phrase occurs in ``sentence`` as a run of whole normalised tokens (so
    "calm" is in "a calm read" but not in "calming"; a phrase in Japanese script, which
    normalises to no tokens, is matched as a plain substring)."""
    padded = f" {text.normalize(sentence)} "
    for phrase in phrases:
        norm = text.normalize(phrase)
        if (norm and f" {norm} " in padded) or (not norm and phrase in sentence):
            return True
    return False


def query_log(rng: random.Random) -> list[dict[str, Any]]:
    """The user simulator's held-out log: sessions of 1-3 recommendation queries, each a
    golden concept phrase in a ``heldout.LOG_TEMPLATES`` wording, judged per item. It shares
    no query with training (whose phrases are disjoint) nor with the golden set (whose
    templates are), so a canary's no-click change on it is about unseen concepts."""
    pool = []
    for name, (themes, phrases) in heldout.GOLDEN_SLICES.items():
        for phrase in phrases:
            pool.append((phrase, "iyashikei", themes, build_data._slice_names(name)))
    for category, by_theme in heldout.GOLDEN_GENRES.items():
        for theme, phrases in by_theme.items():
            for phrase in phrases:
                pool.append((phrase, category, (theme,) if theme else (), [category.replace(" ", "_")]))
    rows: list[dict[str, Any]] = []
    ts = 1_795_000_000  # an arbitrary fixed start, after the main log's
    session = 0
    while len(rows) < heldout.LOG_ROWS:
        session += 1
        for _ in range(rng.choice((1, 1, 2, 3))):
            phrase, category, themes, slices = rng.choice(pool)
            ts += rng.randint(1, 90)
            target = relevance.Target(category, themes, per_item=True)
            rows.append(
                {
                    "intent": "recommend",
                    "query": rng.choice(heldout.LOG_TEMPLATES).format(p=phrase),
                    "session_id": f"h{session:05d}",
                    "slices": slices,
                    "target": target.to_dict(),
                    "ts": ts,
                }
            )
    return rows[: heldout.LOG_ROWS]


def build(out: pathlib.Path, catalog: list[dict[str, Any]], seed: str) -> dict[str, Any]:
    """Write the track under ``out`` and return its part of the build report."""
    rng = random.Random(seed)
    golden = golden_queries(catalog, rng)
    for i, q in enumerate(golden):
        q["id"] = f"h{i + 1:03d}"
        q["judgments"] = relevance.judgments(catalog, relevance.Target.from_dict(q["target"]))
    leak = build_data._Leakage([q["query"] for q in golden])
    train = build_data.recommend_queries(
        golden=False, crossed=True, slices=heldout.TRAIN_SLICES, genres=heldout.TRAIN_GENRES
    )
    train = [q for q, ok in zip(train, leak.keep([q["query"] for q in train], "pairs"), strict=True) if ok]
    pairs = build_data._pairs(rng, catalog, train)
    from training import retriever

    # Unlabelled text the adapter's preservation term reads: also a training path, so it
    # passes the same phrase and near-duplicate filters.
    preserve = retriever.preservation_texts(pairs, catalog, golden_phrases())
    preserve = [t for t, ok in zip(preserve, leak.keep(preserve, "preservation"), strict=True) if ok]
    build_data._write_jsonl(out / "golden" / "catalog.jsonl", catalog)
    build_data._write_jsonl(out / "golden" / "retrieval.jsonl", golden)
    rerank = build_data._rerank(random.Random(f"{seed}:rerank"), catalog, golden)
    build_data._write_jsonl(out / "golden" / "rerank.jsonl", rerank)
    build_data._write_jsonl(out / "training" / "pairs.jsonl", pairs)
    build_data._write_jsonl(out / "training" / "preservation.jsonl", ({"text": t} for t in preserve))
    # Its own RNG, so the files above do not move when the log changes.
    log = query_log(random.Random(f"{seed}:log"))
    build_data._write_jsonl(out / "query_log.jsonl", log)
    return {
        "golden_retrieval_queries": len(golden),
        "golden_styles": dict(Counter(q["style"] for q in golden)),
        "golden_slices": dict(Counter(s for q in golden for s in q["slices"])),
        "golden_clusters": {
            s: len({q["cluster"] for q in golden if s in q["slices"]})
            for s in sorted({s for q in golden for s in q["slices"]})
        },
        "training_queries": len(train),
        "training_pairs": len(pairs),
        "preservation_texts": len(preserve),
        "query_log": len(log),
        "query_log_distinct_queries": len({r["query"] for r in log}),
        "near_duplicates_dropped": dict(leak.dropped),
    }

"""Write the shipped MangaAssist data under ``data/`` deterministically.

    python -m training.build_data [--out data] [--seed 7]

Outputs (all committed): ``catalog.jsonl``, ``query_log.jsonl``, ``training/pairs.jsonl``,
``golden/{catalog.jsonl,retrieval.jsonl,rerank.jsonl,intents.jsonl,costs.json}`` and
``build_report.json``. The golden set is drawn first from its own templates; every
training text (editorial pairs, query log) that is a near-duplicate of any golden text
(token Jaccard >= JACCARD_MAX or MiniLM cosine >= COSINE_MAX) is dropped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from shadowgate.evaluation import relevance, text

from training import catalog as catalog_gen
from training import embed, queries

JACCARD_MAX = 0.6
COSINE_MAX = 0.9
SLICE_GOLDEN_PER_SLICE = 12
GENRE_GOLDEN_PER_CATEGORY = 6
QUERY_LOG_SIZE = 2400
LOG_INTENT_WEIGHTS = {
    "recommend": 55, "title_info": 12, "price_availability": 10, "order_status": 8, "chitchat": 8,
    "order_problem": 3, "refund_request": 2, "age_restricted": 2,
}  # fmt: skip
GOLDEN_INTENT_COUNTS = {
    "title_info": 30, "price_availability": 30, "order_status": 25, "chitchat": 12,
    "order_problem": 25, "refund_request": 25, "age_restricted": 25,
}  # fmt: skip
COSTS = {
    # cost[true][predicted]; unlisted mistakes cost DEFAULT_COST, a correct label 0.
    # Missing a critical request strands a customer (order problem, refund) or shows adult
    # content without an age check; a false alarm only sends a chat to a human agent.
    "default_cost": 1.0,
    "critical_miss": {"order_problem": 20.0, "refund_request": 15.0, "age_restricted": 40.0},
    "false_alarm": 3.0,
}


def _slice_names(slice_name: str) -> list[str]:
    return ["iyashikei"] if slice_name == "iyashikei" else ["iyashikei", slice_name]


def recommend_queries(
    golden: bool,
    crossed: bool = False,
    slices: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = queries.SLICES,
    genres: Mapping[str, Mapping[str | None, tuple[str, ...]]] = queries.GENRES,
) -> list[dict[str, Any]]:
    """Every (template, phrase) recommendation query of one split, with its target and slices.

    ``crossed`` (training split only): every training template with every phrase. The
    training slice and genre templates are different lists, so without crossing the
    template alone tells an iyashikei query from a genre one, and an adapter learns that
    shortcut: held-out templates then land on the wrong shelf (training.validation).
    ``slices``/``genres``: the concept phrases (the held-out track passes its own)."""
    out: list[dict[str, Any]] = []
    slice_templates: tuple[str, ...] = (
        queries.SLICE_TEMPLATES_GOLDEN if golden else queries.SLICE_TEMPLATES_TRAIN
    )
    genre_templates: tuple[str, ...] = (
        queries.GENRE_TEMPLATES_GOLDEN if golden else queries.GENRE_TEMPLATES_TRAIN
    )
    if crossed and not golden:
        # Both lists share "{p} comics" and "best {p} series": keep each template once.
        slice_templates = genre_templates = tuple(
            dict.fromkeys(queries.SLICE_TEMPLATES_TRAIN + queries.GENRE_TEMPLATES_TRAIN)
        )
    for name, (themes, phrases) in slices.items():
        for tpl, phrase in itertools.product(slice_templates, phrases):
            out.append(
                {
                    "query": tpl.format(p=phrase),
                    "target": relevance.Target("iyashikei", themes).to_dict(),
                    "slices": _slice_names(name),
                    "group": name,
                    "phrase": phrase,
                }
            )
    for category, by_theme in genres.items():
        for theme, phrases in by_theme.items():
            for tpl, phrase in itertools.product(genre_templates, phrases):
                out.append(
                    {
                        "query": tpl.format(p=phrase),
                        "target": relevance.Target(category, (theme,) if theme else ()).to_dict(),
                        "slices": [category.replace(" ", "_")],
                        "group": category,
                        "phrase": phrase,
                    }
                )
    return out


def _pick_golden_retrieval(rng: random.Random) -> list[dict[str, Any]]:
    pool = recommend_queries(golden=True)
    chosen: list[dict[str, Any]] = []
    for group, rows in itertools.groupby(pool, key=lambda r: r["group"]):
        rows_list = list(rows)
        n = SLICE_GOLDEN_PER_SLICE if group in queries.SLICES else GENRE_GOLDEN_PER_CATEGORY
        chosen += rng.sample(rows_list, min(n, len(rows_list)))
    return chosen


def _fill(template: str, rng: random.Random, titles: list[str]) -> str:
    return template.format(
        title=rng.choice(titles),
        order=f"#{rng.randint(100000, 999999)}",
        genre=rng.choice(queries.ADULT_GENRES),
    )


class _Leakage:
    """Near-duplicate filter against every golden text."""

    def __init__(self, golden_texts: list[str]) -> None:
        self.golden = golden_texts
        self.golden_emb = embed.encode(golden_texts)
        self.dropped: Counter[str] = Counter()

    def keep(self, texts: list[str], kind: str) -> list[bool]:
        emb = embed.encode(texts)
        cos = emb @ self.golden_emb.T if len(texts) else np.zeros((0, len(self.golden)))
        out = []
        for i, t in enumerate(texts):
            dup = float(cos[i].max()) >= COSINE_MAX or any(
                text.jaccard(t, g) >= JACCARD_MAX for g in self.golden
            )
            if dup:
                self.dropped[kind] += 1
            out.append(not dup)
        return out


def _pairs(
    rng: random.Random, catalog: list[dict[str, Any]], train_queries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Editorial (query, positive, hard negative) rows. Hard negatives for slice queries come
    from comedy slice of life (the shelf a plain embedder confuses with iyashikei) and
    vice versa; other queries get a random irrelevant item."""
    comedy = [it for it in catalog if it["category"] == "comedy slice of life"]
    healing = [it for it in catalog if it["category"] == "iyashikei"]
    rows = []
    for q in train_queries:
        target = relevance.Target.from_dict(q["target"])
        positives = [it for it in catalog if relevance.grade(it, target) == relevance.MAX_GRADE]
        # The two confusable shelves are each other's hard negatives, in both directions,
        # so pulling slice queries away from comedy does not drag comedy queries along.
        if q["group"] in queries.SLICES:
            negatives = comedy
        elif q["group"] == "comedy slice of life":
            negatives = healing
        else:
            negatives = [it for it in catalog if relevance.grade(it, target) == 0]
        for pos in rng.sample(positives, min(3, len(positives))):
            rows.append(
                {
                    "query": q["query"],
                    "positive": pos["id"],
                    "hard_negative": rng.choice(negatives)["id"],
                    "slices": q["slices"],
                }
            )
    return rows


def _query_log(
    rng: random.Random, recommend: list[dict[str, Any]], titles: list[str]
) -> list[dict[str, Any]]:
    intents, weights = zip(*LOG_INTENT_WEIGHTS.items(), strict=True)
    rows: list[dict[str, Any]] = []
    ts = 1_790_000_000  # 2026-09-21, an arbitrary fixed start
    session = 0
    while len(rows) < QUERY_LOG_SIZE:
        session += 1
        for _ in range(rng.choice((1, 1, 2, 3, 4))):
            intent = rng.choices(intents, weights)[0]
            ts += rng.randint(1, 90)
            row: dict[str, Any] = {"session_id": f"s{session:05d}", "ts": ts, "intent": intent}
            if intent == "recommend":
                q = rng.choice(recommend)
                row.update(query=q["query"], target=q["target"], slices=q["slices"])
            else:
                row["query"] = _fill(rng.choice(queries.INTENTS[intent][1]), rng, titles)
            rows.append(row)
    return rows[:QUERY_LOG_SIZE]


def _golden_intents(
    rng: random.Random, golden_retrieval: list[dict[str, Any]], titles: list[str]
) -> list[dict[str, Any]]:
    rows = [{"text": q["query"], "label": "recommend"} for q in golden_retrieval]
    for intent, n in GOLDEN_INTENT_COUNTS.items():
        seen: list[str] = []
        templates = queries.INTENTS[intent][0]
        # Templates without slots (chitchat) yield fewer distinct texts than asked for.
        for _ in range(50 * n):
            t = _fill(rng.choice(templates), rng, titles)
            if t not in seen:
                seen.append(t)
            if len(seen) == n:
                break
        rows += [{"text": t, "label": intent} for t in seen]
    return [{"id": f"i{i + 1:03d}", **r} for i, r in enumerate(rows)]


def _rerank(
    rng: random.Random, catalog: list[dict[str, Any]], golden: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """20 candidates per golden query (up to 12 judged, the rest unjudged), shuffled."""
    ids = [it["id"] for it in catalog]
    rows = []
    for q in golden:
        judged = sorted(q["judgments"], key=lambda i: (-q["judgments"][i], i))
        picked = rng.sample(judged, min(12, len(judged)))
        others = [i for i in ids if i not in q["judgments"]]
        cands = picked + rng.sample(others, 20 - len(picked))
        rng.shuffle(cands)
        rows.append({"query_id": q["id"], "candidates": cands})
    return rows


def _write_jsonl(path: pathlib.Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))


def _write_json(path: pathlib.Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def build(out: pathlib.Path, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    catalog = catalog_gen.generate(seed)
    titles = [it["title"] for it in catalog]

    golden = _pick_golden_retrieval(rng)
    for i, q in enumerate(golden):
        q["id"] = f"q{i + 1:03d}"
        q["judgments"] = relevance.judgments(catalog, relevance.Target.from_dict(q["target"]))
        del q["group"], q["phrase"]
    golden_intents = _golden_intents(rng, golden, titles)

    leak = _Leakage([q["query"] for q in golden] + [r["text"] for r in golden_intents])
    train = recommend_queries(golden=False)
    train = [q for q, ok in zip(train, leak.keep([q["query"] for q in train], "pairs"), strict=True) if ok]
    pairs = _pairs(rng, catalog, train)
    log = _query_log(rng, train, titles)
    keep = leak.keep([r["query"] for r in log], "query_log")
    log = [r for r, ok in zip(log, keep, strict=True) if ok]
    # Template-crossed pairs (see recommend_queries), with their own RNG so that the query
    # log and the original pairs stay exactly as they were.
    plain = {q["query"] for q in recommend_queries(golden=False)}
    crossed = [q for q in recommend_queries(golden=False, crossed=True) if q["query"] not in plain]
    keep = leak.keep([q["query"] for q in crossed], "pairs_crossed")
    crossed = [q for q, ok in zip(crossed, keep, strict=True) if ok]
    pairs += _pairs(random.Random(f"{seed}:crossed"), catalog, crossed)

    labels = list(queries.INTENT_LABELS)
    costs = {
        "labels": labels,
        "critical": list(queries.CRITICAL_INTENTS),
        "default_cost": COSTS["default_cost"],
        "matrix": {
            t: {
                p: 0.0
                if p == t
                else COSTS["critical_miss"][t]  # type: ignore[index]
                if t in queries.CRITICAL_INTENTS
                else COSTS["false_alarm"]
                if p in queries.CRITICAL_INTENTS
                else COSTS["default_cost"]
                for p in labels
            }
            for t in labels
        },
    }
    _write_jsonl(out / "catalog.jsonl", catalog)
    _write_jsonl(out / "golden" / "catalog.jsonl", catalog)
    _write_jsonl(out / "golden" / "retrieval.jsonl", golden)
    # Its own RNG: the golden set must not move when the training-side draws change.
    _write_jsonl(out / "golden" / "rerank.jsonl", _rerank(random.Random(f"{seed}:rerank"), catalog, golden))
    _write_jsonl(out / "golden" / "intents.jsonl", golden_intents)
    _write_json(out / "golden" / "costs.json", costs)
    _write_jsonl(out / "training" / "pairs.jsonl", pairs)
    _write_jsonl(out / "query_log.jsonl", log)
    report = {
        "seed": seed,
        "catalog": dict(Counter(it["category"] for it in catalog)),
        "golden_retrieval_queries": len(golden),
        "golden_intents": dict(Counter(r["label"] for r in golden_intents)),
        "training_queries": len(train),
        "training_queries_crossed": len(crossed),
        "training_pairs": len(pairs),
        "query_log": dict(Counter(r["intent"] for r in log)),
        "near_duplicates_dropped": dict(leak.dropped),
        "thresholds": {"jaccard_max": JACCARD_MAX, "cosine_max": COSINE_MAX},
    }
    # The held-out track (training/heldout.py) after everything above, with its own RNG, so
    # the files above stay byte-identical.
    from training import build_heldout

    report["heldout"] = build_heldout.build(out / "heldout", catalog, f"{seed}:heldout")
    _write_json(out / "build_report.json", report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("data"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(build(args.out, args.seed), indent=2))


if __name__ == "__main__":
    main()

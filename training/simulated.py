"""Expected no-click rate of each retriever on the held-out query log, under the simulator's
click model, computed offline (no router, no dice).

    python -m training.simulated [--models DIR] [--shown 5]

For every recommendation row of ``data/heldout/query_log.jsonl`` (sessions drawn as the
user simulator draws them, so each row counts once), the top ``--shown`` items of each
ranker are graded against the row's per-item target and turned into the probability that
the user clicks nothing (``simulator.clicks.ClickModel.no_click_probability``, eta 1, noise
0.02, the simulator's defaults). The mean over rows is the no-click rate a long canary run
would converge to. Rankers: plain MiniLM and the ``retriever-heldout`` adapter (their
archives' tensors, applied as the model server does), BM25 and the phrase lookup
(``shadowgate.evaluation.baselines``).

Assumptions: users behave as the click model says (position-biased examination, clicks
driven by grade only, one click per impression); the log's sessions are the traffic.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from collections.abc import Callable, Sequence

import numpy as np
import safetensors.numpy
from shadowgate.evaluation import baselines, golden, relevance
from shadowgate.simulator import clicks

from training import build_all, embed, retriever


def expected_no_click(
    rows: Sequence[dict[str, object]],
    rank: Callable[[list[str]], list[list[str]]],
    catalog: dict[str, dict[str, object]],
    shown: int,
    model: clicks.ClickModel,
) -> float:
    ranked = rank([str(r["query"]) for r in rows])
    total = 0.0
    for row, ids in zip(rows, ranked, strict=True):
        target = relevance.Target.from_dict(row["target"])  # type: ignore[arg-type]
        grades = [relevance.grade(catalog[i], target) for i in ids[:shown]]
        total += model.no_click_probability(grades)
    return total / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--models", type=pathlib.Path, default=None)
    parser.add_argument("--shown", type=int, default=5)
    args = parser.parse_args()
    models = args.models or build_all.default_out()
    data = build_all.DATA
    items = retriever.read_jsonl(data / "catalog.jsonl")
    catalog = {str(it["id"]): it for it in items}
    ids = [str(it["id"]) for it in items]
    rows = [
        r for r in retriever.read_jsonl(data / "heldout" / "query_log.jsonl") if r["intent"] == "recommend"
    ]
    index = safetensors.numpy.load_file(str(models / "retriever-baseline" / "index.safetensors"))[
        "embeddings"
    ]
    adapter = retriever.Adapter(
        safetensors.numpy.load_file(str(models / "retriever-heldout" / "adapter.safetensors"))
    )

    def dense(transform: Callable[[np.ndarray], np.ndarray]) -> Callable[[list[str]], list[list[str]]]:
        def rank(texts: list[str]) -> list[list[str]]:
            q = transform(embed.encode(texts))
            top = np.argsort(-(q @ index.T), axis=1, kind="stable")[:, : args.shown]
            return [[ids[i] for i in row] for row in top]

        return rank

    gold = golden.load_dir(data / "heldout" / "golden")
    pairs = retriever.read_jsonl(data / "heldout" / "training" / "pairs.jsonl")
    bm25 = baselines.Bm25(gold)
    lookup = baselines.Lookup(pairs, {i.id: i.category for i in gold.catalog.values()})
    rankers: dict[str, Callable[[list[str]], list[list[str]]]] = {
        "plain MiniLM (retriever-baseline)": dense(lambda q: q),
        "retriever-heldout": dense(adapter.apply),
        "bm25": lambda texts: [bm25.rank(t, args.shown) for t in texts],
        "lookup": lambda texts: [lookup.rank(t, args.shown) for t in texts],
    }
    model = clicks.ClickModel()
    out = {
        name: round(expected_no_click(rows, rank, catalog, args.shown, model), 4)
        for name, rank in rankers.items()
    }
    print(json.dumps({"rows": len(rows), "shown": args.shown, "expected_no_click_rate": out}, indent=2))


if __name__ == "__main__":
    main()

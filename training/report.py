"""Markdown results tables from ``shadowgate evaluate`` JSON files (for docs/data.md).

python -m training.report results/*.json
python -m training.report --slices results/*.json   # per-slice Recall@3 / NDCG@10 with baselines
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

SLICES = ("iyashikei", "healing", "calm", "rural", "found_family")


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def tables(results: list[dict[str, Any]]) -> str:
    out: list[str] = []
    ranking = [r for r in results if r["model"]["kind"] in ("retriever", "reranker")]
    if ranking:
        out.append(
            "| model | version | global R@3 | global NDCG@10 | global MRR | "
            + " | ".join(f"{s} R@3 / NDCG@10" for s in SLICES)
            + " | ungrounded | spoiler |"
        )
        out.append("|---" * (6 + len(SLICES)) + "|---|")
        for r in ranking:
            fam = "retrieval" if r["model"]["kind"] == "retriever" else "reranking"
            m = r["metrics"][fam]
            row = [
                r["model"]["name"],
                r["model"]["version"],
                _f(m["global"]["recall@3"]),
                _f(m["global"]["ndcg@10"]),
                _f(m["global"]["mrr"]),
            ]
            row += [
                f"{_f(m['slices'].get(s, {}).get('recall@3'))} / {_f(m['slices'].get(s, {}).get('ndcg@10'))}"
                for s in SLICES
            ]
            row += [
                _f(r["metrics"]["safety"]["ungrounded_item_rate"]),
                _f(r["metrics"]["safety"]["spoiler_rate"]),
            ]
            out.append("| " + " | ".join(row) + " |")
        out.append("")
        others = sorted(
            {
                s
                for r in ranking
                for s in r["metrics"]["retrieval" if r["model"]["kind"] == "retriever" else "reranking"][
                    "slices"
                ]
            }
            - set(SLICES)
        )
        out.append("| model | version | " + " | ".join(f"{s} R@3" for s in others) + " |")
        out.append("|---|---|" + "---|" * len(others))
        for r in ranking:
            fam = "retrieval" if r["model"]["kind"] == "retriever" else "reranking"
            sl = r["metrics"][fam]["slices"]
            out.append(
                f"| {r['model']['name']} | {r['model']['version']} | "
                + " | ".join(_f(sl.get(s, {}).get("recall@3")) for s in others)
                + " |"
            )
        out.append("")
    classifiers = [r for r in results if r["model"]["kind"] == "classifier"]
    if classifiers:
        crit = ("order_problem", "refund_request", "age_restricted")
        out.append(
            "| model | version | accuracy | macro-F1 | ECE | harm | "
            + " | ".join(f"{c} P / R" for c in crit)
            + " |"
        )
        out.append("|---" * (6 + len(crit)) + "|")
        for r in classifiers:
            c = r["metrics"]["classification"]
            row = [
                r["model"]["name"],
                r["model"]["version"],
                _f(c["accuracy"]),
                _f(c["macro_f1"]),
                _f(c["ece"]),
                _f(c.get("harm")),
            ]
            row += [f"{_f(c['classes'][k]['precision'])} / {_f(c['classes'][k]['recall'])}" for k in crit]
            out.append("| " + " | ".join(row) + " |")
    hashes = sorted({r["golden_set"]["hash"] for r in results})
    out.append("")
    out.append(f"Golden set: `{', '.join(hashes)}`.")
    return "\n".join(out)


def slice_table(results: list[dict[str, Any]], metric: str = "recall@3") -> str:
    """One row per slice (queries in brackets), one column per retriever result and per
    trivial baseline (``shadowgate evaluate --baselines``, taken from the first result that
    has them): the table docs/data.md shows for the held-out golden set."""
    arms = {
        f"{r['model']['name']} {r['model']['version']}": r["metrics"]["retrieval"]
        for r in results
        if r["model"]["kind"] == "retriever"
    }
    extra: dict[str, Any] = next((r["baselines"] for r in results if r.get("baselines")), {})
    arms.update({f"{name} (baseline)": m["retrieval"] for name, m in extra.items()})
    first = next(iter(arms.values()))
    names = ["global", *SLICES, *sorted(set(first["slices"]) - set(SLICES))]
    out = [f"| slice (queries) | {' | '.join(arms)} |", "|---" * (len(arms) + 1) + "|"]
    for name in names:
        n = first["global"]["n"] if name == "global" else first["slices"].get(name, {}).get("n")
        cells = [
            _f((m["global"] if name == "global" else m["slices"].get(name, {})).get(metric))
            for m in arms.values()
        ]
        out.append(f"| {name} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--slices"]:
        results = [json.loads(pathlib.Path(p).read_text()) for p in args[1:]]
        print(slice_table(results) + "\n\n" + slice_table(results, "ndcg@10"))
        return
    print(tables([json.loads(pathlib.Path(p).read_text()) for p in args]))


if __name__ == "__main__":
    main()

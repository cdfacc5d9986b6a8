"""No golden-set query, nor a near-duplicate of one, appears in any training text.

Near-duplicate: equal after normalisation, token Jaccard >= 0.6, or all-MiniLM-L6-v2 cosine
>= 0.9 (the thresholds training/build_data.py filters with, data/build_report.json)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from shadowgate.evaluation import text

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
REPORT = json.loads((DATA / "build_report.json").read_text())


def jsonl(path: pathlib.Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


GOLDEN = sorted(
    {str(q["query"]) for q in jsonl(DATA / "golden" / "retrieval.jsonl")}
    | {str(e["text"]) for e in jsonl(DATA / "golden" / "intents.jsonl")}
)
TRAINING = sorted(
    {str(p["query"]) for p in jsonl(DATA / "training" / "pairs.jsonl")}
    | {str(r["query"]) for r in jsonl(DATA / "query_log.jsonl")}
)


def test_thresholds_are_the_generators() -> None:
    assert REPORT["thresholds"] == {"jaccard_max": 0.6, "cosine_max": 0.9}


def test_no_exact_duplicates() -> None:
    assert {text.normalize(t) for t in GOLDEN}.isdisjoint(text.normalize(t) for t in TRAINING)


def test_no_token_near_duplicates() -> None:
    golden_tokens = [text.tokens(g) for g in GOLDEN]
    worst = (0.0, "", "")
    for t in TRAINING:
        tt = text.tokens(t)
        for g, gt in zip(GOLDEN, golden_tokens, strict=True):
            j = len(tt & gt) / len(tt | gt) if tt | gt else 1.0
            if j > worst[0]:
                worst = (j, t, g)
    assert worst[0] < 0.6, f"training {worst[1]!r} ~ golden {worst[2]!r} (Jaccard {worst[0]:.2f})"


@pytest.mark.slow
def test_no_embedding_near_duplicates() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from training import embed

    g, t = embed.encode(GOLDEN), embed.encode(TRAINING)
    cos = t @ g.T
    i, j = np.unravel_index(int(np.argmax(cos)), cos.shape)
    assert cos[i, j] < 0.9, f"training {TRAINING[i]!r} ~ golden {GOLDEN[j]!r} (cosine {cos[i, j]:.3f})"


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        pytest.param("Calm manga?", "calm  MANGA", True, id="case-and-punctuation"),
        pytest.param("recommend me a calm manga", "recommend me a quiet manga", True, id="one-word-swap"),
        pytest.param("iyashikei manga", "best iyashikei series", False, id="different-template"),
    ],
)
def test_the_token_check_catches_near_duplicates(a: str, b: str, near: bool) -> None:
    assert (text.jaccard(a, b) >= 0.6) is near

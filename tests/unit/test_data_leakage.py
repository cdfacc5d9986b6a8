"""No golden-set query, nor a near-duplicate of one, appears in any training text; and on the
held-out track (data/heldout/, training/build_heldout.py) no concept either.

Near-duplicate: equal after normalisation, token Jaccard >= 0.6, or all-MiniLM-L6-v2 cosine
>= 0.9 (the thresholds training/build_data.py filters with, data/build_report.json).

Held-out concepts: no training concept phrase (``heldout.TRAIN_*``) occurs, as a run of
whole normalised tokens (``build_heldout.contains_any``), inside any held-out golden text,
and no golden concept phrase (``heldout.GOLDEN_*``) inside any text that trains
``retriever-heldout``: its pairs' queries and the unlabelled preservation texts.
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest
from shadowgate.evaluation import text

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # training/ is not an installed package

from training import build_heldout  # noqa: E402

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


HELD_GOLDEN = sorted({str(q["query"]) for q in jsonl(DATA / "heldout" / "golden" / "retrieval.jsonl")})
HELD_PAIRS = jsonl(DATA / "heldout" / "training" / "pairs.jsonl")
HELD_TRAINING = sorted(
    {str(p["query"]) for p in HELD_PAIRS}
    | {str(r["text"]) for r in jsonl(DATA / "heldout" / "training" / "preservation.jsonl")}
)


def test_no_training_concept_phrase_in_any_held_out_golden_text() -> None:
    phrases = build_heldout.training_phrases()
    leaking = {g: [p for p in phrases if build_heldout.contains_any(g, [p])] for g in HELD_GOLDEN}
    assert {g: p for g, p in leaking.items() if p} == {}


def test_no_held_out_concept_phrase_in_any_text_that_trains() -> None:
    phrases = build_heldout.golden_phrases()
    leaking = {t: [p for p in phrases if build_heldout.contains_any(t, [p])] for t in HELD_TRAINING}
    assert {t: p for t, p in leaking.items() if p} == {}


def test_held_out_phrase_lists_are_disjoint() -> None:
    train = {text.normalize(p) for p in build_heldout.training_phrases()}
    assert train.isdisjoint(text.normalize(p) for p in build_heldout.golden_phrases())


def test_held_out_track_has_no_token_near_duplicates() -> None:
    assert {text.normalize(t) for t in HELD_GOLDEN}.isdisjoint(text.normalize(t) for t in HELD_TRAINING)
    worst = max(((text.jaccard(t, g), t, g) for t in HELD_TRAINING for g in HELD_GOLDEN), key=lambda x: x[0])
    assert worst[0] < 0.6, f"training {worst[1]!r} ~ golden {worst[2]!r} (Jaccard {worst[0]:.2f})"


@pytest.mark.slow
def test_held_out_track_has_no_embedding_near_duplicates() -> None:
    from training import embed

    g, t = embed.encode(HELD_GOLDEN), embed.encode(HELD_TRAINING)
    cos = t @ g.T
    i, j = np.unravel_index(int(np.argmax(cos)), cos.shape)
    assert cos[i, j] < 0.9, (
        f"training {HELD_TRAINING[i]!r} ~ golden {HELD_GOLDEN[j]!r} (cosine {cos[i, j]:.3f})"
    )


@pytest.mark.parametrize(
    ("sentence", "phrase", "inside"),
    [
        pytest.param("a calm read", "calm", True, id="whole-token"),
        pytest.param("calming manga", "calm", False, id="not-a-prefix"),
        pytest.param("Found-Family manga!", "found family", True, id="normalised"),
        pytest.param("田舎 slice of life", "田舎", True, id="japanese-script"),
        pytest.param("slice of life", "iyashikei slice of life", False, id="shorter-sentence"),
    ],
)
def test_contains_any(sentence: str, phrase: str, inside: bool) -> None:
    assert build_heldout.contains_any(sentence, [phrase]) is inside


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

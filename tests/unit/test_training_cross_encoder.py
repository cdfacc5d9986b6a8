"""The cross-encoder's training rows and the bi-encoder baseline head (training/cross_encoder.py)."""

from __future__ import annotations

import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # training/ is not an installed package

from model_server.handlers import reranker as handler  # noqa: E402
from model_server.handlers import weights  # noqa: E402
from training import cross_encoder  # noqa: E402

CATALOG = [
    {"id": f"m{i}", "title": f"T{i}", "genres": ["g"], "synopsis": f"s{i}", "category": "c"} for i in range(6)
]


def test_three_rows_per_pair_and_the_random_negative_is_ungraded() -> None:
    pairs = [{"query": "q", "positive": "m0", "hard_negative": "m1"}]
    graded = {"q": {"m0", "m1", "m2", "m3", "m4"}}
    rows = cross_encoder.examples(pairs, CATALOG, graded)
    assert [label for *_, label in rows] == [1.0, 0.0, 0.0]
    assert rows[0][1].startswith("T0.") and rows[1][1].startswith("T1.")
    assert rows[2][1].startswith("T5.")  # the only item without a grade for "q"


def test_cosine_head_scores_the_dot_product() -> None:
    tensors = {k: torch.from_numpy(v) for k, v in cross_encoder.cosine_head(4).items()}
    head = weights.build_head(tensors, 9, 1, "cosine")
    q = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    with torch.inference_mode():
        scores = head(handler.pair_features(q, t)).squeeze(-1)
    assert torch.allclose(scores, (q * t).sum(-1), atol=1e-6)

"""Training scripts on tiny synthetic inputs: they learn, they are seeded, and the archive
build is skipped exactly when its inputs are unchanged."""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import numpy as np
import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from training import build_all, classifier, reranker, retriever  # noqa: E402

D = 16


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict[str, Any]], list[dict[str, str]], np.ndarray]:
    """Eight items; queries q0..q3 whose raw embedding points at the WRONG item (i+4), so
    only a trained adapter can send them to their editorial positive (item i)."""
    rng = np.random.default_rng(0)
    index = unit(rng.normal(size=(8, D)))
    catalog = [{"id": f"m{i}"} for i in range(8)]
    queries = {f"q{i}": index[i + 4] for i in range(4)}
    monkeypatch.setattr(retriever.embed, "encode", lambda texts, **_: np.stack([queries[t] for t in texts]))
    pairs = [
        {"query": f"q{i}", "positive": f"m{i}", "hard_negative": f"m{i + 4}", "slices": ["iyashikei"]}
        for i in range(4)
    ]
    return pairs, catalog, index


def _top1(adapter: retriever.Adapter, pairs: list[dict[str, Any]], index: np.ndarray) -> list[int]:
    q = np.stack([index[int(p["hard_negative"][1:])] for p in pairs])
    return list(np.argmax(adapter.apply(q) @ index.T, axis=1))


@pytest.mark.parametrize(
    ("recipe", "names"),
    [
        pytest.param(retriever.RECIPE, {"lora_a", "lora_b"}, id="low-rank-residual"),
        pytest.param(retriever.FULL_RECIPE, {"weight", "bias"}, id="full-map"),
    ],
)
def test_adapter_learns_the_editorial_pairs(
    toy: tuple[list[dict[str, Any]], list[dict[str, str]], np.ndarray],
    recipe: retriever.Recipe,
    names: set[str],
) -> None:
    pairs, catalog, index = toy
    adapter = retriever.train_adapter(pairs, catalog, index, seed=1, recipe=recipe)
    assert set(adapter.tensors) == names
    assert _top1(adapter, pairs, index) == [0, 1, 2, 3]
    again = retriever.train_adapter(pairs, catalog, index, seed=1, recipe=recipe)
    for name in names:
        np.testing.assert_array_equal(adapter.tensors[name], again.tensors[name])


def test_low_rank_adapter_starts_at_the_identity() -> None:
    q = unit(np.random.default_rng(3).normal(size=(5, D)))
    a = np.random.default_rng(4).normal(size=(2, D)).astype(np.float32)
    zero_b = retriever.Adapter({"lora_a": a, "lora_b": np.zeros((D, 2), np.float32)})
    np.testing.assert_allclose(zero_b.apply(q), q, atol=1e-6)


def test_preservation_keeps_queries_outside_the_slice_closer_to_the_base(
    toy: tuple[list[dict[str, Any]], list[dict[str, str]], np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Other-shelf queries o0..o3 lie near the slice queries q0..q3 (which start next to
    items 4..7 and must leave them) and are already served well (their positive is the base
    model's top item). The shared low-rank map drags them along; the preservation term keeps
    them closer to where the base model had them, and the slice is still learned."""
    pairs, catalog, index = toy
    rng = np.random.default_rng(5)
    emb = {f"q{i}": index[i + 4] for i in range(4)}
    emb |= {f"o{i}": unit((index[i + 4] + 0.6 * rng.normal(size=D))[None])[0] for i in range(4)}
    monkeypatch.setattr(retriever.embed, "encode", lambda texts, **_: np.stack([emb[t] for t in texts]))
    base_o = np.stack([emb[f"o{i}"] for i in range(4)])
    top = np.argmax(base_o @ index.T, axis=1)
    others = [{"query": f"o{i}", "positive": f"m{top[i]}", "hard_negative": f"m{i}"} for i in range(4)]
    drift = {}
    for preserve in (0.0, 5.0):
        recipe = retriever.Recipe(preserve=preserve)
        adapter = retriever.train_adapter(pairs + others, catalog, index, seed=1, recipe=recipe)
        assert _top1(adapter, pairs, index) == [0, 1, 2, 3]
        drift[preserve] = float(np.mean(1 - np.sum(adapter.apply(base_o) * base_o, axis=1)))
    assert drift[5.0] < drift[0.0]


def test_shuffled_labels_do_not_learn(
    toy: tuple[list[dict[str, Any]], list[dict[str, str]], np.ndarray],
) -> None:
    pairs, catalog, index = toy
    adapter = retriever.train_adapter(
        pairs, catalog, index, seed=1, shuffle_labels=True, recipe=retriever.FULL_RECIPE
    )
    assert _top1(adapter, pairs, index) != [0, 1, 2, 3]


def test_classifier_balanced_head_finds_the_rare_class() -> None:
    rng = np.random.default_rng(1)
    centers = unit(rng.normal(size=(2, D)))
    labels = ["common"] * 190 + ["rare"] * 10
    x = unit(np.stack([centers[0 if lab == "common" else 1] + 0.3 * rng.normal(size=D) for lab in labels]))
    log = [{"intent": lab} for lab in labels]
    head = classifier.train(log, x, ("common", "rare"), balanced=True)
    pred = np.argmax(x @ head.weight.T + head.bias, axis=1)
    assert pred[190:].mean() >= 0.9
    assert 0.25 <= head.temperature <= 5.0


def test_reranker_features_match_the_model_server() -> None:
    from model_server.handlers import reranker as served

    q, t = torch.randn(3, D), torch.randn(3, D)
    torch.testing.assert_close(reranker.pair_features(q, t), served.pair_features(q, t))


def test_build_is_skipped_only_when_inputs_are_unchanged(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "input.txt"
    source.write_text("v1")
    monkeypatch.setattr(build_all, "ROOT", tmp_path)
    monkeypatch.setattr(build_all, "INPUTS", (source,))
    out = tmp_path / "models"
    for name in build_all.ARCHIVES:
        (out / name).mkdir(parents=True)
        (out / name / "MANIFEST.json").write_text("{}")
    assert not build_all.up_to_date(out)  # no stamp yet
    (out / "BUILD_HASH").write_text(build_all.build_hash())
    assert build_all.up_to_date(out)
    source.write_text("v2")
    assert not build_all.up_to_date(out)
    (out / "BUILD_HASH").write_text(build_all.build_hash())
    (out / "reranker" / "MANIFEST.json").unlink()
    assert not build_all.up_to_date(out)

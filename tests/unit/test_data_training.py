"""Training scripts on tiny synthetic inputs: they learn, they are seeded, and the archive
build is skipped exactly when its inputs are unchanged."""

from __future__ import annotations

import pathlib
import sys

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
def toy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict[str, str]], list[dict[str, str]], np.ndarray]:
    """Eight items; queries q0..q3 whose raw embedding points at the WRONG item (i+4), so
    only a trained adapter can send them to their editorial positive (item i)."""
    rng = np.random.default_rng(0)
    index = unit(rng.normal(size=(8, D)))
    catalog = [{"id": f"m{i}"} for i in range(8)]
    queries = {f"q{i}": index[i + 4] for i in range(4)}
    monkeypatch.setattr(retriever.embed, "encode", lambda texts, **_: np.stack([queries[t] for t in texts]))
    pairs = [{"query": f"q{i}", "positive": f"m{i}", "hard_negative": f"m{i + 4}"} for i in range(4)]
    return pairs, catalog, index


def _top1(adapter: retriever.Adapter, pairs: list[dict[str, str]], index: np.ndarray) -> list[int]:
    q = np.stack([index[int(p["hard_negative"][1:])] for p in pairs]) @ adapter.weight.T + adapter.bias
    return list(np.argmax(unit(q) @ index.T, axis=1))


def test_adapter_learns_the_editorial_pairs(
    toy: tuple[list[dict[str, str]], list[dict[str, str]], np.ndarray],
) -> None:
    pairs, catalog, index = toy
    adapter = retriever.train_adapter(pairs, catalog, index, seed=1)
    assert _top1(adapter, pairs, index) == [0, 1, 2, 3]
    again = retriever.train_adapter(pairs, catalog, index, seed=1)
    np.testing.assert_array_equal(adapter.weight, again.weight)


def test_shuffled_labels_do_not_learn(
    toy: tuple[list[dict[str, str]], list[dict[str, str]], np.ndarray],
) -> None:
    pairs, catalog, index = toy
    adapter = retriever.train_adapter(pairs, catalog, index, seed=1, shuffle_labels=True)
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

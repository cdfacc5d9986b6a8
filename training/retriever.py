"""Retriever artefacts: the catalog index and the query-side adapters.

The adapter is the format docs/architecture.md fixes: ``weight`` (d x d) and ``bias`` (d),
``q' = normalize(q W^T + b)``, applied to query embeddings only. It starts at the identity
and is trained on the editorial (query, positive, hard negative) pairs with

- a softmax over the WHOLE catalog (every other item is a negative, temperature ``TAU``),
- a margin loss against the pair's hard negative (comedy slice of life for slice queries),
- an L2 pull towards the identity, so queries unlike the training ones barely move.

The degraded candidate for rollback demos is the same recipe on random labels (each
pair's positive and negative replaced by uniformly random items), which is measurably worse.
"""

from __future__ import annotations

import json
import pathlib
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from training import embed

TAU = 0.05
MARGIN = 0.2
IDENTITY_PULL = 0.05
EPOCHS = 40
LR = 0.01
BATCH = 64


@dataclass(frozen=True)
class Adapter:
    weight: np.ndarray  # d x d
    bias: np.ndarray  # d


def read_jsonl(path: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def build_index(catalog: list[dict[str, Any]]) -> np.ndarray:
    """Item embeddings in catalog line order (N x d, L2-normalised)."""
    return embed.encode([embed.item_text(it) for it in catalog])


def train_adapter(
    pairs: list[dict[str, Any]],
    catalog: list[dict[str, Any]],
    index: np.ndarray,
    seed: int = 13,
    shuffle_labels: bool = False,
) -> Adapter:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    row = {it["id"]: i for i, it in enumerate(catalog)}
    queries = sorted({p["query"] for p in pairs})
    q_emb = torch.from_numpy(embed.encode(queries))
    q_row = {q: i for i, q in enumerate(queries)}
    qi = torch.tensor([q_row[p["query"]] for p in pairs])
    pos = [row[p["positive"]] for p in pairs]
    neg = [row[p["hard_negative"]] for p in pairs]
    if shuffle_labels:
        # Uniformly random labels: permuting the real positives would keep their skew
        # towards iyashikei titles and teach "always recommend iyashikei" instead of noise.
        pos = [rng.randrange(len(catalog)) for _ in pairs]
        neg = [rng.randrange(len(catalog)) for _ in pairs]
    pi = torch.tensor(pos)
    ni = torch.tensor(neg)
    items = torch.from_numpy(index)
    d = items.shape[1]
    weight = torch.nn.Parameter(torch.eye(d))
    bias = torch.nn.Parameter(torch.zeros(d))
    opt = torch.optim.Adam([weight, bias], lr=LR)
    eye = torch.eye(d)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        order = torch.randperm(len(pairs), generator=gen)
        for start in range(0, len(pairs), BATCH):
            b = order[start : start + BATCH]
            q = torch.nn.functional.normalize(q_emb[qi[b]] @ weight.T + bias, dim=-1)
            logits = q @ items.T / TAU
            contrastive = torch.nn.functional.cross_entropy(logits, pi[b])
            pos_s = (q * items[pi[b]]).sum(-1)
            neg_s = (q * items[ni[b]]).sum(-1)
            hard = torch.relu(MARGIN - pos_s + neg_s).mean()
            loss = contrastive + hard + IDENTITY_PULL * ((weight - eye) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return Adapter(weight.detach().numpy().astype(np.float32), bias.detach().numpy().astype(np.float32))

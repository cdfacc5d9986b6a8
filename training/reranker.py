"""The reranker: a one-hidden-layer MLP over the reranker handler's pair features
``[q * t, |q - t|, q . t]`` (docs/model-server.md), trained with binary cross-entropy on the
editorial pairs: the positive item 1, the hard negative and two random items 0."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

HIDDEN = 64
EPOCHS = 30
LR = 0.003
BATCH = 128


@dataclass(frozen=True)
class Mlp:
    tensors: dict[str, np.ndarray]  # hidden.weight/bias, out.weight/bias


def pair_features(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    # Must equal model_server.handlers.reranker.pair_features (a unit test checks it).
    return torch.cat([q * t, (q - t).abs(), (q * t).sum(dim=-1, keepdim=True)], dim=-1)


def train(
    pairs: list[dict[str, Any]],
    catalog: list[dict[str, Any]],
    index: np.ndarray,
    query_emb: dict[str, np.ndarray],
    seed: int = 19,
) -> Mlp:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    row = {it["id"]: i for i, it in enumerate(catalog)}
    qs, ts, ys = [], [], []
    for p in pairs:
        q = query_emb[p["query"]]
        for item, label in ((p["positive"], 1.0), (p["hard_negative"], 0.0)):
            qs.append(q)
            ts.append(index[row[item]])
            ys.append(label)
        for _ in range(2):
            other = rng.randrange(len(catalog))
            if catalog[other]["id"] != p["positive"]:
                qs.append(q)
                ts.append(index[other])
                ys.append(0.0)
    x = pair_features(torch.from_numpy(np.stack(qs)), torch.from_numpy(np.stack(ts)))
    y = torch.tensor(ys)
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1)
    )
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), BATCH):
            b = order[start : start + BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[b]).squeeze(-1), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    return Mlp(
        {
            "hidden.weight": layers[0].weight.detach().numpy(),
            "hidden.bias": layers[0].bias.detach().numpy(),
            "out.weight": layers[1].weight.detach().numpy(),
            "out.bias": layers[1].bias.detach().numpy(),
        }
    )

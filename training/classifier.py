"""Intent classifiers: a linear head over MiniLM embeddings (the classifier handler's
``linear.weight`` C x d / ``linear.bias`` C format, labels and temperature in the config).

- baseline: plain cross-entropy on the query log, temperature 1;
- candidate: class-balanced cross-entropy (weights ~ 1/sqrt(frequency), so the rare
  critical classes are not drowned by "recommend"), then a temperature fitted on a held-out
  fifth of the log for calibration (grid search on the held-out negative log-likelihood).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

EPOCHS = 300
LR = 0.05


@dataclass(frozen=True)
class Head:
    weight: np.ndarray  # C x d
    bias: np.ndarray  # C
    labels: tuple[str, ...]
    temperature: float


def _fit(
    x: torch.Tensor, y: torch.Tensor, classes: int, weights: torch.Tensor | None, seed: int
) -> torch.nn.Linear:
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(head.parameters(), lr=LR, weight_decay=1e-4)
    for _ in range(EPOCHS):
        loss = torch.nn.functional.cross_entropy(head(x), y, weight=weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head


def _temperature(head: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        logits = head(x)
        grid = [0.25 + 0.05 * i for i in range(96)]
        nll = [float(torch.nn.functional.cross_entropy(logits / t, y)) for t in grid]
    return round(grid[int(np.argmin(nll))], 2)


def train(
    log: list[dict[str, Any]], embeddings: np.ndarray, labels: tuple[str, ...], balanced: bool, seed: int = 17
) -> Head:
    index = {label: i for i, label in enumerate(labels)}
    x = torch.from_numpy(embeddings)
    y = torch.tensor([index[r["intent"]] for r in log])
    if not balanced:
        head = _fit(x, y, len(labels), None, seed)
        temperature = 1.0
    else:
        order = list(range(len(log)))
        random.Random(seed).shuffle(order)
        cut = len(order) * 4 // 5
        fit, held = torch.tensor(order[:cut]), torch.tensor(order[cut:])
        counts = Counter(int(v) for v in y[fit])
        weights = torch.tensor(
            [1.0 / np.sqrt(max(counts[i], 1)) for i in range(len(labels))], dtype=torch.float32
        )
        weights = weights / weights.mean()
        head = _fit(x[fit], y[fit], len(labels), weights, seed)
        temperature = _temperature(head, x[held], y[held])
    return Head(
        head.weight.detach().numpy().astype(np.float32),
        head.bias.detach().numpy().astype(np.float32),
        labels,
        temperature,
    )

"""Retriever artefacts: the catalog index and the query-side adapters.

Adapters use the formats docs/architecture.md fixes, applied to query embeddings only:
a low-rank residual ``q' = normalize(q + (q A^T) B^T)`` (``lora_a`` r x d, ``lora_b``
d x r) or a full linear map ``q' = normalize(q W^T + b)`` (``weight``, ``bias``).

The shipped iyashikei adapter (``RECIPE``) is the low-rank residual (rank 16), initialised
at the identity (B = 0), trained on the editorial (query, positive, hard negative) pairs with

- a softmax over the WHOLE catalog (temperature ``tau``) in which the query's other
  relevant items are masked out of the denominator (they are not negatives);
- a margin loss against the pair's hard negative (comedy slice of life for slice queries
  and iyashikei for comedy queries).

An optional preservation term (``preserve``: for training queries outside the iyashikei
slice, the KL divergence from the base model's catalog distribution to the adapted one) is
implemented; validation did not favour it, so ``RECIPE`` leaves it off.

Why not the first recipe (``FULL_RECIPE``: a full d x d map with an L2 pull to the
identity, on pairs whose slice and genre queries used different templates): it learned
the template as a shortcut for the shelf and regressed comedy slice of life, action and
mystery on the golden set (docs/data.md). The fix is mostly in the data (every training
phrase in every training template, ``build_data.recommend_queries(crossed=True)``); the
low-rank map and the masking were chosen on held-out training templates
(``training.validation``), never on the golden set.

The degraded candidate for rollback demos is the full recipe on random labels (each pair's
positive and negative replaced by uniformly random items), which is measurably worse.
"""

from __future__ import annotations

import json
import pathlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from training import embed

PRESERVE_EXCEPT = "iyashikei"  # the slice the adapter is meant to change


@dataclass(frozen=True)
class Recipe:
    rank: int = 16  # 0 = full d x d linear map with bias
    tau: float = 0.05
    margin: float = 0.2
    identity_pull: float = 0.05  # full map only: weight of ||W - I||^2
    preserve: float = 1.0  # weight of the preservation KL (0 = none)
    mask_relevant: bool = True  # leave a query's other relevant items out of its softmax
    epochs: int = 40
    lr: float = 0.01
    batch: int = 64


FULL_RECIPE = Recipe(rank=0, preserve=0.0, mask_relevant=False)
# The main track's recipe (retriever-iyashikei, the demo's candidate), chosen on held-out
# training templates (training.validation.split_by_template), where it reached Recall@3 1.00
# on every slice; its golden set shares concept phrases with its pairs.
RECIPE = Recipe(preserve=0.0)
# The held-out track's recipe (retriever-heldout), chosen on held-out training PHRASES
# (training.validation.split_by_phrase, docs/data.md), never on a golden set. With phrases
# held out, RECIPE trained on every shelf's pairs sent unseen genre phrases to the iyashikei
# shelf ("yakuza crime" -> iyashikei titles, action 1.00 -> 0.00); fitting only the two
# confusable shelves (``scoped``) with a strong preservation term over other text
# (``preservation_texts``) kept them.
HELDOUT_RECIPE = Recipe(preserve=10.0, batch=256)
# The adapter is fitted on these slices' pairs only; every other shelf is only preserved.
ADAPTED_SLICES = frozenset({"iyashikei", "comedy_slice_of_life"})


def scoped(pairs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The pairs the shipped adapter is fitted on: those of ``ADAPTED_SLICES``."""
    return [dict(p) for p in pairs if ADAPTED_SLICES & set(p.get("slices") or ())]


def preservation_texts(
    pairs: Sequence[Mapping[str, Any]], catalog: Sequence[Mapping[str, Any]], banned: Sequence[str]
) -> list[str]:
    """Unlabelled text whose base-model catalog distribution the adapter must keep: the
    other shelves' training queries, their titles' shop texts, and "manga about <x>" for
    each protagonist, setting and activity of their vocabularies. No label is attached, but
    any text containing a ``banned`` phrase (the golden set's concepts) is left out so that
    the golden set stays out of every training path."""
    from training import build_heldout, vocab

    others = {str(p["query"]) for p in pairs if not ADAPTED_SLICES & set(p.get("slices") or ())}
    items = {embed.item_text(it) for it in catalog if it["category"] != vocab.IYASHIKEI.category}
    words = {
        w
        for shelf in (vocab.COMEDY_SOL, *vocab.OTHER_SHELVES)
        for w in (*shelf.protagonists, *shelf.settings, *shelf.activities)
    }
    texts = others | items | {f"manga about {w}" for w in words}
    return sorted(t for t in texts if not build_heldout.contains_any(t, banned))


@dataclass(frozen=True)
class Adapter:
    """Either ``weight``/``bias`` (full) or ``lora_a``/``lora_b`` (low-rank residual)."""

    tensors: Mapping[str, np.ndarray]

    def apply(self, q: np.ndarray) -> np.ndarray:
        """Adapted, L2-normalised query embeddings (what the model server computes)."""
        if "weight" in self.tensors:
            out = q @ self.tensors["weight"].T + self.tensors["bias"]
        else:
            out = q + (q @ self.tensors["lora_a"].T) @ self.tensors["lora_b"].T
        return (out / np.linalg.norm(out, axis=-1, keepdims=True)).astype(np.float32)


def read_jsonl(path: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def build_index(catalog: list[dict[str, Any]]) -> np.ndarray:
    """Item embeddings in catalog line order (N x d, L2-normalised)."""
    return embed.encode([embed.item_text(it) for it in catalog])


class _Map(torch.nn.Module):
    def __init__(self, d: int, rank: int) -> None:
        super().__init__()
        self.rank = rank
        if rank:
            # B = 0: the adapter starts as the identity; A small so B gets gradients.
            self.a = torch.nn.Parameter(torch.randn(rank, d) * 0.01)
            self.b = torch.nn.Parameter(torch.zeros(d, rank))
        else:
            self.w = torch.nn.Parameter(torch.eye(d))
            self.bias = torch.nn.Parameter(torch.zeros(d))

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        out = q + (q @ self.a.T) @ self.b.T if self.rank else q @ self.w.T + self.bias
        return torch.nn.functional.normalize(out, dim=-1)

    def export(self) -> Adapter:
        names = {"lora_a": self.a, "lora_b": self.b} if self.rank else {"weight": self.w, "bias": self.bias}
        return Adapter({k: v.detach().numpy().astype(np.float32) for k, v in names.items()})


def train_adapter(
    pairs: list[dict[str, Any]],
    catalog: list[dict[str, Any]],
    index: np.ndarray,
    seed: int = 13,
    shuffle_labels: bool = False,
    recipe: Recipe = RECIPE,
    relevant: Mapping[str, Sequence[str]] | None = None,
    preserve_texts: Sequence[str] = (),
) -> Adapter:
    """Train on ``pairs``. ``relevant`` (query -> relevant item ids, from the training
    queries' targets) is needed for ``recipe.mask_relevant``; without it nothing is masked.
    ``preserve_texts``: more queries whose base catalog distribution the preservation term
    keeps (besides the pairs' own queries outside the iyashikei slice)."""
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
    # mask[q, i] = True where item i is relevant to query q (other than the pair's positive,
    # which the cross-entropy target un-masks below).
    mask = torch.zeros(len(queries), len(catalog), dtype=torch.bool)
    if recipe.mask_relevant and relevant and not shuffle_labels:
        for q, ids in relevant.items():
            if q in q_row:
                mask[q_row[q], [row[i] for i in ids if i in row]] = True
    changing = {p["query"] for p in pairs if PRESERVE_EXCEPT in (p.get("slices") or ())}
    keep = [q_row[q] for q in queries if q not in changing]
    preserve_q = q_emb[keep] if keep else q_emb[:0]
    extra = sorted(set(preserve_texts) - set(queries))
    if extra:
        preserve_q = torch.cat([preserve_q, torch.from_numpy(embed.encode(extra))])
        keep += list(range(len(queries), len(queries) + len(extra)))
    with torch.no_grad():
        base_logp = torch.log_softmax(preserve_q @ items.T / recipe.tau, dim=-1)
    model = _Map(items.shape[1], recipe.rank)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(recipe.epochs):
        order = torch.randperm(len(pairs), generator=gen)
        for start in range(0, len(pairs), recipe.batch):
            b = order[start : start + recipe.batch]
            q = model(q_emb[qi[b]])
            logits = q @ items.T / recipe.tau
            m = mask[qi[b]].clone()
            m[torch.arange(len(b)), pi[b]] = False
            logits = logits.masked_fill(m, float("-inf"))
            loss = torch.nn.functional.cross_entropy(logits, pi[b])
            pos_s = (q * items[pi[b]]).sum(-1)
            neg_s = (q * items[ni[b]]).sum(-1)
            loss = loss + torch.relu(recipe.margin - pos_s + neg_s).mean()
            if not recipe.rank:
                loss = loss + recipe.identity_pull * ((model.w - torch.eye(items.shape[1])) ** 2).sum()
            if recipe.preserve and len(keep):
                sel = torch.randint(len(keep), (recipe.batch,), generator=gen)
                logp = torch.log_softmax(model(preserve_q[sel]) @ items.T / recipe.tau, dim=-1)
                base = base_logp[sel]
                kl = (base.exp() * (base - logp)).sum(-1).mean()
                loss = loss + recipe.preserve * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.export()

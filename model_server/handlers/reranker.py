"""Reranker: scores (query, item text) pairs and returns the items best first.

Two modes (``config.mode``):

- ``features`` (default): NOT a cross-encoder. It embeds query and item separately with
  MiniLM and scores the pair-interaction features ``[q * t, |q - t|, q . t]`` (2d + 1 = 769
  values) with a linear or one-hidden-layer MLP head. A linear head with weight only on
  ``q . t`` is exactly the bi-encoder's cosine order.
  Files: ``weights`` (``linear.*`` 1 x 769 or ``hidden.*`` h x 769 / ``out.*`` 1 x h).
- ``cross``: a cross-encoder, query and item text through one transformer
  (``cross_encoding.CrossScorer``). Files: ``weights`` (``encoder.*`` + ``head.*``).
  Config: ``max_length`` (tokens per pair, default 128).

Config for both: ``max_items`` (default 100), ``encoder``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pydantic
import torch

from model_server.errors import BadInput
from model_server.handlers import base, cross_encoding, encoder, weights
from model_server.handlers.classifier import parse_config

QUERY = base.TensorSpec("query", "BYTES", (1,))
ITEM_IDS = base.TensorSpec("item_ids", "BYTES", (-1,))
ITEM_TEXTS = base.TensorSpec("item_texts", "BYTES", (-1,))
IDS = base.TensorSpec("ids", "BYTES", (-1,))
SCORES = base.TensorSpec("scores", "FP32", (-1,))


class RerankerConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    max_items: int = pydantic.Field(default=100, ge=1, le=10_000)
    encoder: str | None = None
    mode: Literal["features", "cross"] = "features"
    max_length: int = pydantic.Field(default=128, ge=8, le=512)


@dataclass(frozen=True)
class Pairs:
    query: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]


def pair_features(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The reranker's input for rows of normalized query and item embeddings."""
    return torch.cat([q * t, (q - t).abs(), (q * t).sum(dim=-1, keepdim=True)], dim=-1)


class RerankerHandler(base.BaseHandler):
    platform: ClassVar[str] = "shadowgate_reranker"
    v2_inputs = (QUERY, ITEM_IDS, ITEM_TEXTS)
    v2_outputs = (IDS, SCORES)

    def initialize(self, context: base.Context) -> None:
        super().initialize(context)
        self.config: RerankerConfig = parse_config(context.manifest.config, RerankerConfig)
        path = context.file("weights")
        self.cross: cross_encoding.CrossScorer | None = None
        if self.config.mode == "cross":
            self.cross = cross_encoding.CrossScorer(
                encoder.resolve_path(self.config.encoder), path, self.config.max_length
            )
            return
        self.encoder = encoder.shared_encoder(self.config.encoder)
        self.head = weights.build_head(weights.load_tensors(path), 2 * self.encoder.dim + 1, 1, path.name)

    def warmup_instances(self) -> list[Any]:
        return [{"query": "warm-up query", "items": [{"id": "a", "text": "warm-up item"}]}]

    def parse(self, instance: Any) -> Pairs:
        obj = base.require_object(instance)
        unknown = set(obj) - {"query", "items"}
        if unknown:
            raise BadInput(f"unknown field(s) {sorted(unknown)}; a reranker takes 'query' and 'items'")
        limit = self.limits().max_text_chars
        query = base.require_text(obj, "query", limit)
        items = obj.get("items")
        if not isinstance(items, list):
            raise BadInput("field 'items' must be a list of {'id', 'text'} objects")
        if not items:
            raise BadInput("field 'items' is empty: nothing to rerank")
        if len(items) > self.config.max_items:
            raise BadInput(
                f"field 'items' has {len(items)} entries, over the limit of {self.config.max_items}"
            )
        ids: list[str] = []
        texts: list[str] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise BadInput(f"items[{i}] must be an object with a string 'id'")
            ids.append(item["id"])
            texts.append(base.require_text(item, "text", limit) if "text" in item else _missing(i))
        return Pairs(query=query, ids=tuple(ids), texts=tuple(texts))

    def inference(self, batch: Sequence[Pairs]) -> list[tuple[Pairs, list[float]]]:
        if self.cross is not None:
            scores = self.cross.score([(p.query, t) for p in batch for t in p.texts])
            return _split(batch, scores)
        # One encoder pass for every query and item text in the batch.
        texts = [p.query for p in batch] + [t for p in batch for t in p.texts]
        embedded = self.encoder.embed(texts)
        queries, items = embedded[: len(batch)], embedded[len(batch) :]
        owner = torch.tensor([i for i, p in enumerate(batch) for _ in p.texts])
        with torch.inference_mode():
            scores = self.head(pair_features(queries[owner], items)).squeeze(-1)
        return _split(batch, scores.tolist())

    def postprocess(self, output: list[tuple[Pairs, list[float]]]) -> list[Any]:
        results = []
        for pairs, scores in output:
            ranked = sorted(zip(pairs.ids, scores, strict=True), key=lambda p: -p[1])
            results.append({"items": [{"id": i, "score": s} for i, s in ranked]})
        return results

    def decode_v2(self, inputs: Mapping[str, base.Tensor], parameters: Mapping[str, Any]) -> list[Any]:
        query = base.column(inputs, QUERY) or []
        if len(query) != 1:
            raise BadInput(f"input 'query' must hold exactly one query (shape [1]), got {len(query)}")
        ids = base.column(inputs, ITEM_IDS) or []
        texts = base.column(inputs, ITEM_TEXTS) or []
        if len(ids) != len(texts):
            raise BadInput(f"inputs 'item_ids' ({len(ids)}) and 'item_texts' ({len(texts)}) differ in length")
        return [{"query": query[0], "items": [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]}]

    def encode_v2(self, results: Sequence[Any]) -> list[base.Tensor]:
        items = results[0]["items"]
        shape = (len(items),)
        return [
            base.Tensor("ids", "BYTES", shape, [i["id"] for i in items]),
            base.Tensor("scores", "FP32", shape, [i["score"] for i in items]),
        ]


def _split(batch: Sequence[Pairs], flat: list[float]) -> list[tuple[Pairs, list[float]]]:
    """Each request's slice of the batch's flat score list."""
    out: list[tuple[Pairs, list[float]]] = []
    start = 0
    for p in batch:
        out.append((p, flat[start : start + len(p.texts)]))
        start += len(p.texts)
    return out


def _missing(index: int) -> str:
    raise BadInput(f"items[{index}] has no 'text'")

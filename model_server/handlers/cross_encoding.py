"""A cross-encoder scorer for the reranker handler: query and item text through one transformer.

The pair-feature MLP (``reranker.pair_features``) scores two separately computed sentence
embeddings; it cannot let a query token attend to an item token. This scorer feeds
``[CLS] query [SEP] item text [SEP]`` through a BERT-style encoder and reads the score from
a linear head on the [CLS] state, the usual cross-encoder shape.

No pretrained cross-encoder ships in any package installable here, so the weights are the
shipped all-MiniLM-L6-v2 fine-tuned on editorial pairs (``training/cross_encoder.py``). The
archive's ``weights`` file holds the whole encoder (``encoder.*``, a state dict of the
architecture named by ``config.encoder``, default the shipped MiniLM) and ``head.weight``
(1 x hidden) / ``head.bias`` (1); the tokenizer and architecture come from that encoder
directory, never from the network.
"""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Sequence
from typing import Any

import torch

from model_server.errors import ArchiveError
from model_server.handlers import weights

ENCODER_PREFIX = "encoder."


class CrossScorer:
    def __init__(self, encoder_dir: pathlib.Path, weights_path: pathlib.Path, max_length: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        source = weights_path.name
        tensors = weights.load_tensors(weights_path)
        config = AutoConfig.from_pretrained(str(encoder_dir))
        hidden = int(config.hidden_size)
        head = torch.nn.Linear(hidden, 1)
        head.load_state_dict(
            {
                "weight": weights.expect(tensors, "head.weight", (1, hidden), source),
                "bias": weights.expect(tensors, "head.bias", (1,), source),
            }
        )
        body = {k.removeprefix(ENCODER_PREFIX): v for k, v in tensors.items() if k.startswith(ENCODER_PREFIX)}
        stray = sorted(k for k in tensors if not k.startswith(ENCODER_PREFIX) and not k.startswith("head."))
        if stray:
            raise ArchiveError(f"bad weights: {source} has unexpected tensors {stray[:5]}")
        model: Any = AutoModel.from_config(config)
        missing, unexpected = model.load_state_dict(body, strict=False)
        if missing or unexpected:
            raise ArchiveError(
                f"bad weights: {source} does not fit the encoder at {encoder_dir} "
                f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
            )
        model.eval()
        head.eval()
        self.model = model
        self.head = head
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(encoder_dir))
        self.max_length = max_length
        # The fast tokenizer is not safe to call from several threads at once.
        self.lock = threading.Lock()

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One relevance logit per (query, item text) pair, higher = more relevant."""
        if not pairs:
            return []
        with self.lock:
            enc = self.tokenizer(
                [q for q, _ in pairs],
                [t for _, t in pairs],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
        with torch.inference_mode():
            cls = self.model(**enc).last_hidden_state[:, 0]
            out: list[float] = self.head(cls).squeeze(-1).float().tolist()
        return out

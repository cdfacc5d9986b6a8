"""Tiny but real sample archives for tests, benchmarks and demos, built with the same
builder as production archives. They need no training: the classifier is a nearest-centroid
head (class weights = normalized mean embeddings of a few example texts), the reranker
scores by the cosine feature alone, and the retriever indexes a small manga catalog."""

from __future__ import annotations

import pathlib
import tempfile

import orjson
import safetensors.torch
import torch

from model_server.archive import building
from model_server.archive.manifest import BatchSettings
from model_server.handlers import encoder

CATALOG = (
    ("m-yotsuba", "Yotsuba&! a cheerful girl discovers everyday life, gentle comedy"),
    ("m-aria", "Aria: calm healing slice of life in a water city, iyashikei"),
    ("m-yokohama", "Yokohama Kaidashi Kikou: quiet iyashikei road trip after the end of the world"),
    ("m-barakamon", "Barakamon: a calligrapher finds peace on a rural island"),
    ("m-berserk", "Berserk: brutal dark fantasy of swords and demons"),
    ("m-aot", "Attack on Titan: humanity fights giant titans behind walls"),
    ("m-deathnote", "Death Note: a genius student kills with a supernatural notebook"),
    ("m-onepiece", "One Piece: pirates sail the seas searching for treasure"),
    ("m-chihayafuru", "Chihayafuru: competitive karuta card game and youth"),
    ("m-laidback", "Laid-Back Camp: girls go camping and relax by the fire"),
)

INTENTS = {
    "recommendation": [
        "recommend me a relaxing manga",
        "what should I read next",
        "suggest a fantasy series",
    ],
    "order_status": ["where is my order", "has my package shipped", "track my delivery"],
    "returns": ["I want to return a damaged volume", "how do I get a refund", "exchange a book"],
}


def _write_catalog(directory: pathlib.Path, items: tuple[tuple[str, str], ...]) -> pathlib.Path:
    path = directory / "catalog.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"id": i, "title": t}) + b"\n" for i, t in items))
    return path


def retriever(
    out: pathlib.Path,
    *,
    version: str = "1.0.0",
    name: str = "retriever",
    adapter: str | None = None,
    batch: BatchSettings | None = None,
    items: tuple[tuple[str, str], ...] = CATALOG,
) -> pathlib.Path:
    """A retriever over ``items``. ``adapter``: None, "identity" (d x d) or "lora" (rank 4, zero B)."""
    enc = encoder.shared_encoder()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        files = {"catalog": _write_catalog(work, items), "index": work / "index.safetensors"}
        safetensors.torch.save_file(
            {"embeddings": enc.embed([t for _, t in items]).contiguous()}, files["index"]
        )
        if adapter is not None:
            files["adapter"] = work / "adapter.safetensors"
            tensors = (
                {"weight": torch.eye(enc.dim), "bias": torch.zeros(enc.dim)}
                if adapter == "identity"
                else {"lora_a": torch.randn(4, enc.dim) * 0.01, "lora_b": torch.zeros(enc.dim, 4)}
            )
            safetensors.torch.save_file(tensors, files["adapter"])
        return building.build_archive(
            out,
            name=name,
            version=version,
            handler="retriever",
            files=files,
            batch=batch or BatchSettings(batch_size=16, max_batch_delay_ms=5),
            config={"default_k": 3, "max_k": len(items)},
        )


def classifier(out: pathlib.Path, *, version: str = "1.0.0", temperature: float = 0.05) -> pathlib.Path:
    enc = encoder.shared_encoder()
    labels = list(INTENTS)
    centroids = torch.stack([enc.embed(INTENTS[label]).mean(dim=0) for label in labels])
    weight = torch.nn.functional.normalize(centroids, dim=-1)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "head.safetensors"
        safetensors.torch.save_file(
            {"linear.weight": weight.contiguous(), "linear.bias": torch.zeros(len(labels))}, path
        )
        return building.build_archive(
            out,
            name="intent",
            version=version,
            handler="classifier",
            files={"weights": path},
            batch=BatchSettings(batch_size=8, max_batch_delay_ms=2),
            config={"labels": labels, "temperature": temperature},
        )


def reranker(out: pathlib.Path, *, version: str = "1.0.0") -> pathlib.Path:
    enc = encoder.shared_encoder()
    features = 2 * enc.dim + 1
    weight = torch.zeros(1, features)
    weight[0, -1] = 1.0  # the cosine feature: score = q . t
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "reranker.safetensors"
        safetensors.torch.save_file({"linear.weight": weight, "linear.bias": torch.zeros(1)}, path)
        return building.build_archive(
            out,
            name="reranker",
            version=version,
            handler="reranker",
            files={"weights": path},
            batch=BatchSettings(batch_size=8, max_batch_delay_ms=2),
            config={"max_items": 50},
        )

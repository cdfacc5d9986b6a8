"""The three built-in handlers on tiny real archives, the handler resolution, and every way
a handler refuses a broken archive (shape mismatches included) or a bad instance."""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Callable
from typing import Any, ClassVar

import orjson
import pytest
import safetensors.torch
import torch

from model_server import loading
from model_server.archive import opening
from model_server.errors import ArchiveError, BadInput
from model_server.handlers import base, resolving


def _load(root: pathlib.Path, tmp: pathlib.Path, limits: base.Limits | None = None) -> base.BaseHandler:
    opened = opening.open_archive(str(root), tmp / "store")
    return loading.initialize_handler(opened, limits or base.Limits())


def _run(handler: base.BaseHandler, *instances: Any) -> list[Any]:
    return handler.handle([handler.parse(i) for i in instances])


def test_retriever_ranks_the_catalog(archives: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    handler = _load(archives["retriever"], tmp_path)
    calm, pirates = _run(
        handler, {"query": "calm healing iyashikei manga"}, {"query": "pirate adventure at sea", "k": 1}
    )
    assert [i["id"] for i in calm["items"]][:1] == ["m-aria"]
    assert len(calm["items"]) == 3  # default_k
    assert [i["id"] for i in pirates["items"]] == ["m-onepiece"]
    scores = [i["score"] for i in calm["items"]]
    assert scores == sorted(scores, reverse=True)


def test_retriever_batch_equals_single(archives: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    handler = _load(archives["retriever_lora"], tmp_path)
    queries = [{"query": q, "k": 2} for q in ("camping", "dark fantasy", "karuta")]
    batched = _run(handler, *queries)
    singles = [_run(handler, q)[0] for q in queries]
    for b, s in zip(batched, singles, strict=True):
        assert [i["id"] for i in b["items"]] == [i["id"] for i in s["items"]]
        assert [i["score"] for i in b["items"]] == pytest.approx([i["score"] for i in s["items"]], abs=1e-5)


def test_classifier_returns_calibrated_probabilities(
    archives: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    handler = _load(archives["classifier"], tmp_path)
    (result,) = _run(handler, {"text": "my parcel has not arrived, where is it"})
    assert result["label"] == "order_status"
    assert set(result["probabilities"]) == {"recommendation", "order_status", "returns"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_reranker_orders_items(archives: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    handler = _load(archives["reranker"], tmp_path)
    items = [
        {"id": "b", "text": "dark fantasy with demons"},
        {"id": "a", "text": "cozy camping with friends"},
    ]
    first, second = _run(
        handler, {"query": "relaxing outdoor camping", "items": items}, {"query": "demons", "items": items}
    )
    assert [i["id"] for i in first["items"]] == ["a", "b"]
    assert [i["id"] for i in second["items"]] == ["b", "a"]


BAD_INSTANCES = [
    ("retriever", ["x"], "must be a JSON object"),
    ("retriever", {"q": "x"}, "unknown field"),
    ("retriever", {"query": 3}, "'query' must be a string"),
    ("retriever", {"query": "  "}, "must not be empty"),
    ("retriever", {"query": "x" * 65}, "over the limit of 64"),
    ("retriever", {"query": "x", "k": 0}, "'k' must be between 1 and 10"),
    ("retriever", {"query": "x", "k": True}, "'k' must be an integer"),
    ("classifier", {"text": None}, "'text' must be a string"),
    ("reranker", {"query": "x", "items": []}, "'items' is empty"),
    ("reranker", {"query": "x", "items": "a"}, "must be a list"),
    (
        "reranker",
        {"query": "x", "items": [{"id": 1, "text": "t"}]},
        "items[0] must be an object with a string 'id'",
    ),
    ("reranker", {"query": "x", "items": [{"id": "a"}]}, "items[0] has no 'text'"),
    ("reranker", {"query": "x", "items": [{"id": "a", "text": "t"}] * 51}, "over the limit of 50"),
]


@pytest.mark.parametrize(
    ("kind", "instance", "message"),
    BAD_INSTANCES,
    ids=[f"{k}-{m.split()[0]}-{n}" for n, (k, _, m) in enumerate(BAD_INSTANCES)],
)
def test_bad_instances_are_refused(
    archives: dict[str, pathlib.Path], tmp_path: pathlib.Path, kind: str, instance: Any, message: str
) -> None:
    handler = _load(archives[kind], tmp_path, base.Limits(max_text_chars=64))
    with pytest.raises(BadInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        handler.parse(instance)


def _rewrite(root: pathlib.Path, key: str, tensors: dict[str, torch.Tensor]) -> None:
    data = orjson.loads((root / "MANIFEST.json").read_bytes())
    name = data["files"][key]
    safetensors.torch.save_file(tensors, root / name)
    data["sha256"].pop(name, None)
    (root / "MANIFEST.json").write_bytes(orjson.dumps(data))


def _manifest(root: pathlib.Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = orjson.loads((root / "MANIFEST.json").read_bytes())
    change(data)
    (root / "MANIFEST.json").write_bytes(orjson.dumps(data))


def _catalog_extra_line(root: pathlib.Path) -> None:
    with (root / "catalog.jsonl").open("ab") as f:
        f.write(b'{"id": "extra"}\n')
    _manifest(root, lambda d: d["sha256"].pop("catalog.jsonl"))


BROKEN_MODELS: list[tuple[str, str, Callable[[pathlib.Path], None], str]] = [
    (
        "index-dim",
        "retriever",
        lambda r: _rewrite(r, "index", {"embeddings": torch.ones(10, 8)}),
        r"shape mismatch: index.safetensors embeddings is \(10, 8\), expected \(10, 384\)",
    ),
    ("index-rows", "retriever", _catalog_extra_line, r"expected \(11, 384\)"),
    (
        "index-key",
        "retriever",
        lambda r: _rewrite(r, "index", {"emb": torch.ones(10, 384)}),
        "has no tensor 'embeddings'",
    ),
    (
        "index-norm",
        "retriever",
        lambda r: _rewrite(r, "index", {"embeddings": torch.ones(10, 384)}),
        "has norm",
    ),
    (
        "adapter-shape",
        "retriever_lora",
        lambda r: _rewrite(r, "adapter", {"lora_a": torch.ones(4, 384), "lora_b": torch.ones(384, 5)}),
        r"lora_b is \(384, 5\), expected \(384, 4\)",
    ),
    (
        "adapter-keys",
        "retriever_lora",
        lambda r: _rewrite(r, "adapter", {"w": torch.ones(384, 384)}),
        "needs 'weight'",
    ),
    (
        "labels-vs-head",
        "classifier",
        lambda r: _manifest(r, lambda d: d["config"].update(labels=["a", "b"])),
        r"linear.weight is \(3, 384\), expected \(2, 384\)",
    ),
    (
        "temperature",
        "classifier",
        lambda r: _manifest(r, lambda d: d["config"].update(temperature=0)),
        "config.temperature",
    ),
    (
        "config-typo",
        "reranker",
        lambda r: _manifest(r, lambda d: d["config"].update(max_item=3)),
        "config.max_item",
    ),
    (
        "reranker-width",
        "reranker",
        lambda r: _rewrite(r, "weights", {"linear.weight": torch.ones(1, 384), "linear.bias": torch.ones(1)}),
        r"expected \(1, 769\)",
    ),
    (
        "weights-missing-key",
        "reranker",
        lambda r: _manifest(r, lambda d: d["files"].pop("weights")),
        "needs files.weights",
    ),
    (
        "unknown-handler",
        "reranker",
        lambda r: _manifest(r, lambda d: d.update(handler="ranker")),
        "unknown handler 'ranker'",
    ),
    (
        "unimportable-handler",
        "reranker",
        lambda r: _manifest(r, lambda d: d.update(handler="no.such.mod:Cls")),
        "cannot import 'no.such.mod'",
    ),
    (
        "not-a-handler",
        "reranker",
        lambda r: _manifest(r, lambda d: d.update(handler="pathlib:Path")),
        "not a BaseHandler subclass",
    ),
    (
        "encoder-download",
        "reranker",
        lambda r: _manifest(r, lambda d: d["config"].update(encoder="org/remote-model")),
        "neither",
    ),
]


@pytest.mark.parametrize(
    ("case", "kind", "breaker", "reason"), BROKEN_MODELS, ids=[b[0] for b in BROKEN_MODELS]
)
def test_broken_models_never_initialize(
    archives: dict[str, pathlib.Path],
    tmp_path: pathlib.Path,
    case: str,
    kind: str,
    breaker: Callable[[pathlib.Path], None],
    reason: str,
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(archives[kind], root)
    breaker(root)
    with pytest.raises(ArchiveError, match=reason):
        _load(root, tmp_path)


class RaisingHandler(base.BaseHandler):
    def initialize(self, context: base.Context) -> None:
        raise RuntimeError("GPU not found")


def test_custom_handler_by_dotted_path(archives: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    assert resolving.resolve_handler("model_server.handlers.base:BaseHandler") is base.BaseHandler
    root = tmp_path / "copy"
    shutil.copytree(archives["reranker"], root)
    _manifest(root, lambda d: d.update(handler=f"{__name__}:RaisingHandler"))
    with pytest.raises(ArchiveError, match="failed to initialize: RuntimeError: GPU not found"):
        _load(root, tmp_path)


class WarmupCountingHandler(base.BaseHandler):
    handled: ClassVar[list[list[Any]]] = []

    def warmup_instances(self) -> list[Any]:
        return [{"x": 1}]

    def handle(self, data: Any, context: base.Context | None = None) -> list[Any]:
        WarmupCountingHandler.handled.append(list(data))
        return list(data)


class CannotInferHandler(base.BaseHandler):
    def warmup_instances(self) -> list[Any]:
        return [{"x": 1}]

    def inference(self, batch: Any) -> Any:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x384 and 256x16)")


class ShortAnswerHandler(WarmupCountingHandler):
    def handle(self, data: Any, context: base.Context | None = None) -> list[Any]:
        return []


def test_warm_up_runs_once_before_the_model_is_returned(
    archives: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(archives["reranker"], root)
    _manifest(root, lambda d: d.update(handler=f"{__name__}:WarmupCountingHandler"))
    WarmupCountingHandler.handled.clear()
    _load(root, tmp_path)
    assert WarmupCountingHandler.handled == [[{"x": 1}]]


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        ("CannotInferHandler", "failed its warm-up inference: RuntimeError: mat1 and mat2 shapes"),
        ("ShortAnswerHandler", "returned 0 results for 1 warm-up instances"),
    ],
)
def test_a_model_that_cannot_infer_never_loads(
    archives: dict[str, pathlib.Path], tmp_path: pathlib.Path, handler: str, reason: str
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(archives["reranker"], root)
    _manifest(root, lambda d: d.update(handler=f"{__name__}:{handler}"))
    with pytest.raises(ArchiveError, match=reason):
        _load(root, tmp_path)


@pytest.mark.parametrize("kind", ["retriever", "classifier", "reranker"])
def test_built_in_warm_up_instances_are_valid_requests(
    archives: dict[str, pathlib.Path], tmp_path: pathlib.Path, kind: str
) -> None:
    handler = _load(archives[kind], tmp_path)
    instances = handler.warmup_instances()
    assert instances and len(_run(handler, *instances)) == len(instances)


def test_torch_state_dict_weights_load(archives: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(archives["classifier"], root)
    tensors = safetensors.torch.load_file(str(root / "head.safetensors"))
    torch.save(tensors, root / "head.pt")

    def use_pt(d: dict[str, Any]) -> None:
        d["files"]["weights"] = "head.pt"
        d["sha256"] = {}

    _manifest(root, use_pt)
    (result,) = _run(_load(root, tmp_path), {"text": "I want a refund"})
    assert result["label"] == "returns"

"""Build every MangaAssist model archive from the shipped data, skipping when up to date.

    python -m training.build_all [--out DIR] [--force]

Archives go to ``--out`` (default ``$SHADOWGATE_MODELS_DIR`` or
``~/.cache/shadowgate/models``), never into the repo. They are built with the model
server's own archive builder (``model_server.archive.building``). ``BUILD_HASH`` in the
output folder records the sha256 of every input (training code, data, seeds); when it
matches and every archive is present, nothing is rebuilt.

| archive               | name      | version        | what                                          |
|-----------------------|-----------|----------------|-----------------------------------------------|
| retriever-baseline    | retriever | 1.0.0          | plain all-MiniLM-L6-v2 over the catalog       |
| retriever-iyashikei   | retriever | 1.1.0          | + low-rank query adapter, editorial pairs     |
| retriever-degraded    | retriever | 1.1.1-shuffled | + adapter trained on shuffled labels          |
| intent-baseline       | intent    | 1.0.0          | linear head, plain cross-entropy, T = 1       |
| intent-candidate      | intent    | 1.1.0          | class-balanced head + fitted temperature      |
| reranker              | reranker  | 1.0.0          | MLP over pair features                        |
| retriever-heldout     | retriever | 1.2.0-heldout  | adapter of the held-out track (below)         |

``retriever-heldout`` is trained on ``data/heldout/training/pairs.jsonl``, whose concepts
``data/heldout/golden/`` never shares (``training.build_heldout``), with the recipe chosen
on held-out training phrases (``retriever.HELDOUT_RECIPE``): the honest measure of what the
adapter idea generalises to. The demo does not deploy it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import safetensors.numpy

from training import classifier, embed, queries, reranker, retriever, validation

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
INPUTS = (
    DATA / "catalog.jsonl",
    DATA / "query_log.jsonl",
    DATA / "training" / "pairs.jsonl",
    DATA / "heldout" / "training" / "pairs.jsonl",
    DATA / "heldout" / "training" / "preservation.jsonl",
    *sorted((ROOT / "training").glob("*.py")),
)
ARCHIVES = (
    "retriever-baseline",
    "retriever-iyashikei",
    "retriever-degraded",
    "intent-baseline",
    "intent-candidate",
    "reranker",
    "retriever-heldout",
)


def default_out() -> pathlib.Path:
    env = os.environ.get("SHADOWGATE_MODELS_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "shadowgate" / "models"


def build_hash() -> str:
    digest = hashlib.sha256()
    for path in INPUTS:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def up_to_date(out: pathlib.Path) -> bool:
    stamp = out / "BUILD_HASH"
    return (
        stamp.is_file()
        and stamp.read_text().strip() == build_hash()
        and all((out / name / "MANIFEST.json").is_file() for name in ARCHIVES)
    )


def _archive(
    out: pathlib.Path,
    dirname: str,
    name: str,
    version: str,
    handler: str,
    files: dict[str, pathlib.Path],
    config: dict[str, Any],
    description: str,
) -> pathlib.Path:
    from model_server.archive import building, manifest

    final = out / dirname
    staging = out / f".{dirname}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    building.build_archive(
        staging,
        name=name,
        version=version,
        handler=handler,
        files=files,
        batch=manifest.BatchSettings(batch_size=16, max_batch_delay_ms=5.0),
        config=config,
        description=description,
    )
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final


def build(out: pathlib.Path, log: Callable[[str], None] = print) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "BUILD_HASH").unlink(missing_ok=True)
    catalog = retriever.read_jsonl(DATA / "catalog.jsonl")
    pairs = retriever.read_jsonl(DATA / "training" / "pairs.jsonl")
    query_log = retriever.read_jsonl(DATA / "query_log.jsonl")
    built: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = pathlib.Path(tmp_dir)
        t0 = time.monotonic()
        index = retriever.build_index(catalog)
        log(f"index: {index.shape} in {time.monotonic() - t0:.0f}s")
        safetensors.numpy.save_file({"embeddings": index}, str(tmp / "index.safetensors"))
        files = {"catalog": DATA / "catalog.jsonl", "index": tmp / "index.safetensors"}
        relevant = validation.relevant_items(validation.training_queries(pairs, catalog))
        built["retriever-baseline"] = str(
            _archive(out, "retriever-baseline", "retriever", "1.0.0", "retriever", files, {}, "plain MiniLM")
        )
        for dirname, version, shuffled, what in (
            (
                "retriever-iyashikei",
                "1.1.0",
                False,
                "iyashikei query adapter (editorial pairs, hard negatives)",
            ),
            (
                "retriever-degraded",
                "1.1.1-shuffled",
                True,
                "adapter trained on shuffled labels (rollback demo)",
            ),
        ):
            t0 = time.monotonic()
            # The degraded candidate keeps the first (full-map) recipe: it exists to be rolled back.
            recipe = retriever.FULL_RECIPE if shuffled else retriever.RECIPE
            adapter = retriever.train_adapter(
                pairs, catalog, index, shuffle_labels=shuffled, recipe=recipe, relevant=relevant
            )
            log(f"{dirname}: adapter trained in {time.monotonic() - t0:.0f}s")
            path = tmp / dirname / "adapter.safetensors"
            path.parent.mkdir()
            safetensors.numpy.save_file(dict(adapter.tensors), str(path))
            built[dirname] = str(
                _archive(
                    out, dirname, "retriever", version, "retriever", {**files, "adapter": path}, {}, what
                )
            )

        t0 = time.monotonic()
        held_pairs = retriever.read_jsonl(DATA / "heldout" / "training" / "pairs.jsonl")
        held_queries = validation.training_queries(held_pairs, catalog, per_item=True, held_out_track=True)
        adapter = retriever.train_adapter(
            retriever.scoped(held_pairs),
            catalog,
            index,
            recipe=retriever.HELDOUT_RECIPE,
            relevant=validation.relevant_items(held_queries),
            preserve_texts=[
                r["text"] for r in retriever.read_jsonl(DATA / "heldout" / "training" / "preservation.jsonl")
            ],
        )
        log(f"retriever-heldout: adapter trained in {time.monotonic() - t0:.0f}s")
        path = tmp / "retriever-heldout" / "adapter.safetensors"
        path.parent.mkdir()
        safetensors.numpy.save_file(dict(adapter.tensors), str(path))
        what = "held-out track adapter (scoped pairs, preservation; docs/data.md)"
        built["retriever-heldout"] = str(
            _archive(
                out,
                "retriever-heldout",
                "retriever",
                "1.2.0-heldout",
                "retriever",
                {**files, "adapter": path},
                {},
                what,
            )
        )

        t0 = time.monotonic()
        log_emb = embed.encode([r["query"] for r in query_log])
        log(f"query log embedded in {time.monotonic() - t0:.0f}s")
        labels = tuple(queries.INTENT_LABELS)
        for dirname, version, balanced in (
            ("intent-baseline", "1.0.0", False),
            ("intent-candidate", "1.1.0", True),
        ):
            head = classifier.train(query_log, log_emb, labels, balanced=balanced)
            path = tmp / dirname / "intent.safetensors"
            path.parent.mkdir()
            safetensors.numpy.save_file({"linear.weight": head.weight, "linear.bias": head.bias}, str(path))
            config = {"labels": list(head.labels), "temperature": head.temperature}
            what = "class-balanced, temperature-calibrated" if balanced else "plain cross-entropy"
            built[dirname] = str(
                _archive(out, dirname, "intent", version, "classifier", {"weights": path}, config, what)
            )

        train_queries = sorted({p["query"] for p in pairs})
        q_emb = dict(zip(train_queries, embed.encode(train_queries), strict=True))
        mlp = reranker.train(pairs, catalog, index, q_emb)
        path = tmp / "reranker" / "reranker.safetensors"
        path.parent.mkdir()
        safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in mlp.tensors.items()}, str(path))
        built["reranker"] = str(
            _archive(
                out,
                "reranker",
                "reranker",
                "1.0.0",
                "reranker",
                {"weights": path},
                {},
                "MLP over pair features",
            )
        )
    (out / "BUILD_HASH").write_text(build_hash() + "\n")
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description="Build every MangaAssist model archive.")
    parser.add_argument("--out", type=pathlib.Path, default=None)
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args()
    out = args.out or default_out()
    if not args.force and up_to_date(out):
        print(json.dumps({"up_to_date": True, "archives": {n: str(out / n) for n in ARCHIVES}}, indent=2))
        return
    print(json.dumps({"up_to_date": False, "archives": build(out)}, indent=2))


if __name__ == "__main__":
    main()

"""The golden set: loading, validation and its content hash.

A golden set is a handful of named text files (a directory such as ``data/golden/``, or
the ``data`` of a ConfigMap made with ``kubectl create configmap NAME
--from-file=data/golden/``, whose keys are the file names):

- ``catalog.jsonl``   the items (id, title, genres, synopsis, spoiler, price, availability...)
- ``retrieval.jsonl`` {id, query, slices, judgments: {item_id: grade 1..3}}
- ``rerank.jsonl``    {query_id, candidates: [item_id]} (graded by retrieval's judgments)
- ``intents.jsonl``   {id, text, label}
- ``costs.json``      {labels, critical, default_cost, matrix: {true: {predicted: cost}}}

Every part is optional except that retrieval and rerank need the catalog. The content hash
covers every file's name and bytes, so a directory and the ConfigMap made from it hash
alike, and "same hash" means "same golden set version".
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PARTS = ("catalog.jsonl", "retrieval.jsonl", "rerank.jsonl", "intents.jsonl", "costs.json")


class GoldenSetError(ValueError):
    """A golden set that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    text: str
    spoiler: str
    price: float | None
    availability: str | None
    category: str = ""  # the shelf; optional (baselines use it to tell template words)


@dataclass(frozen=True)
class RetrievalQuery:
    id: str
    query: str
    slices: tuple[str, ...]
    judgments: Mapping[str, int]
    # Queries generated from one concept share a cluster (optional; a statistic that treats
    # them as one unit reads it from the per-query results).
    cluster: str = ""


@dataclass(frozen=True)
class RerankQuery:
    query: RetrievalQuery
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class IntentExample:
    id: str
    text: str
    label: str


@dataclass(frozen=True)
class CostTable:
    labels: tuple[str, ...]
    critical: tuple[str, ...]
    default_cost: float
    matrix: Mapping[str, Mapping[str, float]]

    def cost(self, true: str, predicted: str) -> float:
        if true == predicted:
            return 0.0
        return float(self.matrix.get(true, {}).get(predicted, self.default_cost))


@dataclass(frozen=True)
class GoldenSet:
    content_hash: str
    catalog: Mapping[str, Item] = field(default_factory=dict)
    retrieval: tuple[RetrievalQuery, ...] = ()
    rerank: tuple[RerankQuery, ...] = ()
    intents: tuple[IntentExample, ...] = ()
    costs: CostTable | None = None

    def counts(self) -> dict[str, int]:
        return {
            "catalog": len(self.catalog),
            "retrieval": len(self.retrieval),
            "rerank": len(self.rerank),
            "intents": len(self.intents),
        }


def item_text(item: Mapping[str, Any]) -> str:
    """What a retriever indexes and a reranker reads for an item: what a shop page shows
    (title, genres, blurb). Editorial ``themes`` are not part of it; the spoiler never is."""
    return f"{item['title']}. {', '.join(item['genres'])}. {item['synopsis']}"


def content_hash(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return "sha256:" + digest.hexdigest()


def load_dir(path: pathlib.Path) -> GoldenSet:
    if not path.is_dir():
        raise GoldenSetError(f"golden set {path}: not a directory")
    files = {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file() and p.name in PARTS}
    return load_files(files, source=str(path))


def load_files(files: Mapping[str, bytes | str], source: str = "golden set") -> GoldenSet:
    """Parse and validate golden-set files by name (e.g. a ConfigMap's ``data``)."""
    raw = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    unknown = sorted(set(raw) - set(PARTS))
    if unknown:
        raise GoldenSetError(f"{source}: unknown file(s) {unknown}; expected some of {list(PARTS)}")
    if not ({"retrieval.jsonl", "intents.jsonl", "rerank.jsonl"} & set(raw)):
        raise GoldenSetError(f"{source}: has none of retrieval.jsonl, rerank.jsonl, intents.jsonl")
    catalog = _catalog(raw["catalog.jsonl"], source) if "catalog.jsonl" in raw else {}
    if ("retrieval.jsonl" in raw or "rerank.jsonl" in raw) and not catalog:
        raise GoldenSetError(f"{source}: retrieval and rerank need catalog.jsonl")
    retrieval = _retrieval(raw.get("retrieval.jsonl", b""), catalog, source)
    by_id = {q.id: q for q in retrieval}
    rerank = _rerank(raw.get("rerank.jsonl", b""), by_id, catalog, source)
    intents = _intents(raw.get("intents.jsonl", b""), source)
    costs = _costs(raw["costs.json"], source) if "costs.json" in raw else None
    if costs is not None:
        stray = sorted({e.label for e in intents} - set(costs.labels))
        if stray:
            raise GoldenSetError(
                f"{source}: intents.jsonl uses label(s) {stray} missing from costs.json labels"
            )
    return GoldenSet(content_hash(raw), catalog, retrieval, rerank, intents, costs)


def jsonl_rows(text: str, where: str, error: type[Exception]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of JSON Lines ``text``; a line that is not a
    JSON object raises ``error`` naming ``where`` and the line. The simulator's query log uses it too."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where} line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise error(f"{where} line {number}: expected an object")
        out.append((number, obj))
    return out


def _lines(data: bytes, name: str, source: str) -> list[tuple[int, dict[str, Any]]]:
    return jsonl_rows(data.decode("utf-8", errors="strict"), f"{source}/{name}", GoldenSetError)


def _field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise GoldenSetError(f"{where}: field {key!r} is missing or not a {getattr(kind, '__name__', kind)}")
    return value


def _catalog(data: bytes, source: str) -> dict[str, Item]:
    items: dict[str, Item] = {}
    for number, obj in _lines(data, "catalog.jsonl", source):
        where = f"{source}/catalog.jsonl line {number}"
        item_id = _field(obj, "id", str, where)
        for key in ("title", "synopsis"):
            _field(obj, key, str, where)
        if not isinstance(obj.get("genres"), list):
            raise GoldenSetError(f"{where}: field 'genres' is missing or not a list")
        if item_id in items:
            raise GoldenSetError(f"{where}: duplicate id {item_id!r}")
        price = obj.get("price")
        items[item_id] = Item(
            id=item_id,
            title=obj["title"],
            text=item_text(obj),
            spoiler=str(obj.get("spoiler") or ""),
            price=float(price) if isinstance(price, int | float) else None,
            availability=obj.get("availability") if isinstance(obj.get("availability"), str) else None,
            category=obj["category"] if isinstance(obj.get("category"), str) else "",
        )
    return items


def _retrieval(data: bytes, catalog: Mapping[str, Item], source: str) -> tuple[RetrievalQuery, ...]:
    out: list[RetrievalQuery] = []
    seen: set[str] = set()
    for number, obj in _lines(data, "retrieval.jsonl", source):
        where = f"{source}/retrieval.jsonl line {number}"
        qid = _field(obj, "id", str, where)
        if qid in seen:
            raise GoldenSetError(f"{where}: duplicate id {qid!r}")
        seen.add(qid)
        judgments = _field(obj, "judgments", dict, where)
        for item_id, g in judgments.items():
            if item_id not in catalog:
                raise GoldenSetError(f"{where}: judgment for unknown item {item_id!r}")
            if not isinstance(g, int) or isinstance(g, bool) or not 0 <= g <= 3:
                raise GoldenSetError(f"{where}: grade of {item_id!r} must be an integer 0..3, got {g!r}")
        slices = obj.get("slices", [])
        if not isinstance(slices, list) or not all(isinstance(s, str) and s and "." not in s for s in slices):
            raise GoldenSetError(f"{where}: field 'slices' must be a list of names without dots")
        cluster = obj.get("cluster", "")
        if not isinstance(cluster, str):
            raise GoldenSetError(f"{where}: field 'cluster' must be a string")
        query = _field(obj, "query", str, where)
        out.append(RetrievalQuery(qid, query, tuple(slices), dict(judgments), cluster))
    return tuple(out)


def _rerank(
    data: bytes, queries: Mapping[str, RetrievalQuery], catalog: Mapping[str, Item], source: str
) -> tuple[RerankQuery, ...]:
    out = []
    for number, obj in _lines(data, "rerank.jsonl", source):
        where = f"{source}/rerank.jsonl line {number}"
        qid = _field(obj, "query_id", str, where)
        if qid not in queries:
            raise GoldenSetError(f"{where}: query_id {qid!r} is not in retrieval.jsonl")
        cands = _field(obj, "candidates", list, where)
        missing = [c for c in cands if c not in catalog]
        if not cands or missing:
            raise GoldenSetError(
                f"{where}: candidates must be non-empty catalog ids (unknown: {missing[:3]})"
            )
        out.append(RerankQuery(queries[qid], tuple(cands)))
    return tuple(out)


def _intents(data: bytes, source: str) -> tuple[IntentExample, ...]:
    out = []
    for number, obj in _lines(data, "intents.jsonl", source):
        where = f"{source}/intents.jsonl line {number}"
        out.append(
            IntentExample(
                _field(obj, "id", str, where),
                _field(obj, "text", str, where),
                _field(obj, "label", str, where),
            )
        )
    return tuple(out)


def _costs(data: bytes, source: str) -> CostTable:
    where = f"{source}/costs.json"
    try:
        obj = json.loads(data)
    except json.JSONDecodeError as exc:
        raise GoldenSetError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise GoldenSetError(f"{where}: expected an object")
    labels = _field(obj, "labels", list, where)
    matrix = _field(obj, "matrix", dict, where)
    for true, row in matrix.items():
        if true not in labels or not isinstance(row, dict):
            raise GoldenSetError(f"{where}: matrix row {true!r} is not a label with an object of costs")
        for pred, cost in row.items():
            if pred not in labels or not isinstance(cost, int | float) or cost < 0:
                raise GoldenSetError(
                    f"{where}: matrix[{true!r}][{pred!r}] must be a known label and a cost >= 0"
                )
    critical = obj.get("critical", [])
    if not isinstance(critical, list) or not set(critical) <= set(labels):
        raise GoldenSetError(f"{where}: 'critical' must list known labels")
    default = obj.get("default_cost", 1.0)
    if not isinstance(default, int | float) or default < 0:
        raise GoldenSetError(f"{where}: 'default_cost' must be a number >= 0")
    return CostTable(tuple(labels), tuple(critical), float(default), matrix)

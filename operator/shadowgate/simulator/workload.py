"""The simulated workload: recommendation queries drawn from the production query log.

The log (``data/query_log.jsonl``) holds sessions; only ``recommend`` rows carry an
editorial target, which is what lets the simulator grade what it is shown. The workload
draws whole log sessions (keeping their query order) with a seeded RNG, so the sequence of
queries is fixed by the seed alone.
"""

from __future__ import annotations

import pathlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shadowgate.evaluation import golden, relevance


class WorkloadError(ValueError):
    """A query log or catalog the simulator cannot use."""


@dataclass(frozen=True)
class Query:
    session: str
    text: str
    target: relevance.Target


@dataclass(frozen=True)
class Workload:
    sessions: tuple[tuple[tuple[str, relevance.Target], ...], ...]
    catalog: Mapping[str, Mapping[str, Any]]

    def queries(self, seed: int) -> Iterator[Query]:
        """An endless, seed-determined stream; session ids are unique per draw."""
        rng = random.Random(seed)
        n = 0
        while True:
            n += 1
            for text, target in rng.choice(self.sessions):
                yield Query(f"sim-{seed}-{n:06d}", text, target)

    def grades(self, ids: Sequence[str], target: relevance.Target) -> list[int]:
        """Grades of shown items; an id not in the catalog grades 0 (it cannot be relevant)."""
        return [relevance.grade(self.catalog[i], target) if i in self.catalog else 0 for i in ids]


def _jsonl(path: pathlib.Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkloadError(f"cannot read {path}: {exc.strerror}") from exc
    return golden.jsonl_rows(text, str(path), WorkloadError)


def load(query_log: pathlib.Path, catalog: pathlib.Path) -> Workload:
    items: dict[str, Mapping[str, Any]] = {}
    for number, obj in _jsonl(catalog):
        if not isinstance(obj.get("id"), str):
            raise WorkloadError(f"{catalog} line {number}: no string 'id'")
        items[obj["id"]] = obj
    by_session: dict[str, list[tuple[str, relevance.Target]]] = {}
    for number, obj in _jsonl(query_log):
        if obj.get("intent") != "recommend":
            continue
        if not isinstance(obj.get("query"), str) or not isinstance(obj.get("session_id"), str):
            raise WorkloadError(f"{query_log} line {number}: needs string 'query' and 'session_id'")
        try:
            target = relevance.Target.from_dict(obj.get("target") or {})
        except ValueError as exc:
            raise WorkloadError(f"{query_log} line {number}: {exc}") from exc
        by_session.setdefault(obj["session_id"], []).append((obj["query"], target))
    if not by_session:
        raise WorkloadError(f"{query_log}: no 'recommend' rows to draw queries from")
    if not items:
        raise WorkloadError(f"{catalog}: no items")
    return Workload(tuple(tuple(s) for s in by_session.values()), items)

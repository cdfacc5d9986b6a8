"""Run a golden set against a model-server endpoint over HTTP and compute its metrics.

The evaluator speaks only the wire contract (``POST {endpoint}/predictions/{model}`` with
the JSON shapes in docs/architecture.md), so the control plane never imports torch or the
model server. What it measures depends on the model kind (``retriever``, ``reranker``,
``classifier``), given or detected by probing with each kind's request shape (a handler
rejects another kind's body with a 4xx).

Results are a JSON-ready dict (``RESULTS_SCHEMA``); gate key paths are relative to its
``metrics`` (see docs/data.md). Every request must succeed (after ``retries`` retries of
429/503/connection errors) or the evaluation fails with ``EvaluationError``: partial
numbers are not comparable between a candidate and its baseline.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from shadowgate.evaluation import classification, ranking, safety
from shadowgate.evaluation.golden import GoldenSet

RESULTS_SCHEMA = "shadowgate.dev/evaluation-results/v1"
T = TypeVar("T")


class Kind(enum.StrEnum):
    RETRIEVER = "retriever"
    RERANKER = "reranker"
    CLASSIFIER = "classifier"


class EvaluationError(RuntimeError):
    """The evaluation could not produce trustworthy numbers; the message says why."""


@dataclass(frozen=True)
class Options:
    k: int = 10
    concurrency: int = 4
    retries: int = 3
    retry_delay_s: float = 0.5


@dataclass
class _Calls:
    """Request bookkeeping shared by one evaluation's tasks."""

    sent: int = 0
    retried: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)


class Evaluator:
    def __init__(
        self, client: httpx.AsyncClient, endpoint: str, model: str, options: Options | None = None
    ) -> None:
        self.client = client
        self.url = f"{endpoint.rstrip('/')}/predictions/{model}"
        self.endpoint = endpoint
        self.model = model
        self.options = options or Options()

    async def _post(self, body: Mapping[str, Any], calls: _Calls) -> dict[str, Any] | None:
        """The response JSON, or None after recording why it failed."""
        reason = ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                calls.retried += 1
                await asyncio.sleep(self.options.retry_delay_s * attempt)
            calls.sent += 1
            try:
                resp = await self.client.post(self.url, json=body)
            except httpx.TimeoutException:
                reason = "timeout"
                continue
            except httpx.TransportError:
                reason = "connect"
                continue
            if resp.status_code in (429, 503):
                reason = f"http_{resp.status_code}"
                continue
            if resp.status_code != 200:
                calls.failures[f"http_{resp.status_code}"] += 1
                return None
            try:
                data = resp.json()
            except ValueError:
                calls.failures["bad_body"] += 1
                return None
            if not isinstance(data, dict):
                calls.failures["bad_body"] += 1
                return None
            calls.versions[str(data.get("version", ""))] += 1
            return data
        calls.failures[reason] += 1
        return None

    async def _gather(self, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        gate = asyncio.Semaphore(self.options.concurrency)

        async def run(job: Callable[[], Awaitable[T]]) -> T:
            async with gate:
                return await job()

        return list(await asyncio.gather(*(run(j) for j in jobs)))

    async def detect_kind(self, golden: GoldenSet) -> Kind:
        probes: list[tuple[Kind, dict[str, Any], str]] = [
            (Kind.RETRIEVER, {"query": "manga", "k": 1}, "items"),
            (Kind.CLASSIFIER, {"text": "hello"}, "label"),
            (Kind.RERANKER, {"query": "manga", "items": [{"id": "probe", "text": "manga"}]}, "items"),
        ]
        seen = []
        for kind, body, key in probes:
            for attempt in range(self.options.retries + 1):
                if attempt:  # a busy server (429/503) is not an answer about the kind
                    await asyncio.sleep(self.options.retry_delay_s * attempt)
                try:
                    resp = await self.client.post(self.url, json=body)
                except httpx.HTTPError as exc:
                    raise EvaluationError(f"cannot reach {self.url}: {exc}") from exc
                if resp.status_code not in (429, 503):
                    break
            seen.append(f"{kind}: HTTP {resp.status_code}")
            try:
                answer = resp.json() if resp.status_code == 200 else None
            except ValueError:
                answer = None
            if isinstance(answer, dict) and key in answer:
                return kind
        raise EvaluationError(f"cannot tell the model kind at {self.url} ({'; '.join(seen)}); pass --kind")

    async def evaluate(self, golden: GoldenSet, kind: Kind | None = None) -> dict[str, Any]:
        started = time.monotonic()
        kind = kind or await self.detect_kind(golden)
        calls = _Calls()
        if kind is Kind.RETRIEVER:
            metrics = await self._retrieval(golden, calls)
        elif kind is Kind.RERANKER:
            metrics = await self._reranking(golden, calls)
        else:
            metrics = await self._classification(golden, calls)
        if calls.failures:
            raise EvaluationError(
                f"{sum(calls.failures.values())} golden-set request(s) to {self.url} failed "
                f"({dict(calls.failures)}); refusing to report partial metrics"
            )
        versions = [v for v in calls.versions if v]
        if len(versions) > 1:
            raise EvaluationError(f"the model version changed during the evaluation: {sorted(versions)}")
        return {
            "schema": RESULTS_SCHEMA,
            "golden_set": {"hash": golden.content_hash, "counts": golden.counts()},
            "model": {
                "name": self.model,
                "version": versions[0] if versions else "",
                "kind": str(kind),
                "endpoint": self.endpoint,
            },
            "metrics": metrics,
            "requests": {"sent": calls.sent, "retried": calls.retried, "failed": 0},
            "duration_seconds": round(time.monotonic() - started, 3),
        }

    async def _retrieval(self, golden: GoldenSet, calls: _Calls) -> dict[str, Any]:
        if not golden.retrieval:
            raise EvaluationError("the golden set has no retrieval.jsonl to evaluate a retriever on")
        k = self.options.k
        jobs = [lambda q=q: self._post({"query": q.query, "k": k}, calls) for q in golden.retrieval]
        answers = await self._gather(jobs)
        scored, outputs = [], []
        for q, answer in zip(golden.retrieval, answers, strict=True):
            items = _items(answer, calls)
            scored.append(
                ranking.Scored(
                    q.slices, ranking.query_metrics([i["id"] for i in items], q.judgments), q.id, q.cluster
                )
            )
            outputs.append(safety.Output(items, answer or {}))
        return {"retrieval": ranking.aggregate(scored), "safety": safety.metrics(outputs, golden.catalog)}

    async def _reranking(self, golden: GoldenSet, calls: _Calls) -> dict[str, Any]:
        if not golden.rerank:
            raise EvaluationError("the golden set has no rerank.jsonl to evaluate a reranker on")
        jobs = [
            lambda r=r: self._post(
                {
                    "query": r.query.query,
                    "items": [{"id": c, "text": golden.catalog[c].text} for c in r.candidates],
                },
                calls,
            )
            for r in golden.rerank
        ]
        answers = await self._gather(jobs)
        scored, outputs = [], []
        for r, answer in zip(golden.rerank, answers, strict=True):
            items = _items(answer, calls)
            # Grades count only for items the reranker was shown: the ideal is over candidates.
            shown = {c: r.query.judgments.get(c, 0) for c in r.candidates}
            scored.append(
                ranking.Scored(
                    r.query.slices,
                    ranking.query_metrics([i["id"] for i in items], shown),
                    r.query.id,
                    r.query.cluster,
                )
            )
            outputs.append(safety.Output(items, answer or {}, allowed=set(r.candidates)))
        return {"reranking": ranking.aggregate(scored), "safety": safety.metrics(outputs, golden.catalog)}

    async def _classification(self, golden: GoldenSet, calls: _Calls) -> dict[str, Any]:
        if not golden.intents:
            raise EvaluationError("the golden set has no intents.jsonl to evaluate a classifier on")
        jobs = [lambda e=e: self._post({"text": e.text}, calls) for e in golden.intents]
        answers = await self._gather(jobs)
        preds = []
        for example, answer in zip(golden.intents, answers, strict=True):
            if answer is None:
                continue
            label, probs = answer.get("label"), answer.get("probabilities")
            if not isinstance(label, str) or not isinstance(probs, dict):
                calls.failures["bad_body"] += 1
                continue
            confidence = probs.get(label)
            conf = float(confidence) if isinstance(confidence, int | float) else 0.0
            preds.append(classification.Prediction(example.label, label, conf))
        return {"classification": classification.metrics(preds, golden.costs)}


def _items(answer: Mapping[str, Any] | None, calls: _Calls) -> list[Mapping[str, Any]]:
    """The answer's items; a body without an ``items`` list of ``{id}`` objects is a failure."""
    if answer is None:
        return []
    items = answer.get("items")
    if not isinstance(items, list) or not all(
        isinstance(i, Mapping) and isinstance(i.get("id"), str) for i in items
    ):
        calls.failures["bad_body"] += 1
        return []
    return list(items)

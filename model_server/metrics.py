"""Prometheus metrics. Every series carries ``model``, ``version`` and ``variant`` (the
variant is fixed at start-up), latencies are histograms (never running totals) with buckets
fine enough for p95/p99 gates from 1 ms to 2 s, and hot paths use pre-bound children."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

# About 25% apart from 1 ms to 2.5 s, so an interpolated p95/p99 is within one narrow bucket.
LATENCY_BUCKETS = (
    0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.006, 0.008,
    0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08,
    0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 5.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024)
_LABELS = ("model", "version", "variant")
UNKNOWN_MODEL = "_unknown"


@dataclass
class ModelMetrics:
    """Label children pre-bound for one (model, version); status-code children cached."""

    request_duration: Histogram
    queue_wait: Histogram
    inference_duration: Histogram
    batch_size: Histogram
    _requests: Counter
    _labels: tuple[str, str, str]
    _by_code: dict[int, Counter] = field(default_factory=dict)

    def codes(self) -> list[int]:
        return list(self._by_code)

    def count(self, code: int) -> None:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._requests.labels(*self._labels, str(code))
        child.inc()


class _VariantProcessCollector(Collector):
    """Process CPU seconds and resident memory, with the ``variant`` label added."""

    def __init__(self, variant: str) -> None:
        self._inner = ProcessCollector(registry=None)
        self._variant = variant

    def collect(self) -> Iterator[Metric]:
        for family in self._inner.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            for sample in family.samples:
                labelled.add_sample(sample.name, {**sample.labels, "variant": self._variant}, sample.value)
            yield labelled


class ServerMetrics:
    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.registry = CollectorRegistry()
        self._request_duration = Histogram(
            "model_server_request_duration_seconds",
            "End-to-end request latency, from the request's arrival to its response.",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._queue_wait = Histogram(
            "model_server_queue_wait_seconds",
            "Time an instance waited in the model's queue before its batch started.",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._inference_duration = Histogram(
            "model_server_inference_duration_seconds",
            "Time the handler took for one batch.",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch_size = Histogram(
            "model_server_batch_size",
            "Instances per batch handed to the handler.",
            _LABELS,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._requests = Counter(
            "model_server_requests",
            "Requests by model, version and HTTP status code.",
            (*_LABELS, "code"),
            registry=self.registry,
        )
        self.registry.register(_VariantProcessCollector(variant))

    def bind(self, model: str, version: str) -> ModelMetrics:
        labels = (model, version, self.variant)
        return ModelMetrics(
            request_duration=self._request_duration.labels(*labels),
            queue_wait=self._queue_wait.labels(*labels),
            inference_duration=self._inference_duration.labels(*labels),
            batch_size=self._batch_size.labels(*labels),
            _requests=self._requests,
            _labels=labels,
        )

    def unbind(self, model: str, version: str, codes: list[int]) -> None:
        """Drop an unregistered model's series so dashboards stop showing it."""
        labels = (model, version, self.variant)
        for histogram in (
            self._request_duration,
            self._queue_wait,
            self._inference_duration,
            self._batch_size,
        ):
            with contextlib.suppress(KeyError):
                histogram.remove(*labels)
        for code in codes:
            with contextlib.suppress(KeyError):
                self._requests.remove(*labels, str(code))

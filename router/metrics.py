"""The router's Prometheus metrics, in one registry per router instance.

Label children are bound once per (route, variant) and cached: ``.labels()`` costs about a
microsecond, which the hot path should pay once, not per request.
"""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


@dataclasses.dataclass(slots=True)
class VariantMetrics:
    """Pre-bound children for one (route, variant)."""

    duration: Histogram
    impressions: Counter
    clicks: Counter
    noclicks: Counter


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        rv = ["route", "variant"]
        self.requests = Counter("shadowgate_router_requests", "Requests answered", [*rv, "code"], registry=r)
        self.duration = Histogram(
            "shadowgate_router_request_duration_seconds",
            "Request latency as seen by the router",
            rv,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "shadowgate_router_upstream_errors", "Upstream failures by kind", [*rv, "kind"], registry=r
        )
        self.mirror = Counter(
            "shadowgate_router_mirror", "Mirrored copies by result", [*rv, "result"], registry=r
        )
        self.jaccard = Histogram(
            "shadowgate_router_shadow_jaccard",
            "Retriever Jaccard@k of shadow vs primary",
            rv,
            buckets=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 1.0),
            registry=r,
        )
        self.top1 = Counter(
            "shadowgate_router_shadow_top1_match", "Retriever top-1 agreement", [*rv, "match"], registry=r
        )
        self.label_agreement = Counter(
            "shadowgate_router_shadow_label_agreement",
            "Classifier label agreement",
            [*rv, "match"],
            registry=r,
        )
        self.rank_correlation = Histogram(
            "shadowgate_router_shadow_rank_correlation",
            "Reranker Spearman rank correlation of shadow vs primary over the shared top-k",
            rv,
            # No negative bound: prometheus_client drops _sum when one exists, and a gate wants the mean.
            buckets=(0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
            registry=r,
        )
        self.comparison_invalid = Counter(
            "shadowgate_router_shadow_comparison_invalid",
            "Sampled pairs whose bodies did not have the route kind's shape",
            rv,
            registry=r,
        )
        self.impressions = Counter("shadowgate_router_impressions", "Impressions", rv, registry=r)
        self.clicks = Counter(
            "shadowgate_router_clicks", "Impressions clicked within the window", rv, registry=r
        )
        self.noclicks = Counter(
            "shadowgate_router_noclicks", "Impressions whose window passed without a click", rv, registry=r
        )
        self.events = Counter(
            "shadowgate_router_feedback_events", "Accepted feedback events", [*rv, "event"], registry=r
        )
        self.evicted = Counter(
            "shadowgate_router_impressions_evicted",
            "Pending impressions dropped before a decision",
            [*rv, "reason"],
            registry=r,
        )
        self.rejected = Counter(
            "shadowgate_router_feedback_rejected", "Rejected feedback items", ["reason"], registry=r
        )
        self.table_version = Gauge(
            "shadowgate_router_table_version", "Active route.json version", ["route"], registry=r
        )
        self.source_up = Gauge(
            "shadowgate_router_table_source_up", "1 while the table source is reachable", registry=r
        )
        self.table_errors = Counter(
            "shadowgate_router_table_errors", "Invalid or conflicting route tables", ["reason"], registry=r
        )
        self.pending = Gauge(
            "shadowgate_router_impressions_pending", "Impressions awaiting a decision", registry=r
        )
        self.mirror_inflight = Gauge("shadowgate_router_mirror_inflight", "Mirrors in flight", registry=r)
        self._variants: dict[tuple[str, str], VariantMetrics] = {}

    def variant(self, route: str, variant: str) -> VariantMetrics:
        key = (route, variant)
        vm = self._variants.get(key)
        if vm is None:
            vm = VariantMetrics(
                duration=self.duration.labels(route, variant),
                impressions=self.impressions.labels(route, variant),
                clicks=self.clicks.labels(route, variant),
                noclicks=self.noclicks.labels(route, variant),
            )
            self._variants[key] = vm
        return vm


class MetricsSink:
    """The attribution book's outcomes, counted in Prometheus counters."""

    def __init__(self, metrics: RouterMetrics) -> None:
        self._m = metrics

    def impression(self, route: str, variant: str) -> None:
        self._m.variant(route, variant).impressions.inc()

    def click(self, route: str, variant: str) -> None:
        self._m.variant(route, variant).clicks.inc()

    def noclick(self, route: str, variant: str) -> None:
        self._m.variant(route, variant).noclicks.inc()

    def event(self, route: str, variant: str, event: str) -> None:
        self._m.events.labels(route, variant, event).inc()

    def evicted(self, route: str, variant: str, reason: str) -> None:
        self._m.evicted.labels(route, variant, reason).inc()

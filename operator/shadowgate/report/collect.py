"""Gather a report's data: the Candidate's status history decides the time window, Prometheus
fills in weight, gate values and thresholds, per-variant latency and no-click rate."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shadowgate.core.lifecycle.status import Status, parse_time
from shadowgate.report.model import ReportData, ReportError, Series, Window
from shadowgate.report.prometheus import RangeSource

QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
MIN_MARGIN = timedelta(seconds=5)
# About this many points per series: enough for a smooth line, cheap for Prometheus.
POINTS = 300
RATE_WINDOW = "1m"


def window(cr: Mapping[str, Any], status: Status, now: datetime) -> Window:
    created = parse_time(cr.get("metadata", {}).get("creationTimestamp"))
    times = [h.time for h in status.history]
    start = min([*times, *([created] if created else [])], default=now - timedelta(minutes=15))
    last = max(times, default=now)
    # A little room on both sides, so the first and last decisions are not on the frame.
    margin = max(MIN_MARGIN, (last - start) * 0.05)
    end = last + margin if status.phase.terminal and times else now
    start -= margin
    end = min(end, now)
    if end <= start:
        end = start + timedelta(minutes=1)
    step = max(1.0, math.ceil((end - start).total_seconds() / POINTS))
    return Window(start=start, end=end, step_s=step)


def _sel(**labels: str) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in labels.items() if v)


def collect(cr: Mapping[str, Any], source: RangeSource, now: datetime | None = None) -> ReportData:
    """Build ``ReportData`` for one Candidate custom resource (as the API returns it)."""
    meta = cr.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    if not name or not namespace:
        raise ReportError("the Candidate object has no metadata.name / metadata.namespace")
    try:
        status = Status.from_dict(cr.get("status"))
    except (KeyError, ValueError) as exc:
        raise ReportError(
            f"Candidate {namespace}/{name} has a status this report cannot read: {exc}"
        ) from exc
    if not status.history:
        raise ReportError(f"Candidate {namespace}/{name} has no status history yet: nothing to report")
    route = str((cr.get("spec") or {}).get("target", {}).get("route", ""))
    win = window(cr, status, now or datetime.now(UTC))
    warnings: list[str] = []

    def q(expr: str, what: str) -> tuple[Series, ...]:
        series = tuple(source.query_range(expr, win.start, win.end, win.step_s))
        if not series:
            warnings.append(f"no {what} in Prometheus ({expr})")
        return series

    cand = _sel(namespace=namespace, candidate=name)
    weight = q(f"max by (candidate) (shadowgate_candidate_weight{{{cand}}})", "weight series")
    values = q(f"max by (gate) (shadowgate_gate_value{{{cand}}})", "gate values")
    thresholds = q(f"max by (gate) (shadowgate_gate_threshold{{{cand}}})", "gate thresholds")

    router = _sel(route=route)
    latency: dict[str, tuple[Series, ...]] = {}
    latency_source = "router"
    for label, quantile in QUANTILES.items():
        expr = (
            f"histogram_quantile({quantile}, sum by (variant, le) "
            f"(rate(shadowgate_router_request_duration_seconds_bucket{{{router}}}[{RATE_WINDOW}])))"
        )
        latency[label] = tuple(source.query_range(expr, win.start, win.end, win.step_s))
    if not any(latency.values()):
        # No router in front (for example the Gateway API provider): the model servers' own view.
        latency_source = "model server"
        for label, quantile in QUANTILES.items():
            expr = (
                f"histogram_quantile({quantile}, sum by (variant, le) "
                f"(rate(model_server_request_duration_seconds_bucket{{{_sel(namespace=namespace)}}}[{RATE_WINDOW}])))"
            )
            latency[label] = tuple(source.query_range(expr, win.start, win.end, win.step_s))
        if not any(latency.values()):
            warnings.append("no per-variant latency in Prometheus (router or model server)")

    clicks = f"sum by (variant) (rate(shadowgate_router_clicks_total{{{router}}}[{RATE_WINDOW}]))"
    noclicks = f"sum by (variant) (rate(shadowgate_router_noclicks_total{{{router}}}[{RATE_WINDOW}]))"
    noclick_rate = q(f"{noclicks} / ({clicks} + {noclicks})", "no-click rate")
    decided = q(
        f"sum by (variant) (shadowgate_router_clicks_total{{{router}}})"
        f" + sum by (variant) (shadowgate_router_noclicks_total{{{router}}})",
        "decided impressions",
    )
    samples = {s.label("variant", "?"): s.points[-1][1] for s in decided if s.points}
    return ReportData(
        namespace=namespace,
        candidate=name,
        route=route,
        status=status,
        window=win,
        weight=weight,
        gate_values=values,
        gate_thresholds=thresholds,
        latency=latency,
        latency_source=latency_source,
        noclick_rate=noclick_rate,
        decided_impressions=samples,
        warnings=tuple(warnings),
    )

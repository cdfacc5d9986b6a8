"""Prometheus range queries for the report, behind a one-method Protocol so tests can feed series.

``HttpPrometheus`` goes through the operator's one Prometheus client (``sources.promapi``: its
retry policy, its response parser); anything it cannot answer is a ``ReportError`` naming the
query and what Prometheus said.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from shadowgate.report.model import ReportError, Series
from shadowgate.sources.promapi import PrometheusAPI, PrometheusError, RetryPolicy, Transport
from shadowgate.sources.prometheus_response import parse_range


class RangeSource(Protocol):
    def query_range(self, expr: str, start: datetime, end: datetime, step_s: float) -> list[Series]: ...


class HttpPrometheus:
    """Synchronous for the CLI: each query runs its own event loop and client."""

    def __init__(self, base_url: str, *, transport: Transport | None = None, timeout_s: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ReportError(f"--prometheus must be an http(s) URL, got {base_url!r}")
        self._base = base_url.rstrip("/")
        self._policy = RetryPolicy(timeout_s=timeout_s)
        self._transport = transport

    def query_range(self, expr: str, start: datetime, end: datetime, step_s: float) -> list[Series]:
        return asyncio.run(self._query_range(expr, start, end, step_s))

    async def _query_range(self, expr: str, start: datetime, end: datetime, step_s: float) -> list[Series]:
        api = PrometheusAPI(self._base, policy=self._policy, transport=self._transport)
        try:
            body = await api.query_range(expr, start.timestamp(), end.timestamp(), step_s)
        except PrometheusError as exc:
            raise ReportError(f"Prometheus at {self._base}: {exc}") from exc
        finally:
            await api.aclose()
        series = parse_range(body, expr)
        if isinstance(series, str):
            raise ReportError(f"Prometheus rejected {expr!r}: {series}")
        return [Series(labels=labels, points=points) for labels, points in series]

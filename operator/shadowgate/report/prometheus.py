"""Prometheus range queries for the report, behind a one-method Protocol so tests can feed series."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import httpx

from shadowgate.report.model import ReportError, Series


class RangeSource(Protocol):
    def query_range(self, expr: str, start: datetime, end: datetime, step_s: float) -> list[Series]: ...


class HttpPrometheus:
    """``/api/v1/query_range`` over httpx. Errors name the query and what Prometheus said."""

    def __init__(self, base_url: str, client: httpx.Client | None = None, timeout_s: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ReportError(f"--prometheus must be an http(s) URL, got {base_url!r}")
        self._base = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout_s)

    def query_range(self, expr: str, start: datetime, end: datetime, step_s: float) -> list[Series]:
        params = {
            "query": expr,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{max(step_s, 0.001):.3f}",
        }
        try:
            resp = self._client.get(f"{self._base}/api/v1/query_range", params=params)
        except httpx.HTTPError as exc:
            raise ReportError(f"Prometheus at {self._base} is unreachable: {exc}") from exc
        try:
            body: dict[str, Any] = resp.json()
        except ValueError as exc:
            raise ReportError(
                f"Prometheus at {self._base} answered HTTP {resp.status_code} without JSON"
            ) from exc
        if resp.status_code != 200 or body.get("status") != "success":
            raise ReportError(f"Prometheus rejected {expr!r}: {body.get('error', resp.status_code)}")
        return [
            Series(
                labels=tuple(sorted(item.get("metric", {}).items())),
                points=tuple((float(t), float(v)) for t, v in item.get("values", [])),
            )
            for item in body["data"]["result"]
        ]

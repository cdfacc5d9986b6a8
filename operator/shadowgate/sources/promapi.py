"""The one Prometheus HTTP API client: gates, sample counts, router versions and reports.

One retry policy for all of them: transport errors (refused, timeouts) and 5xx answers are
retried ``tries - 1`` times with exponential backoff (gates and reports: 3 tries; the sample
count and the router versions, asked again at every analysis, ``ONE_TRY``: the next analysis
is their retry, so a reconcile during an outage takes no longer than one gate query's
retries); any other answer is returned as its decoded JSON body, so a 4xx's error envelope
(a bad query) reaches the response parser (``prometheus_response``) and is reported as
Prometheus worded it. What cannot be answered at
all raises ``PrometheusError`` with the reason; callers turn it into their own verdict
(a gate's QueryError, a held phase, a report error) and never drop it silently.

The httpx transport is the test seam (``httpx.MockTransport``); a caller-owned
``httpx.AsyncClient`` can be shared instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

_RETRY_STATUS = frozenset({500, 502, 503, 504})
# The test seam's type, named here so that callers outside ``sources`` need no httpx import.
Transport = httpx.AsyncBaseTransport


class PrometheusError(RuntimeError):
    """No usable answer from Prometheus; the message says why."""


@dataclass(frozen=True)
class RetryPolicy:
    tries: int = 3
    backoff_s: float = 0.2  # before the 2nd try; doubles for each further one
    timeout_s: float = 5.0  # per try

    def __post_init__(self) -> None:
        if self.tries < 1 or self.timeout_s <= 0 or self.backoff_s < 0:
            raise ValueError("tries must be >= 1, timeout_s > 0 and backoff_s >= 0")


# For a query the operator asks again at every analysis anyway.
ONE_TRY = RetryPolicy(tries=1, timeout_s=3.0)


class PrometheusAPI:
    def __init__(
        self,
        base_url: str,
        *,
        policy: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self._owned = client is None
        self._client = client or httpx.AsyncClient(transport=transport, timeout=self.policy.timeout_s)

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def query(self, promql: str, at: float | None = None) -> Any:
        """``/api/v1/query`` at ``at`` (unix seconds; None = now): the decoded answer."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return await self._get("/api/v1/query", params)

    async def query_range(self, promql: str, start: float, end: float, step_s: float) -> Any:
        """``/api/v1/query_range``: the decoded answer."""
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{max(step_s, 0.001):.3f}",
        }
        return await self._get("/api/v1/query_range", params)

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        policy, last = self.policy, ""
        for attempt in range(policy.tries):
            if attempt:
                await asyncio.sleep(policy.backoff_s * 2 ** (attempt - 1))
            try:
                resp = await self._client.get(
                    f"{self.base_url}{path}", params=params, timeout=policy.timeout_s
                )
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if resp.status_code in _RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            try:
                return resp.json()
            except ValueError:
                raise PrometheusError(
                    f"HTTP {resp.status_code}: answer is not JSON: {resp.text[:200]!r}"
                ) from None
        raise PrometheusError(f"prometheus unreachable after {policy.tries} tries ({self.base_url}): {last}")

"""Sample counts that gate a phase's end: mirrored requests in shadow, decided impressions
(clicks + no-clicks) for the candidate in a canary step, from Prometheus counters.

A failed or empty query answers None, which the lifecycle treats as "not enough yet".
"""

from __future__ import annotations

import math
from typing import Protocol

import httpx

from shadowgate.core.lifecycle.phases import Phase

MIRRORED = 'sum(increase(shadowgate_router_mirror_total{{route="{route}",result="completed"}}[{window}]))'
_CANARY = 'sum(increase(shadowgate_router_{what}_total{{route="{route}",variant="canary"}}[{window}]))'


class SampleCounter(Protocol):
    def count(self, phase: Phase, route: str, window_s: float) -> int | None: ...


def query_for(phase: Phase, route: str, window_s: float) -> str | None:
    window = f"{max(1, math.ceil(window_s))}s"
    if phase is Phase.SHADOW:
        return MIRRORED.format(route=route, window=window)
    if phase is Phase.CANARY:
        clicks = _CANARY.format(what="clicks", route=route, window=window)
        noclicks = _CANARY.format(what="noclicks", route=route, window=window)
        return f"({clicks} or vector(0)) + ({noclicks} or vector(0))"
    return None


class PrometheusSamples:
    def __init__(self, base_url: str, timeout_s: float = 3.0) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s)

    def count(self, phase: Phase, route: str, window_s: float) -> int | None:
        query = query_for(phase, route, window_s)
        if query is None:
            return None
        try:
            answer = self._client.get("/api/v1/query", params={"query": query})
            answer.raise_for_status()
            result = answer.json()["data"]["result"]
            value = float(result[0]["value"][1]) if result else math.nan
        except (httpx.HTTPError, KeyError, IndexError, ValueError, TypeError):
            return None
        return None if math.isnan(value) else round(value)

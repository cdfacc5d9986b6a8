"""Sample counts that gate a phase's end: mirrored requests in shadow, decided impressions
(clicks + no-clicks) for the candidate in a canary step, from Prometheus counters.

No series yet answers None ("not enough yet"). A query Prometheus cannot answer raises
``promapi.PrometheusError``: the caller logs why and the phase holds, instead of the count
quietly reading as "not enough" for ever.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

from shadowgate.core.gates.observations import Unavailable
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.verdicts import InconclusiveReason
from shadowgate.sources.promapi import ONE_TRY, PrometheusAPI, PrometheusError, RetryPolicy, Transport
from shadowgate.sources.prometheus_response import parse_instant

MIRRORED = 'sum(increase(shadowgate_router_mirror_total{{route="{route}",result="completed"}}[{window}]))'
_CANARY = 'sum(increase(shadowgate_router_{what}_total{{route="{route}",variant="canary"}}[{window}]))'


class SampleCounter(Protocol):
    def count(self, phase: Phase, route: str, window_s: float) -> int | None:
        """The phase's samples so far, None when there are none yet; raises
        ``PrometheusError`` when they cannot be read."""
        ...


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
    """Synchronous for the controller's worker threads: each count runs its own event loop
    with its own client (an async client must not outlive the loop it was used in)."""

    def __init__(
        self, base_url: str, *, policy: RetryPolicy | None = None, transport: Transport | None = None
    ) -> None:
        self._base_url = base_url
        self._policy = policy or ONE_TRY
        self._transport = transport

    def count(self, phase: Phase, route: str, window_s: float) -> int | None:
        query = query_for(phase, route, window_s)
        return None if query is None else asyncio.run(self._count(query))

    async def _count(self, query: str) -> int | None:
        api = PrometheusAPI(self._base_url, policy=self._policy, transport=self._transport)
        try:
            body = await api.query(query)
        finally:
            await api.aclose()
        value = parse_instant(body, query)
        if isinstance(value, Unavailable):
            if value.reason is InconclusiveReason.NO_DATA:
                return None
            raise PrometheusError(value.detail)
        return round(value)

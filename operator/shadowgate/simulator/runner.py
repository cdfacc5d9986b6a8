"""Drive simulated sessions through the router and report what was sent.

Request i is scheduled at ``start + i / rate`` (open loop, so a slow backend does not slow
the offered load until ``concurrency`` requests are in flight). The run stops at
``max_requests`` or when ``duration_s`` has passed, whichever comes first, and waits for
in-flight requests (each bounded by ``timeout_s``). Request i's click draws come from
``Random(f"{seed}:{i}")``, so under a seed the queries and the dice are fixed and only
what the model shows changes the clicks.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from shadowgate.simulator.clicks import ClickModel
from shadowgate.simulator.workload import Query, Workload


@dataclass(frozen=True)
class Settings:
    router: str
    route: str
    model: str
    rate: float = 20.0
    duration_s: float = 30.0
    max_requests: int = 1000
    shown: int = 5
    seed: int = 0
    concurrency: int = 16
    timeout_s: float = 5.0
    session_header: str = "X-Session-Id"
    click_event: str = "click"

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be > 0, got {value}"
            for name, value in (
                ("rate", self.rate),
                ("duration_s", self.duration_s),
                ("max_requests", self.max_requests),
                ("shown", self.shown),
                ("concurrency", self.concurrency),
                ("timeout_s", self.timeout_s),
            )
            if not value > 0
        ]
        if not self.router.startswith(("http://", "https://")):
            problems.append(f"router must be an http(s) URL, got {self.router!r}")
        if not self.route or "/" in self.route:
            problems.append(f"route must be a non-empty name without '/', got {self.route!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def predict_url(self) -> str:
        return f"{self.router.rstrip('/')}/r/{self.route}/predictions/{self.model}"

    @property
    def feedback_url(self) -> str:
        return f"{self.router.rstrip('/')}/feedback"


@dataclass
class Report:
    requests: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    impressions: Counter[str] = field(default_factory=Counter)
    clicks: Counter[str] = field(default_factory=Counter)
    feedback_sent: int = 0
    feedback_rejected: Counter[str] = field(default_factory=Counter)
    click_positions: Counter[int] = field(default_factory=Counter)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        impressions, clicks = sum(self.impressions.values()), sum(self.clicks.values())
        variants = sorted(set(self.impressions) | set(self.clicks))
        return {
            "requests": self.requests,
            "ok": self.ok,
            "failures": dict(sorted(self.failures.items())),
            "impressions": impressions,
            "clicks": clicks,
            "no_clicks": impressions - clicks,
            "no_click_rate": (impressions - clicks) / impressions if impressions else None,
            "by_variant": {
                v: {
                    "impressions": self.impressions[v],
                    "clicks": self.clicks[v],
                    "no_click_rate": 1 - self.clicks[v] / self.impressions[v]
                    if self.impressions[v]
                    else None,
                }
                for v in variants
            },
            "click_positions": {str(k + 1): n for k, n in sorted(self.click_positions.items())},
            "feedback": {
                "sent": self.feedback_sent,
                "accepted": self.feedback_sent - sum(self.feedback_rejected.values()),
                "rejected": dict(sorted(self.feedback_rejected.items())),
            },
            "duration_seconds": round(self.duration_s, 3),
        }


def _failure(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "connect"
    return type(exc).__name__


class Simulator:
    def __init__(
        self,
        settings: Settings,
        workload: Workload,
        client: httpx.AsyncClient,
        clicks: ClickModel | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.s = settings
        self.workload = workload
        self.client = client
        self.clicks = clicks or ClickModel()
        self.clock = clock
        self.sleep = sleep
        self.report = Report()

    async def _one(self, index: int, query: Query) -> None:
        r = self.report
        rng = random.Random(f"{self.s.seed}:{index}")
        try:
            resp = await self.client.post(
                self.s.predict_url,
                json={"query": query.text, "k": self.s.shown},
                headers={self.s.session_header: query.session},
                timeout=self.s.timeout_s,
            )
        except httpx.HTTPError as exc:
            r.failures[_failure(exc)] += 1
            return
        if resp.status_code != 200:
            r.failures[f"http_{resp.status_code}"] += 1
            return
        try:
            body = resp.json()
            ids = [str(i["id"]) for i in body["items"]][: self.s.shown]
        except (ValueError, KeyError, TypeError):
            r.failures["bad_body"] += 1
            return
        request_id = resp.headers.get("X-Request-Id")
        if not request_id:
            r.failures["no_request_id"] += 1
            return
        variant = resp.headers.get("X-Served-By", "unknown")
        r.ok += 1
        r.impressions[variant] += 1
        position = self.clicks.click(self.workload.grades(ids, query.target), rng)
        if position is None:
            return
        r.clicks[variant] += 1
        r.click_positions[position] += 1
        await self._feedback(request_id)

    async def _feedback(self, request_id: str) -> None:
        self.report.feedback_sent += 1
        try:
            resp = await self.client.post(
                self.s.feedback_url,
                json={"request_id": request_id, "event": self.s.click_event},
                timeout=self.s.timeout_s,
            )
        except httpx.HTTPError as exc:
            self.report.feedback_rejected[_failure(exc)] += 1
            return
        if resp.status_code != 200:
            self.report.feedback_rejected[f"http_{resp.status_code}"] += 1

    async def run(self) -> Report:
        start = self.clock()
        gate = asyncio.Semaphore(self.s.concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def guarded(index: int, query: Query) -> None:
            try:
                await self._one(index, query)
            finally:
                gate.release()

        stream = self.workload.queries(self.s.seed)
        for index in range(self.s.max_requests):
            due = start + index / self.s.rate
            if due - start >= self.s.duration_s:
                break
            delay = due - self.clock()
            if delay > 0:
                await self.sleep(delay)
            if self.clock() - start >= self.s.duration_s:
                break
            await gate.acquire()
            self.report.requests += 1
            task = asyncio.create_task(guarded(index, next(stream)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        self.report.duration_s = self.clock() - start
        return self.report

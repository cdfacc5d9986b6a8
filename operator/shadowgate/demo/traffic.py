"""Step 2's users: the MangaAssist simulator sending queries with clicks through the router,
continuously, in a background thread, counting every failed request on the primary path.

The simulator (``shadowgate.simulator``) runs in chunks of ``chunk_s`` seconds with a fresh
seed each, so the totals keep growing while the demo watches, and ``stop`` ends the current
chunk early. Failures are kept with the time they happened, so a test can tell which phase
they fell in.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from shadowgate.demo.settings import ROOT
from shadowgate.simulator import clicks, runner, workload


@dataclass(frozen=True)
class TrafficTotals:
    requests: int
    ok: int
    failures: dict[str, int]
    impressions: dict[str, int]
    clicks: dict[str, int]
    failure_times: tuple[float, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def no_click_rate(self, variant: str) -> float | None:
        shown = self.impressions.get(variant, 0)
        return 1 - self.clicks.get(variant, 0) / shown if shown else None


class Traffic:
    def __init__(
        self, router_url: str, route: str, rate: float, seed: int = 0, chunk_s: float = 10.0
    ) -> None:
        self._router, self._route, self._rate, self._seed = router_url, route, rate, seed
        self._chunk_s = chunk_s
        self._load = workload.load(ROOT / "data" / "query_log.jsonl", ROOT / "data" / "catalog.jsonl")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[runner.Report] | None = None
        self._requests = self._ok = 0
        self._failures: Counter[str] = Counter()
        self._impressions: Counter[str] = Counter()
        self._clicks: Counter[str] = Counter()
        self._failure_times: list[float] = []
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="demo-traffic", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # surfaced by totals() users through .error
            self.error = exc

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(limits=limits) as http:
            chunk = 0
            while not self._stop.is_set():
                settings = runner.Settings(
                    router=self._router,
                    route=self._route,
                    model="retriever",
                    rate=self._rate,
                    # A fresh seed per chunk: new sessions and dice, still reproducible.
                    seed=self._seed * 100_000 + chunk,
                    duration_s=self._chunk_s,
                    max_requests=10**9,
                    concurrency=32,
                )
                sim = _Recording(settings, self._load, http, clicks.ClickModel(), on_failure=self._failed)
                self._task = asyncio.ensure_future(sim.run())
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                self._add(sim.report)
                chunk += 1

    def _failed(self) -> None:
        with self._lock:
            self._failure_times.append(time.time())

    def _add(self, report: runner.Report) -> None:
        with self._lock:
            self._requests += report.requests
            self._ok += report.ok
            self._failures.update(report.failures)
            self._impressions.update(report.impressions)
            self._clicks.update(report.clicks)

    def totals(self) -> TrafficTotals:
        with self._lock:
            return TrafficTotals(
                requests=self._requests,
                ok=self._ok,
                failures=dict(self._failures),
                impressions=dict(self._impressions),
                clicks=dict(self._clicks),
                failure_times=tuple(self._failure_times),
            )

    def stop(self) -> TrafficTotals:
        self._stop.set()
        if self._thread is not None:
            # The current chunk ends within chunk_s; in-flight requests finish (or time out).
            self._thread.join(self._chunk_s + 15)
        return self.totals()


class _Recording(runner.Simulator):
    """The simulator, noting when each failure happens (its report only counts them)."""

    def __init__(
        self,
        settings: runner.Settings,
        load: workload.Workload,
        http: httpx.AsyncClient,
        model: clicks.ClickModel,
        on_failure: Callable[[], None],
    ) -> None:
        super().__init__(settings, load, http, model)
        self._on_failure = on_failure

    async def _one(self, index: int, query: workload.Query) -> None:
        before = sum(self.report.failures.values())
        await super()._one(index, query)
        if sum(self.report.failures.values()) != before:
            self._on_failure()

"""The per-model dynamic batching queue.

Instances wait in a bounded deque. Each worker task takes the oldest instance and keeps
collecting until the batch is ``batch_size`` long or ``max_batch_delay`` has passed since
that oldest instance arrived, then runs the handler on a thread so the event loop stays
free. Instances whose client went away (future cancelled) or whose deadline passed are
dropped before the batch runs: they are never computed.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from model_server.errors import DeadlineExceeded, InferenceFailed, NotReady, QueueFull
from model_server.metrics import ModelMetrics

Runner = Callable[[Sequence[Any]], list[Any]]


@dataclass(frozen=True)
class BatchConfig:
    batch_size: int
    max_batch_delay_s: float
    queue_size: int
    workers: int


@dataclass(frozen=True)
class _Pending:
    payload: Any
    future: asyncio.Future[Any]
    enqueued: float
    deadline: float


@dataclass
class _Worker:
    """A worker task and what it holds, so scaling down never drops a held batch."""

    task: asyncio.Task[None] | None = None
    held: list[_Pending] = field(default_factory=list)
    retire: bool = False


class BatchQueue:
    MAX_WORKERS = 16

    def __init__(self, runner: Runner, config: BatchConfig, metrics: ModelMetrics, name: str) -> None:
        self._runner = runner
        self.config = config
        self._metrics = metrics
        self._queue: collections.deque[_Pending] = collections.deque()
        self._arrived = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            self.MAX_WORKERS, thread_name_prefix=f"infer-{name}"
        )
        self._workers: list[_Worker] = []
        self._closed = False
        self.computed = 0  # instances handed to the handler, for tests and introspection
        self.dropped = 0  # instances skipped because the client left or the deadline passed
        self.set_workers(config.workers)

    @property
    def depth(self) -> int:
        """Instances waiting (not yet taken by a worker)."""
        return len(self._queue)

    @property
    def workers(self) -> int:
        return len(self._workers)

    def set_workers(self, count: int) -> None:
        if not 1 <= count <= self.MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {self.MAX_WORKERS}, got {count}")
        loop = asyncio.get_running_loop()
        while len(self._workers) < count:
            worker = _Worker()
            worker.task = loop.create_task(self._work(worker))
            self._workers.append(worker)
        while len(self._workers) > count:
            worker = self._workers.pop()
            if worker.held:
                worker.retire = True  # finishes its batch, then exits
            elif worker.task is not None:
                worker.task.cancel()

    def submit(self, payloads: Sequence[Any], deadline: float) -> list[asyncio.Future[Any]]:
        """Enqueue all instances of one request, or none of them if the queue lacks room."""
        if self._closed:
            raise NotReady("model is being unloaded")
        if len(self._queue) + len(payloads) > self.config.queue_size:
            raise QueueFull(
                f"queue full: {len(self._queue)} of {self.config.queue_size} places taken, "
                f"request needs {len(payloads)}; retry later"
            )
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        futures = []
        for payload in payloads:
            future: asyncio.Future[Any] = loop.create_future()
            self._queue.append(_Pending(payload, future, now, deadline))
            futures.append(future)
        self._arrived.set()
        return futures

    async def close(self) -> None:
        self._closed = True
        workers, self._workers = self._workers, []
        tasks = [w.task for w in workers if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        unloaded = NotReady("model was unloaded before this request ran")
        for worker in workers:
            _fail(worker.held, unloaded)
        _fail(list(self._queue), unloaded)
        self._queue.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _next(self) -> _Pending:
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        return self._queue.popleft()

    async def _collect(self, batch: list[_Pending]) -> None:
        batch.append(await self._next())
        close_at = batch[0].enqueued + self.config.max_batch_delay_s
        while len(batch) < self.config.batch_size:
            if self._queue:
                batch.append(self._queue.popleft())
                continue
            remaining = close_at - time.perf_counter()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break

    def _live(self, batch: list[_Pending]) -> list[_Pending]:
        now = time.perf_counter()
        live = []
        for pending in batch:
            if pending.future.done():  # cancelled: the client disconnected
                self.dropped += 1
            elif pending.deadline <= now:
                self.dropped += 1
                pending.future.set_exception(DeadlineExceeded("deadline passed while the request was queued"))
            else:
                live.append(pending)
        return live

    async def _work(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        while not worker.retire:
            worker.held = []
            await self._collect(worker.held)
            batch = worker.held = self._live(worker.held)
            if not batch:
                continue
            start = time.perf_counter()
            for pending in batch:
                self._metrics.queue_wait.observe(start - pending.enqueued)
            self._metrics.batch_size.observe(len(batch))
            self.computed += len(batch)
            try:
                results = await loop.run_in_executor(self._executor, self._runner, [p.payload for p in batch])
                if len(results) != len(batch):
                    raise InferenceFailed(
                        f"handler returned {len(results)} results for {len(batch)} instances"
                    )
            except asyncio.CancelledError:
                raise  # close() fails the held batch
            except Exception as exc:
                error = (
                    exc
                    if isinstance(exc, InferenceFailed)
                    else InferenceFailed(f"inference failed: {type(exc).__name__}: {exc}")
                )
                _fail(batch, error)
                continue
            finally:
                self._metrics.inference_duration.observe(time.perf_counter() - start)
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)
        worker.held = []


def _fail(batch: list[_Pending], error: Exception) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)

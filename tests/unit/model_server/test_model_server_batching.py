"""The dynamic batching queue with a recording runner: batch formation, bounded queue,
cancelled and expired instances never computed, scaling, unloading."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from model_server.batching import BatchConfig, BatchQueue
from model_server.errors import DeadlineExceeded, InferenceFailed, NotReady, QueueFull
from model_server.metrics import ServerMetrics


class Recorder:
    """Runs on the executor thread; can be held shut to keep a batch in flight."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    def __call__(self, payloads: Sequence[Any]) -> list[Any]:
        self.gate.wait(5)
        self.batches.append(list(payloads))
        if self.fail:
            raise ValueError("boom")
        return [p * 10 for p in payloads]


def _queue(recorder: Recorder, **overrides: Any) -> BatchQueue:
    config = {"batch_size": 4, "max_batch_delay_s": 0.05, "queue_size": 8, "workers": 1, **overrides}
    return BatchQueue(recorder, BatchConfig(**config), ServerMetrics("primary").bind("m", "1"), "m")


def _far() -> float:
    return time.perf_counter() + 30


@pytest.mark.parametrize(
    ("batch_size", "submitted", "expected"),
    [
        pytest.param(4, 4, [4], id="full-batch"),
        pytest.param(4, 6, [4, 2], id="full-then-partial"),
        pytest.param(1, 3, [1, 1, 1], id="batching-off"),
        pytest.param(8, 3, [3], id="partial-after-delay"),
    ],
)
async def test_batches_form_up_to_size_or_delay(batch_size: int, submitted: int, expected: list[int]) -> None:
    recorder = Recorder()
    queue = _queue(recorder, batch_size=batch_size)
    futures = queue.submit(list(range(submitted)), _far())
    assert await asyncio.gather(*futures) == [i * 10 for i in range(submitted)]
    assert [len(b) for b in recorder.batches] == expected
    await queue.close()


async def test_delay_counts_from_the_oldest_instance() -> None:
    recorder = Recorder()
    queue = _queue(recorder, batch_size=64, max_batch_delay_s=0.2)
    started = time.perf_counter()
    (future,) = queue.submit([1], _far())
    await future
    assert 0.19 <= time.perf_counter() - started < 1.0
    await queue.close()


async def test_full_queue_refuses_whole_request() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = _queue(recorder, batch_size=1, queue_size=3)
    first = queue.submit([0], _far())
    await asyncio.sleep(0.05)  # the worker takes it and blocks in the runner
    held = queue.submit([1, 2, 3], _far())
    with pytest.raises(QueueFull, match="queue full: 3 of 3") as info:
        queue.submit([4], _far())
    assert info.value.status == 503
    assert info.value.headers == {"retry-after": "1"}
    recorder.gate.set()
    await asyncio.gather(*first, *held)
    assert queue.depth == 0
    await queue.close()


async def test_cancelled_and_expired_instances_are_not_computed() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = _queue(recorder, batch_size=4)
    busy = queue.submit([0], _far())
    await asyncio.sleep(0.1)  # batch [0] is now running and blocked
    gone = queue.submit([1], _far())
    expired = queue.submit([2], time.perf_counter() + 0.01)
    alive = queue.submit([3], _far())
    gone[0].cancel()  # what the HTTP layer does when the client disconnects
    await asyncio.sleep(0.05)
    recorder.gate.set()
    await asyncio.gather(*busy, *alive)
    with pytest.raises(DeadlineExceeded):
        await expired[0]
    assert recorder.batches == [[0], [3]]
    assert queue.dropped == 2
    assert queue.computed == 2
    await queue.close()


async def test_runner_failure_fails_its_batch_only() -> None:
    recorder = Recorder()
    queue = _queue(recorder)
    recorder.fail = True
    with pytest.raises(InferenceFailed, match="inference failed: ValueError: boom"):
        await asyncio.gather(*queue.submit([1, 2], _far()))
    recorder.fail = False
    assert await asyncio.gather(*queue.submit([3], _far())) == [30]
    await queue.close()


async def test_scaling_workers_runs_batches_concurrently() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = _queue(recorder, batch_size=1)
    queue.set_workers(3)
    futures = queue.submit([1, 2, 3], _far())
    await asyncio.sleep(0.1)
    assert queue.depth == 0  # three workers each hold one instance
    recorder.gate.set()
    await asyncio.gather(*futures)
    queue.set_workers(1)
    assert queue.workers == 1
    assert await asyncio.gather(*queue.submit([4], _far())) == [40]
    with pytest.raises(ValueError, match="between 1 and 16"):
        queue.set_workers(0)
    await queue.close()


async def test_close_fails_waiting_instances() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = _queue(recorder, batch_size=1)
    queue.submit([0], _far())
    await asyncio.sleep(0.05)
    waiting = queue.submit([1], _far())
    await queue.close()
    recorder.gate.set()
    with pytest.raises(NotReady, match="unloaded"):
        await waiting[0]
    with pytest.raises(NotReady):
        queue.submit([2], _far())

"""POST /feedback bodies: statuses, per-item results, every rejection counted once by reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router import feedback
from router.attribution import AttributionBook, Settings
from router.metrics import MetricsSink, RouterMetrics


@pytest.fixture
def setup() -> tuple[AttributionBook, RouterMetrics]:
    m = RouterMetrics()
    b = AttributionBook(Settings(window_s=10, ttl_s=100), MetricsSink(m))
    b.impression("r1", "retriever", "primary", 0)
    b.impression("r2", "retriever", "canary", 0)
    return b, m


def rejected(m: RouterMetrics, reason: str) -> float:
    return m.registry.get_sample_value("shadowgate_router_feedback_rejected_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        pytest.param({"request_id": "r1", "event": "click"}, 200, None, id="accepted"),
        pytest.param(b"{nope", 400, "malformed", id="not-json"),
        pytest.param({"request_id": "r1"}, 400, "malformed", id="missing-event"),
        pytest.param({"request_id": 5, "event": "click"}, 400, "malformed", id="id-not-string"),
        pytest.param({"request_id": "x" * 129, "event": "click"}, 400, "malformed", id="id-too-long"),
        pytest.param(
            {"request_id": "r1", "event": "click", "extra": 1}, 400, "malformed", id="unknown-field"
        ),
        pytest.param("just a string", 400, "malformed", id="not-an-object"),
        pytest.param([], 400, "malformed", id="empty-batch"),
        pytest.param([{"request_id": "r1", "event": "click"}] * 1001, 400, "malformed", id="batch-too-big"),
        pytest.param({"request_id": "r1", "event": "teleport"}, 400, "unknown_event", id="unknown-event"),
        pytest.param({"request_id": "zz", "event": "click"}, 404, "unknown_request_id", id="unknown-id"),
    ],
)
def test_single(
    setup: tuple[AttributionBook, RouterMetrics], body: Any, status: int, reason: str | None
) -> None:
    b, m = setup
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    got, payload = feedback.handle(b, m, raw, 1.0)
    assert got == status
    if reason is None:
        assert payload["result"] == "accepted"
    else:
        assert payload.get("error")
        assert rejected(m, reason) == 1


def test_duplicate_and_expired(setup: tuple[AttributionBook, RouterMetrics]) -> None:
    b, m = setup
    one = orjson.dumps({"request_id": "r1", "event": "click"})
    assert feedback.handle(b, m, one, 1.0)[0] == 200
    assert feedback.handle(b, m, one, 2.0)[0] == 409
    late = orjson.dumps({"request_id": "r2", "event": "click"})
    assert feedback.handle(b, m, late, 11.0)[0] == 410
    assert (rejected(m, "duplicate"), rejected(m, "expired")) == (1, 1)
    clicks = m.registry.get_sample_value(
        "shadowgate_router_clicks_total", {"route": "retriever", "variant": "primary"}
    )
    assert clicks == 1


def test_batch_partial_then_retry_counts_nothing_twice(setup: tuple[AttributionBook, RouterMetrics]) -> None:
    b, m = setup
    batch = orjson.dumps(
        [
            {"request_id": "r1", "event": "click"},
            {"request_id": "r2", "event": "purchase"},
            {"request_id": "nope", "event": "click"},
            7,
        ]
    )
    status, payload = feedback.handle(b, m, batch, 1.0)
    assert status == 422
    assert (payload["accepted"], payload["rejected"]) == (2, 2)
    assert [r["status"] for r in payload["results"]] == [200, 200, 404, 400]
    status, payload = feedback.handle(b, m, batch, 2.0)
    assert [r["status"] for r in payload["results"]] == [409, 409, 404, 400]
    ev = m.registry.get_sample_value(
        "shadowgate_router_feedback_events_total",
        {"route": "retriever", "variant": "canary", "event": "purchase"},
    )
    assert ev == 1
    assert rejected(m, "duplicate") == 2 and rejected(m, "unknown_request_id") == 2


def test_batch_all_accepted(setup: tuple[AttributionBook, RouterMetrics]) -> None:
    b, m = setup
    batch = orjson.dumps([{"request_id": "r1", "event": "click"}, {"request_id": "r2", "event": "click"}])
    assert feedback.handle(b, m, batch, 1.0)[0] == 200

"""``POST /feedback``: parse ``{request_id, event}`` (single or a JSON list) and apply it.

Each item gets exactly one outcome and every rejection is counted once, by reason. A batch is
answered 200 only when every item was accepted, else 422 with per-item results (accepted items
stay counted; a retried batch gets 409 for them).
"""

from __future__ import annotations

from typing import Any

import orjson

from router.attribution import AttributionBook, Outcome
from router.metrics import RouterMetrics

MAX_BATCH = 1000
MAX_ID = 128


def _item(book: AttributionBook, item: Any, now: float) -> tuple[Outcome, dict[str, Any]]:
    if not isinstance(item, dict):
        return Outcome.MALFORMED, {"error": "each feedback item must be an object {request_id, event}"}
    extra = set(item) - {"request_id", "event"}
    rid, event = item.get("request_id"), item.get("event")
    if extra:
        return Outcome.MALFORMED, {"error": f"unknown fields {sorted(extra)}"}
    if not isinstance(rid, str) or not 1 <= len(rid) <= MAX_ID:
        return Outcome.MALFORMED, {"error": f"request_id must be a string of 1-{MAX_ID} characters"}
    if not isinstance(event, str) or not event:
        return Outcome.MALFORMED, {"request_id": rid, "error": "event must be a non-empty string"}
    outcome = book.feedback(rid, event, now)
    base: dict[str, Any] = {"request_id": rid, "event": event}
    if outcome is Outcome.ACCEPTED:
        return outcome, {**base, "result": "accepted"}
    messages = {
        Outcome.UNKNOWN_EVENT: f"unknown event {event[:64]!r}; known: {sorted(book.settings.events)}",
        Outcome.UNKNOWN_ID: "unknown request_id (never served by this router)",
        Outcome.DUPLICATE: f"duplicate: {event[:64]!r} already recorded for this request_id",
        Outcome.EXPIRED: "expired: the attribution window or the impression TTL has passed",
    }
    return outcome, {**base, "error": messages[outcome]}


def handle(book: AttributionBook, metrics: RouterMetrics, body: bytes, now: float) -> tuple[int, Any]:
    """Return (HTTP status, JSON payload)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        metrics.rejected.labels(Outcome.MALFORMED.reason).inc()
        return 400, {"error": f"body is not JSON: {exc}"}
    if isinstance(data, list):
        if not data or len(data) > MAX_BATCH:
            metrics.rejected.labels(Outcome.MALFORMED.reason).inc()
            return 400, {"error": f"a batch holds 1-{MAX_BATCH} items, got {len(data)}"}
        results = []
        accepted = 0
        for item in data:
            outcome, payload = _item(book, item, now)
            payload["status"] = outcome.status
            if outcome is Outcome.ACCEPTED:
                accepted += 1
            else:
                metrics.rejected.labels(outcome.reason).inc()
            results.append(payload)
        status = 200 if accepted == len(data) else 422
        return status, {"accepted": accepted, "rejected": len(data) - accepted, "results": results}
    outcome, payload = _item(book, data, now)
    if outcome is not Outcome.ACCEPTED:
        metrics.rejected.labels(outcome.reason).inc()
    return outcome.status, payload

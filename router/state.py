"""Attribution state that outlives the process: counter totals and pending impressions.

Prometheus counters reset when a process restarts, and ``increase()`` cannot recover increments made
after the last scrape. So with ``--state-file`` the router saves its attribution counters (every
``--state-interval`` and at shutdown) and its pending impressions (at shutdown), and a new process
starts its counters from the saved totals: Prometheus sees one monotone series and no acknowledged
click, event or decided impression is lost across a graceful restart. A crash loses at most the
increments of the last interval, and the impressions that were pending.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Any

import orjson

from router.attribution import AttributionBook, Pending
from router.metrics import RouterMetrics

log = logging.getLogger(__name__)
FORMAT = 1


def _persisted(m: RouterMetrics) -> dict[str, Any]:
    return {
        "impressions": m.impressions,
        "clicks": m.clicks,
        "noclicks": m.noclicks,
        "feedback_events": m.events,
        "impressions_evicted": m.evicted,
        "feedback_rejected": m.rejected,
    }


def snapshot(metrics: RouterMetrics, pending: list[Pending] | None) -> bytes:
    counters: dict[str, list[tuple[dict[str, str], float]]] = {}
    for key, counter in _persisted(metrics).items():
        rows = []
        for family in counter.collect():
            for s in family.samples:
                if s.name.endswith("_total") and s.value:
                    rows.append((dict(s.labels), s.value))
        counters[key] = rows
    doc: dict[str, Any] = {"format": FORMAT, "counters": counters}
    if pending is not None:
        doc["pending"] = [
            [
                p.request_id,
                p.route,
                p.variant,
                p.window_deadline,
                p.ttl_deadline,
                p.decided,
                sorted(p.events or ()),
            ]
            for p in pending
        ]
    return orjson.dumps(doc)


def save(path: pathlib.Path, data: bytes) -> None:
    """Write atomically: a reader (the next process) sees the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: pathlib.Path, metrics: RouterMetrics, book: AttributionBook) -> int:
    """Restore counters and pending impressions; return how many impressions were restored.

    An unreadable file is an error (the operator would rather see the router refuse to start than
    silently restart every counter from zero); a missing file is a first start.
    """
    if not path.exists():
        return 0
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"state file {path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(
            f"state file {path}: unknown format {doc.get('format') if isinstance(doc, dict) else doc!r}"
        )
    targets = _persisted(metrics)
    for key, rows in doc.get("counters", {}).items():
        counter = targets.get(key)
        if counter is None:
            log.warning("state file: ignoring unknown counter %s", key)
            continue
        for labels, value in rows:
            counter.labels(**labels).inc(value)
    restored = 0
    for rid, route, variant, wd, td, decided, events in doc.get("pending", []):
        book.restore(
            Pending(rid, route, variant, float(wd), float(td), bool(decided), events=set(events) or None)
        )
        restored += 1
    # Consumed: a crash before the next save must not replay these pending impressions twice.
    save(path, snapshot(metrics, None))
    return restored

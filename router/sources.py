"""Table sources behind one Protocol, and the parsing step they share.

A source only delivers raw ``route.json`` documents keyed by where they came from; the
:class:`TableAssembler` parses them (keeping the last good version of a document that turns
invalid), merges them into one table and hands it to the router on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Callable, Mapping
from typing import Protocol

import orjson

from router.metrics import RouterMetrics
from router.table import Route, RouteTable, TableError, merge, parse_route

log = logging.getLogger(__name__)


class TableSource(Protocol):
    async def run(self, assembler: TableAssembler) -> None:
        """Deliver documents until cancelled; report reachability on the assembler."""


class TableAssembler:
    def __init__(self, metrics: RouterMetrics, apply: Callable[[RouteTable], None]) -> None:
        self._metrics = metrics
        self._apply = apply
        # source id -> (raw document, parsed route or None); the last good route per source id.
        self._raw: dict[str, bytes] = {}
        self._good: dict[str, Route] = {}
        self.synced = asyncio.Event()

    def source_up(self, up: bool) -> None:
        self._metrics.source_up.set(1 if up else 0)

    def update(self, docs: Mapping[str, tuple[bytes, str]]) -> None:
        """Install the full current set of documents: source id -> (route.json, default namespace)."""
        good: dict[str, Route] = {}
        for sid, (raw, namespace) in docs.items():
            prev = self._good.get(sid)
            if self._raw.get(sid) == raw and prev is not None:
                good[sid] = prev
                continue
            try:
                good[sid] = parse_route(raw, namespace)
            except TableError as exc:
                if self._raw.get(sid) != raw:
                    log.error("route table %s rejected: %s", sid, exc)
                    self._metrics.table_errors.labels("invalid").inc()
                if prev is not None:
                    good[sid] = prev  # keep serving the last good version of this document
        self._raw = {sid: raw for sid, (raw, _) in docs.items()}
        self._good = good
        table, conflicts = merge(good.items())
        for message in conflicts:
            log.error("%s; the higher version wins", message)
            self._metrics.table_errors.labels("conflict").inc()
        self._apply(table)
        self.synced.set()


class FileSource:
    """A JSON list of route objects in a file, reread when it changes (dev and benchmarks)."""

    def __init__(self, path: pathlib.Path, poll_s: float = 0.5) -> None:
        self._path = path
        self._poll_s = poll_s

    async def run(self, assembler: TableAssembler) -> None:
        last: bytes | None = None
        while True:
            try:
                data = self._path.read_bytes()
            except OSError as exc:
                log.warning("table file %s unreadable: %s", self._path, exc)
                assembler.source_up(False)
            else:
                assembler.source_up(True)
                if data != last:
                    last = data
                    self._deliver(assembler, data)
            await asyncio.sleep(self._poll_s)

    def _deliver(self, assembler: TableAssembler, data: bytes) -> None:
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            log.error("table file %s is not JSON: %s", self._path, exc)
            assembler.source_up(False)
            return
        if not isinstance(items, list):
            log.error("table file %s must hold a JSON list of routes", self._path)
            assembler.source_up(False)
            return
        assembler.update({f"{self._path}#{i}": (orjson.dumps(item), "") for i, item in enumerate(items)})

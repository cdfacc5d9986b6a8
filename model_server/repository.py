"""The model repository: name -> versions -> loaded model, with a default version per name.

An entry is LOADING until its handler is fully initialized and its queue started, then
READY; any load failure makes it FAILED with the reason. Only READY entries serve. Loading
runs on a thread so the servers keep answering (and report "not ready") meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import pathlib
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from model_server import loading
from model_server.archive import opening
from model_server.archive.manifest import BatchSettings
from model_server.batching import BatchConfig, BatchQueue
from model_server.errors import ArchiveError, BadInput, Conflict, NotFound, NotReady
from model_server.handlers import base
from model_server.metrics import ModelMetrics, ServerMetrics

log = logging.getLogger(__name__)


class Status(enum.StrEnum):
    LOADING = "LOADING"
    READY = "READY"
    FAILED = "FAILED"


@dataclass
class Entry:
    name: str
    version: str
    url: str
    status: Status
    batch: BatchSettings = field(default_factory=BatchSettings)
    handler_name: str = ""
    error: str | None = None
    handler: base.BaseHandler | None = None
    queue: BatchQueue | None = None
    metrics: ModelMetrics | None = None
    scratch: pathlib.Path | None = None
    load_seconds: float | None = None

    def describe(self, default: bool) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "url": self.url,
            "status": self.status.value,
            "default": default,
            "handler": self.handler_name,
            "batch": {
                "batch_size": self.batch.batch_size,
                "max_batch_delay_ms": self.batch.max_batch_delay_ms,
                "queue_size": self.batch.queue_size,
            },
            "workers": self.queue.workers if self.queue is not None else self.batch.workers,
            "queue_depth": self.queue.depth if self.queue is not None else 0,
            "load_seconds": self.load_seconds,
            "error": self.error,
        }

    def serving(self) -> tuple[base.BaseHandler, BatchQueue, ModelMetrics]:
        """The parts that serve, or NotReady (503) naming why this entry cannot."""
        if self.status is Status.READY and self.handler and self.queue is not None and self.metrics:
            return self.handler, self.queue, self.metrics
        reason = f": {self.error}" if self.error else ""
        raise NotReady(
            f"model {self.name} version {self.version} is not ready ({self.status.value}{reason})",
            headers={"retry-after": "1"},
        )


@dataclass(frozen=True)
class RegisterOptions:
    model_name: str | None = None
    batch_size: int | None = None
    max_batch_delay_ms: float | None = None
    workers: int | None = None
    # Instead of the manifest's handler (``serve --handler``, which the operator passes for a
    # Candidate's model.handler): a built-in name or pkg.mod:Class, resolved like the manifest's.
    handler: str | None = None


class ModelRepository:
    def __init__(self, store: pathlib.Path, metrics: ServerMetrics, limits: base.Limits) -> None:
        self._store = store
        self._metrics = metrics
        self._limits = limits
        self._models: dict[str, dict[str, Entry]] = {}
        self._defaults: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Start-up loads not yet listed: until they are, the server is not ready (otherwise
        # /ping would say "ready" for the instant before the first archive is opened).
        self._pending_startup = 0

    # Queries

    def names(self) -> list[str]:
        return sorted(self._models)

    def versions(self, name: str) -> list[Entry]:
        if name not in self._models:
            raise NotFound(f"unknown model {name!r}")
        return list(self._models[name].values())

    def default_version(self, name: str) -> str | None:
        return self._defaults.get(name)

    def resolve(self, name: str, version: str | None = None) -> Entry:
        versions = self._models.get(name)
        if not versions:
            raise NotFound(f"unknown model {name!r}")
        if version is None:
            version = self._defaults.get(name)
            if version is None:
                raise NotFound(f"model {name!r} has no default version")
        entry = versions.get(version)
        if entry is None:
            raise NotFound(f"unknown version {version!r} of model {name!r} (have {sorted(versions)})")
        return entry

    def describe(self, entry: Entry) -> dict[str, Any]:
        return entry.describe(self._defaults.get(entry.name) == entry.version)

    def all_ready(self) -> bool:
        return self._pending_startup == 0 and all(
            e.status is Status.READY for v in self._models.values() for e in v.values()
        )

    # Changes

    def load_at_startup(self, urls: list[str], handler: str | None = None) -> list[asyncio.Task[Entry]]:
        """Register start-up archives in the background; not ready until all are listed."""
        self._pending_startup += len(urls)
        tasks = []
        for url in urls:
            options = RegisterOptions(handler=handler)
            task = asyncio.get_running_loop().create_task(self.register(url, options))
            task.add_done_callback(self._startup_done)
            tasks.append(task)
        return tasks

    def _startup_done(self, task: asyncio.Task[Entry]) -> None:
        self._pending_startup -= 1
        if not task.cancelled() and task.exception() is not None:
            log.error("start-up load failed: %s", task.exception())

    async def register(self, url: str, options: RegisterOptions, *, synchronous: bool = True) -> Entry:
        """Open the archive now; initialize the handler now or in the background.

        A broken archive still makes an entry (FAILED, with the reason) so the management API
        and the operator can see why; re-registering the same name and version replaces it.
        """
        started = time.perf_counter()
        try:
            opened = await asyncio.to_thread(loading.open_verified, url, self._store)
        except ArchiveError as exc:
            name = options.model_name or opening.name_hint(url)
            entry = Entry(name=name, version="unknown", url=url, status=Status.FAILED, error=str(exc))
            self._insert(entry)
            log.error("model %s from %s failed to load: %s", name, url, exc)
            return entry
        if options.handler:
            opened = dataclasses.replace(
                opened, manifest=opened.manifest.model_copy(update={"handler": options.handler})
            )
        manifest = opened.manifest
        try:
            batch = BatchSettings(
                batch_size=options.batch_size or manifest.batch.batch_size,
                max_batch_delay_ms=(
                    manifest.batch.max_batch_delay_ms
                    if options.max_batch_delay_ms is None
                    else options.max_batch_delay_ms
                ),
                queue_size=manifest.batch.queue_size,
                workers=options.workers or manifest.batch.workers,
            )
        except ValueError as exc:
            _remove_scratch(opened.scratch)
            raise BadInput(f"bad batch settings: {exc}") from exc
        entry = Entry(
            name=manifest.name,
            version=manifest.version,
            url=url,
            status=Status.LOADING,
            batch=batch,
            handler_name=manifest.handler,
            scratch=opened.scratch,
        )
        try:
            self._insert(entry)
        except Conflict:
            _remove_scratch(opened.scratch)
            raise
        job = self._initialize(entry, opened, started)
        if synchronous:
            await job
        else:
            task = asyncio.get_running_loop().create_task(job)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return entry

    async def _initialize(self, entry: Entry, opened: opening.OpenedArchive, started: float) -> None:
        try:
            handler = await asyncio.to_thread(loading.initialize_handler, opened, self._limits)
        except ArchiveError as exc:
            entry.status, entry.error = Status.FAILED, str(exc)
            log.error("model %s version %s failed to load: %s", entry.name, entry.version, exc)
            return
        if self._models.get(entry.name, {}).get(entry.version) is not entry:
            return  # unregistered while loading
        metrics = self._metrics.bind(entry.name, entry.version)
        config = BatchConfig(
            batch_size=entry.batch.batch_size,
            max_batch_delay_s=entry.batch.max_batch_delay_ms / 1000.0,
            queue_size=entry.batch.queue_size,
            workers=entry.batch.workers,
        )
        # Everything is in place before READY: a half-loaded model never serves.
        entry.handler, entry.metrics = handler, metrics
        entry.queue = BatchQueue(handler.handle, config, metrics, f"{entry.name}-{entry.version}")
        entry.load_seconds = time.perf_counter() - started
        entry.status = Status.READY
        log.info("model %s version %s ready in %.2f s", entry.name, entry.version, entry.load_seconds)

    def _insert(self, entry: Entry) -> None:
        versions = self._models.setdefault(entry.name, {})
        existing = versions.get(entry.version)
        if existing is not None and existing.status is not Status.FAILED:
            raise Conflict(
                f"model {entry.name} version {entry.version} is already registered ({existing.status.value})"
            )
        versions[entry.version] = entry
        # TorchServe's rule: the first version registered is the default until set otherwise.
        self._defaults.setdefault(entry.name, entry.version)

    async def unregister(self, name: str, version: str | None) -> list[Entry]:
        removed = self.versions(name) if version is None else [self.resolve(name, version)]
        for entry in removed:
            del self._models[name][entry.version]
            if entry.queue is not None:
                await entry.queue.close()
            self._metrics.unbind(entry.name, entry.version, entry.metrics.codes() if entry.metrics else [])
            _remove_scratch(entry.scratch)
        if not self._models[name]:
            del self._models[name]
            self._defaults.pop(name, None)
        elif self._defaults.get(name) not in self._models[name]:
            ready = [v for v, e in self._models[name].items() if e.status is Status.READY]
            self._defaults[name] = (ready or list(self._models[name]))[-1]
        return removed

    def set_default(self, name: str, version: str) -> Entry:
        entry = self.resolve(name, version)
        self._defaults[name] = version
        return entry

    def scale(self, name: str, version: str | None, workers: int) -> list[Entry]:
        entries = self.versions(name) if version is None else [self.resolve(name, version)]
        for entry in entries:
            if entry.queue is None:
                raise NotReady(f"model {entry.name} version {entry.version} is not ready; cannot scale it")
        for entry in entries:
            assert entry.queue is not None
            entry.queue.set_workers(workers)
        return entries

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for name in list(self._models):
            await self.unregister(name, None)


def _remove_scratch(path: pathlib.Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)

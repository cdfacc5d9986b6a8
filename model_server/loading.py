"""Load a model from an archive: open and verify it, then initialize its handler.

A load either returns a fully initialized handler or raises ArchiveError with the reason;
there is no partly loaded state for the server to serve by mistake.
"""

from __future__ import annotations

import pathlib

from model_server.archive import opening
from model_server.errors import ArchiveError
from model_server.handlers import base, resolving


def default_limits() -> base.Limits:
    return base.Limits()


def open_verified(uri: str, store: pathlib.Path) -> opening.OpenedArchive:
    store.mkdir(parents=True, exist_ok=True)
    return opening.open_archive(uri, store)


def initialize_handler(opened: opening.OpenedArchive, limits: base.Limits) -> base.BaseHandler:
    cls = resolving.resolve_handler(opened.manifest.handler)
    handler = cls()
    try:
        handler.initialize(base.Context(manifest=opened.manifest, model_dir=opened.root, limits=limits))
    except ArchiveError:
        raise
    except Exception as exc:
        # A custom handler's own bug still leaves the model not ready, with the reason.
        raise ArchiveError(
            f"handler {opened.manifest.handler!r} failed to initialize: {type(exc).__name__}: {exc}"
        ) from exc
    warm_up(handler, opened.manifest.handler)
    return handler


def warm_up(handler: base.BaseHandler, name: str) -> None:
    """Run the handler's warm-up instances once. A just-loaded candidate would otherwise pay
    its first-inference costs inside the latency windows that compare it with a warm
    production server; and a model whose weights load but cannot infer stays not ready."""
    instances = handler.warmup_instances()
    if not instances:
        return
    try:
        results = handler.handle([handler.parse(i) for i in instances])
    except Exception as exc:
        raise ArchiveError(
            f"handler {name!r} failed its warm-up inference: {type(exc).__name__}: {exc}"
        ) from exc
    if len(results) != len(instances):
        raise ArchiveError(
            f"handler {name!r} returned {len(results)} results for {len(instances)} warm-up instances"
        )

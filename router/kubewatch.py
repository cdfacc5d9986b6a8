"""One resource kind listed, then watched, in a daemon thread that posts copies of its cache.

The kubernetes client is synchronous, so each list+watch runs in its own thread; the callback
gets a *copy* of the whole cache after every change (or ``None`` when a list or watch failed), so
the receiver can hand it to the event loop with ``call_soon_threadsafe`` and merge there without
locks. A failure retries with backoff; a watch that ends (timeout, 410 Gone) relists.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch as k8s_watch

log = logging.getLogger(__name__)

Post = Callable[[dict[str, Any] | None], None]


def key(obj: Any) -> str:
    return f"{obj.metadata.namespace}/{obj.metadata.name}"


class Watcher(threading.Thread):
    """List, then watch, one resource kind; post a copy of the cache after every change."""

    def __init__(
        self,
        name: str,
        list_fn: Callable[..., Any],
        convert: Callable[[Any], Any],
        post: Post,
        stop: threading.Event,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._list_fn = list_fn
        self._convert = convert
        self._post = post
        self._stop_event = stop
        self._kwargs = kwargs

    def run(self) -> None:
        backoff = 0.2
        while not self._stop_event.is_set():
            try:
                self._list_and_watch()
                backoff = 0.2
            except Exception as exc:
                if self._stop_event.is_set():
                    return
                log.warning("%s: %s; retrying in %.1fs", self.name, exc, backoff)
                self._post(None)
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _list_and_watch(self) -> None:
        listed = self._list_fn(_request_timeout=5, **self._kwargs)
        cache = {key(o): self._convert(o) for o in listed.items}
        self._post(dict(cache))
        w = k8s_watch.Watch()
        stream = w.stream(
            self._list_fn,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=10,
            _request_timeout=20,
            **self._kwargs,
        )
        for ev in stream:
            if self._stop_event.is_set():
                w.stop()
                return
            kind, obj = ev["type"], ev["object"]
            if kind == "ERROR":  # typically 410 Gone: relist
                return
            if kind == "DELETED":
                cache.pop(key(obj), None)
            else:
                cache[key(obj)] = self._convert(obj)
            self._post(dict(cache))

"""The metrics port: ``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from model_server.errors import MethodNotAllowed, NotFound
from model_server.http import asgi
from model_server.metrics import ServerMetrics


class MetricsApp:
    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics":
            await asgi.send_error(send, NotFound(f"no route for {scope['path']}; metrics are on /metrics"))
        elif scope["method"] != "GET":
            await asgi.send_error(send, MethodNotAllowed("use GET /metrics"))
        else:
            body = generate_latest(self._metrics.registry)
            await asgi.send_bytes(send, 200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

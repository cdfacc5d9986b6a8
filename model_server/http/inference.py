"""The inference port: TorchServe (``/ping``, ``/predictions``), KServe v1
(``/v1/models/{name}[:predict]``) and Open Inference Protocol v2 (``/v2/...``).

Every model request goes the same way: resolve the entry (404), require it READY (503),
parse each instance on the event loop (400), enqueue all of them or none (503 when the
queue is full), then wait for the results, the deadline (504) or the client leaving
(nothing computed, nothing sent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from model_server import repository
from model_server.errors import ApiError, BadInput, DeadlineExceeded, MethodNotAllowed, NotFound
from model_server.handlers import base, resolving
from model_server.http import asgi, oip
from model_server.metrics import UNKNOWN_MODEL, ModelMetrics, ServerMetrics
from model_server.settings import Settings

log = logging.getLogger(__name__)
SERVER_NAME = "shadowgate-model-server"
SERVER_VERSION = "0.1.0"
_TIMEOUT_HEADER = b"x-request-timeout-ms"


@dataclass
class _Trace:
    """Which model a request was for, so the wrapper can record its metrics."""

    model_request: bool = False
    metrics: ModelMetrics | None = None


class InferenceApp:
    def __init__(self, repo: repository.ModelRepository, metrics: ServerMetrics, settings: Settings) -> None:
        self._repo = repo
        self._settings = settings
        self._unknown = metrics.bind(UNKNOWN_MODEL, "")
        self._limits = base.Limits(settings.max_text_chars, settings.max_batch_instances)

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        trace = _Trace()
        request = asgi.Request(scope, receive, self._settings.max_body_bytes)
        try:
            status, body = await self._route(request, trace)
            await asgi.send_json(send, status, body)
        except asgi.ClientGone:
            status = 499  # nginx's "client closed request": recorded, never sent
        except ApiError as exc:
            status = exc.status
            await asgi.send_error(send, exc)
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            status = 500
            await asgi.send_json(send, 500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
        if trace.model_request:
            child = trace.metrics or self._unknown
            child.count(status)
            child.request_duration.observe(time.perf_counter() - started)

    async def _route(self, request: asgi.Request, trace: _Trace) -> tuple[int, Any]:
        parts, method = request.parts, request.method
        match parts:
            case ["ping"]:
                _allow(method, "GET")
                ready = self._repo.all_ready()
                return (200 if ready else 503), {"status": "Healthy" if ready else "Unhealthy"}
            case ["predictions", name, *rest] if len(rest) <= 1:
                _allow(method, "POST")
                trace.model_request = True
                return 200, await self._predict(request, trace, name, rest[0] if rest else None)
            case ["v1", "models", target]:
                name, sep, verb = target.partition(":")
                if sep and verb == "predict":
                    _allow(method, "POST")
                    trace.model_request = True
                    return 200, await self._predict_v1(request, trace, name)
                if not sep:
                    _allow(method, "GET")
                    entry = self._repo.resolve(name)
                    return 200, {"name": name, "ready": entry.status is repository.Status.READY}
            case ["v2"]:
                _allow(method, "GET")
                return 200, {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []}
            case ["v2", "health", "live"]:
                _allow(method, "GET")
                return 200, {"live": True}
            case ["v2", "health", "ready"]:
                _allow(method, "GET")
                ready = self._repo.all_ready()
                # The spec: 200 means ready, a 4xx means not ready.
                return (200 if ready else 400), {"ready": ready}
            case ["v2", "models", name, *rest]:
                return await self._v2_model(request, trace, name, rest)
        raise NotFound(f"no route for {method} {request.scope['path']}")

    async def _v2_model(
        self, request: asgi.Request, trace: _Trace, name: str, rest: list[str]
    ) -> tuple[int, Any]:
        method = request.method
        version: str | None = None
        if rest[:1] == ["versions"] and len(rest) >= 2:
            version, rest = rest[1], rest[2:]
        match rest:
            case []:
                _allow(method, "GET")
                entry = self._repo.resolve(name, version)
                versions = [entry.version] if version else [e.version for e in self._repo.versions(name)]
                return 200, oip.metadata(name, versions, _handler_class(entry))
            case ["ready"]:
                _allow(method, "GET")
                ready = self._repo.resolve(name, version).status is repository.Status.READY
                return (200 if ready else 400), {"name": name, "ready": ready}
            case ["infer"]:
                _allow(method, "POST")
                trace.model_request = True
                return 200, await self._infer_v2(request, trace, name, version)
        raise NotFound(f"no route for {method} {request.scope['path']}")

    # Model requests

    async def _predict(self, request: asgi.Request, trace: _Trace, name: str, version: str | None) -> Any:
        entry = self._repo.resolve(name, version)
        trace.metrics = entry.metrics
        handler, _, _ = entry.serving()
        body = await request.json()
        if not isinstance(body, dict):
            raise BadInput(f"body must be a JSON object, got {type(body).__name__}")
        (result,) = await self._run(request, entry, [handler.parse(body)])
        return {"model": entry.name, "version": entry.version, **result}

    async def _predict_v1(self, request: asgi.Request, trace: _Trace, name: str) -> Any:
        entry = self._repo.resolve(name)
        trace.metrics = entry.metrics
        handler, _, _ = entry.serving()
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
            raise BadInput("body must be a JSON object with an 'instances' list")
        parsed = [
            _parse_at(handler, i, instance) for i, instance in enumerate(self._bounded(body["instances"]))
        ]
        results = await self._run(request, entry, parsed)
        return {"predictions": [{"model": entry.name, "version": entry.version, **r} for r in results]}

    async def _infer_v2(self, request: asgi.Request, trace: _Trace, name: str, version: str | None) -> Any:
        entry = self._repo.resolve(name, version)
        trace.metrics = entry.metrics
        handler, _, _ = entry.serving()
        if request.header(b"inference-header-content-length") is not None:
            raise BadInput("binary tensor data (Inference-Header-Content-Length) is not supported; send JSON")
        decoded = oip.decode_request(await request.json(), handler.v2_inputs)
        oip.check_outputs(decoded, handler.v2_outputs)
        instances = self._bounded(handler.decode_v2(decoded.inputs, decoded.parameters))
        parsed = [_parse_at(handler, i, instance) for i, instance in enumerate(instances)]
        results = await self._run(request, entry, parsed)
        return oip.encode_response(entry.name, entry.version, decoded, handler.encode_v2(results))

    def _bounded(self, instances: list[Any]) -> list[Any]:
        if not instances:
            raise BadInput("empty batch: no instances to predict")
        if len(instances) > self._limits.max_batch_instances:
            raise BadInput(
                f"{len(instances)} instances is over the limit of {self._limits.max_batch_instances}"
            )
        return instances

    async def _run(self, request: asgi.Request, entry: repository.Entry, parsed: list[Any]) -> list[Any]:
        _, queue, _ = entry.serving()
        timeout_s = self._timeout_s(request)
        deadline = time.perf_counter() + timeout_s
        futures = queue.submit(parsed, deadline)
        gathered: asyncio.Future[list[Any]] = asyncio.gather(*futures)
        gone: asyncio.Future[Any] = asyncio.ensure_future(_disconnected(request.receive))
        done, _ = await asyncio.wait([gathered, gone], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if gathered in done:
            gone.cancel()
            return list(gathered.result())
        # The client left or the deadline passed: cancel what has not run, so it never runs.
        gone.cancel()
        gathered.cancel()
        gathered.add_done_callback(_consume)
        if gone in done:
            raise asgi.ClientGone
        raise DeadlineExceeded(f"no result within the {timeout_s * 1000:.0f} ms deadline")

    def _timeout_s(self, request: asgi.Request) -> float:
        timeout_ms = self._settings.request_timeout_ms
        raw = request.header(_TIMEOUT_HEADER)
        if raw is not None:
            try:
                asked = float(raw)
            except ValueError as exc:
                raise BadInput(f"X-Request-Timeout-Ms must be a number of milliseconds, got {raw!r}") from exc
            if asked <= 0:
                raise BadInput("X-Request-Timeout-Ms must be positive")
            timeout_ms = min(timeout_ms, asked)
        return timeout_ms / 1000.0


def _parse_at(handler: base.BaseHandler, index: int, instance: Any) -> Any:
    try:
        return handler.parse(instance)
    except BadInput as exc:
        raise BadInput(f"instance {index}: {exc.message}") from exc


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise MethodNotAllowed(f"method {method} not allowed here; use {', '.join(allowed)}")


def _handler_class(entry: repository.Entry) -> type[base.BaseHandler] | None:
    if entry.handler is not None:
        return type(entry.handler)
    try:
        return resolving.resolve_handler(entry.handler_name) if entry.handler_name else None
    except Exception:
        return None


async def _disconnected(receive: asgi.Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()

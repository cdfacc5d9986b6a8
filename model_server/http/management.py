"""The management port, TorchServe style: list, describe, register from a URI, unregister,
scale workers and set the default version. Load failures are visible here with reasons."""

from __future__ import annotations

import logging
from typing import Any

from model_server import repository
from model_server.errors import ApiError, BadInput, MethodNotAllowed, NotFound
from model_server.http import asgi

log = logging.getLogger(__name__)


class ManagementApp:
    def __init__(self, repo: repository.ModelRepository, max_body_bytes: int) -> None:
        self._repo = repo
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http":
            return
        request = asgi.Request(scope, receive, self._max_body_bytes)
        try:
            status, body = await self._route(request)
            await asgi.send_json(send, status, body)
        except asgi.ClientGone:
            return
        except ApiError as exc:
            await asgi.send_error(send, exc)
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await asgi.send_json(send, 500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    async def _route(self, request: asgi.Request) -> tuple[int, Any]:
        method, parts = request.method, request.parts
        match (method, parts):
            case ("GET", ["models"]):
                return 200, {"models": [self._summary(n) for n in self._repo.names()]}
            case ("POST", ["models"]):
                return await self._register(request)
            case ("GET", ["models", name]):
                return 200, {
                    **self._summary(name),
                    "versions": [self._repo.describe(e) for e in self._repo.versions(name)],
                }
            case ("GET", ["models", name, version]):
                return 200, self._repo.describe(self._repo.resolve(name, version))
            case ("DELETE", ["models", name, *rest]) if len(rest) <= 1:
                removed = await self._repo.unregister(name, rest[0] if rest else None)
                return 200, {"unregistered": [{"name": e.name, "version": e.version} for e in removed]}
            case ("PUT", ["models", name, version, "set-default"]):
                entry = self._repo.set_default(name, version)
                return 200, self._repo.describe(entry)
            case ("PUT", ["models", name, *rest]) if len(rest) <= 1:
                workers = _int_param(request.query(), "min_worker", required=True)
                assert workers is not None
                if not 1 <= workers <= 16:
                    raise BadInput(f"min_worker must be between 1 and 16, got {workers}")
                entries = self._repo.scale(name, rest[0] if rest else None, workers)
                return 200, {"scaled": [self._repo.describe(e) for e in entries]}
        if parts[:1] == ["models"] and len(parts) <= 4:
            raise MethodNotAllowed(f"method {method} not allowed on {request.scope['path']}")
        raise NotFound(f"no route for {method} {request.scope['path']}")

    def _summary(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "default_version": self._repo.default_version(name),
            "versions": [e.version for e in self._repo.versions(name)],
        }

    async def _register(self, request: asgi.Request) -> tuple[int, Any]:
        query = request.query()
        url = query.get("url")
        if not url:
            raise BadInput("missing query parameter 'url' (the archive's path, file:// or http(s):// URI)")
        synchronous = query.get("synchronous", "true").lower()
        if synchronous not in ("true", "false"):
            raise BadInput(f"synchronous must be true or false, got {synchronous!r}")
        delay = query.get("max_batch_delay")
        try:
            delay_ms = float(delay) if delay is not None else None
        except ValueError as exc:
            raise BadInput(f"max_batch_delay must be a number of milliseconds, got {delay!r}") from exc
        options = repository.RegisterOptions(
            model_name=query.get("model_name") or None,
            batch_size=_int_param(query, "batch_size"),
            max_batch_delay_ms=delay_ms,
            workers=_int_param(query, "initial_workers"),
        )
        entry = await self._repo.register(url, options, synchronous=synchronous == "true")
        described = self._repo.describe(entry)
        if entry.status is repository.Status.FAILED:
            return 400, {"error": f"model could not be loaded: {entry.error}", "model": described}
        return (200 if entry.status is repository.Status.READY else 202), described


def _int_param(query: dict[str, str], key: str, *, required: bool = False) -> int | None:
    raw = query.get(key)
    if raw is None:
        if required:
            raise BadInput(f"missing query parameter {key!r}")
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise BadInput(f"{key} must be an integer, got {raw!r}") from exc

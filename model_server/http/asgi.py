"""Small ASGI helpers: read a bounded body, parse JSON, send JSON, split paths."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from model_server.errors import ApiError, BadInput, PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]


@dataclass
class Request:
    scope: Scope
    receive: Receive
    max_body_bytes: int

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def parts(self) -> list[str]:
        return [p for p in str(self.scope["path"]).split("/") if p]

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope.get("headers", ()):
            if key == name:
                return bytes(value)
        return None

    def query(self) -> dict[str, str]:
        raw = self.scope.get("query_string", b"").decode("latin-1")
        return dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))

    async def body(self) -> bytes:
        declared = self.header(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError as exc:
                raise BadInput(f"bad Content-Length header {declared!r}") from exc
            if size > self.max_body_bytes:
                raise PayloadTooLarge(
                    f"body of {size} bytes is over the limit of {self.max_body_bytes} bytes"
                )
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                raise PayloadTooLarge(f"body is over the limit of {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def json(self) -> Any:
        raw = await self.body()
        if not raw.strip():
            raise BadInput("malformed JSON: the body is empty")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"malformed JSON: {exc}") from exc


class ClientGone(Exception):
    """The client disconnected: there is nobody to answer."""


async def send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    all_headers = [*(headers or _JSON), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
    headers = list(_JSON)
    for key, value in (extra or {}).items():
        headers.append((key.encode(), value.encode()))
    await send_bytes(send, status, orjson.dumps(obj), headers)


async def send_error(send: Send, error: ApiError) -> None:
    await send_json(send, error.status, {"error": error.message}, error.headers)

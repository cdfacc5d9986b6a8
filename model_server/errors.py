"""Errors that carry the HTTP status they map to, so every layer can raise and the HTTP
layer alone decides the response: a JSON body ``{"error": message}`` with that status."""

from __future__ import annotations


class ApiError(Exception):
    """A failure the client should see, with its status code and a message that names it."""

    status: int = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadInput(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class NotReady(ApiError):
    """The model exists but cannot serve (loading, failed, or unloaded mid-request)."""

    status = 503


class QueueFull(ApiError):
    status = 503

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message, headers={"retry-after": str(retry_after_s)})


class DeadlineExceeded(ApiError):
    status = 504


class InferenceFailed(ApiError):
    """The handler raised on valid input: a model bug, reported honestly as a 500."""

    status = 500


class ArchiveError(Exception):
    """A model archive that cannot be served: missing file, bad manifest, checksum or
    shape mismatch, unknown handler. The message is the reason shown on the management API."""

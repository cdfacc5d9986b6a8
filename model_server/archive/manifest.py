"""The ``MANIFEST.json`` schema (pydantic: it is an edge, written by other people's tools)."""

from __future__ import annotations

import pathlib
from typing import Any

import orjson
import pydantic

from model_server.errors import ArchiveError

MANIFEST_FILE = "MANIFEST.json"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"


class BatchSettings(pydantic.BaseModel):
    """How the model's queue batches. ``batch_size`` 1 turns batching off."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    batch_size: int = pydantic.Field(default=1, ge=1, le=1024)
    max_batch_delay_ms: float = pydantic.Field(default=5.0, ge=0.0, le=10_000.0)
    # Bounded so memory never grows without bound: a full queue answers 503 + Retry-After.
    queue_size: int = pydantic.Field(default=256, ge=1, le=100_000)
    workers: int = pydantic.Field(default=1, ge=1, le=16)


class Manifest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    name: str = pydantic.Field(pattern=_NAME)
    version: str = pydantic.Field(pattern=_NAME)
    handler: str = pydantic.Field(min_length=1)
    description: str = ""
    files: dict[str, str] = pydantic.Field(default_factory=dict)
    batch: BatchSettings = pydantic.Field(default_factory=BatchSettings)
    config: dict[str, Any] = pydantic.Field(default_factory=dict)
    sha256: dict[str, str] = pydantic.Field(default_factory=dict)

    @pydantic.field_validator("files", "sha256")
    @classmethod
    def _relative_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for path in [*value.values(), *value.keys()]:
            pure = pathlib.PurePosixPath(path)
            if pure.is_absolute() or ".." in pure.parts:
                raise ValueError(f"path {path!r} must be relative and stay inside the archive")
        return value

    @pydantic.field_validator("sha256")
    @classmethod
    def _hex_digests(cls, value: dict[str, str]) -> dict[str, str]:
        for path, digest in value.items():
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise ValueError(f"sha256 of {path!r} is not a 64-digit hex digest")
        return value


def parse_manifest(raw: bytes) -> Manifest:
    """Parse manifest bytes; every problem becomes an ArchiveError that names the field."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ArchiveError(f"bad manifest: {MANIFEST_FILE} is not valid JSON ({exc})") from exc
    try:
        return Manifest.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ArchiveError(f"bad manifest: {problems}") from exc


def read_manifest(root: pathlib.Path) -> Manifest:
    path = root / MANIFEST_FILE
    if not path.is_file():
        raise ArchiveError(f"missing file: {MANIFEST_FILE} not found in archive")
    return parse_manifest(path.read_bytes())

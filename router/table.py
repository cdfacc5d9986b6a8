"""The routing table: ``route.json`` parsed at the edge (pydantic) into frozen dataclasses.

A :class:`RouteTable` is immutable; a swap replaces the whole object, so a request that read the
table once sees one consistent version from start to end.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Annotated, Literal

import orjson
import pydantic

ROUTE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")


class Kind(enum.StrEnum):
    RETRIEVER = "retriever"
    CLASSIFIER = "classifier"
    RERANKER = "reranker"
    GENERIC = "generic"


class TableError(ValueError):
    """``route.json`` is invalid; the message names the problem."""


@dataclasses.dataclass(frozen=True, slots=True)
class UrlBackend:
    host: str
    port: int
    prefix: str  # prepended to the forwarded path, "" or "/something"

    def key(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceBackend:
    namespace: str
    service: str
    port: int

    def key(self) -> str:
        return f"service://{self.namespace}/{self.service}:{self.port}"


Backend = UrlBackend | ServiceBackend


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    name: str
    version: int
    kind: Kind
    primary: Backend
    canary: Backend | None
    canary_buckets: int  # canary iff bucket < canary_buckets, bucket in [0, 10000)
    shadow: Backend | None
    mirror_fraction: float  # 0..1
    sticky_header: bytes  # lower-cased header name
    sticky_salt: bytes
    comparison_rate: float  # 0..1 of mirrored requests
    comparison_k: int
    attribution: bool

    def backends(self) -> Iterable[Backend]:
        yield self.primary
        if self.canary is not None:
            yield self.canary
        if self.shadow is not None:
            yield self.shadow


@dataclasses.dataclass(frozen=True, slots=True)
class RouteTable:
    routes: Mapping[str, Route]

    @staticmethod
    def empty() -> RouteTable:
        return RouteTable(routes={})


# ---- the edge: pydantic models of route.json -------------------------------------------------

_Percent = Annotated[float, pydantic.Field(ge=0, le=100)]


class _UrlModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    url: str


class _ServiceModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    service: Annotated[str, pydantic.Field(min_length=1, max_length=63)]
    namespace: Annotated[str, pydantic.Field(min_length=1, max_length=63)] | None = None
    port: Annotated[int, pydantic.Field(ge=1, le=65535)]


class _ComparisonModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    sampleRate: Annotated[float, pydantic.Field(ge=0, le=1)] = 0.0
    k: Annotated[int, pydantic.Field(ge=1, le=100)] = 10


class _RouteModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    route: str
    version: Annotated[int, pydantic.Field(ge=0)]
    kind: Literal["retriever", "classifier", "reranker", "generic"] = "generic"
    primary: _UrlModel | _ServiceModel
    canary: _UrlModel | _ServiceModel | None = None
    canaryWeight: _Percent = 0.0
    shadow: _UrlModel | _ServiceModel | None = None
    mirrorPercent: _Percent | None = None
    # The Candidate API's default (shadowgate.core.lifecycle.spec.STICKY_KEY; a unit test checks).
    stickyKey: str = "X-User-Id"
    stickySalt: str | None = None
    comparison: _ComparisonModel = _ComparisonModel()
    attribution: bool = True


def _backend(model: _UrlModel | _ServiceModel, default_namespace: str, field: str) -> Backend:
    if isinstance(model, _ServiceModel):
        ns = model.namespace or default_namespace
        if not ns:
            raise TableError(f"{field}: service backend needs a namespace")
        return ServiceBackend(namespace=ns, service=model.service, port=model.port)
    parts = urllib.parse.urlsplit(model.url)
    if parts.scheme != "http" or not parts.hostname:
        raise TableError(f"{field}.url: want http://host:port[/prefix], got {model.url!r}")
    if parts.query or parts.fragment:
        raise TableError(f"{field}.url: no query or fragment allowed")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise TableError(f"{field}.url: bad port in {model.url!r}") from exc
    return UrlBackend(host=parts.hostname, port=port, prefix=parts.path.rstrip("/"))


def parse_route(raw: bytes | str, default_namespace: str = "") -> Route:
    """Parse one ``route.json``; raise :class:`TableError` naming the first problem."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TableError(f"route.json is not JSON: {exc}") from exc
    try:
        m = _RouteModel.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "route.json"
        raise TableError(f"{where}: {first['msg']}") from exc
    if not ROUTE_NAME.match(m.route):
        raise TableError(f"route: {m.route!r} is not a valid route name")
    if not HEADER_NAME.match(m.stickyKey):
        raise TableError(f"stickyKey: {m.stickyKey!r} is not an HTTP header name")
    if round(m.canaryWeight * 100) != round(m.canaryWeight * 100, 6):
        raise TableError("canaryWeight: at most 2 decimals")
    if m.canaryWeight > 0 and m.canary is None:
        raise TableError("canaryWeight > 0 needs a canary backend")
    mirror = m.mirrorPercent if m.mirrorPercent is not None else (100.0 if m.shadow else 0.0)
    if mirror > 0 and m.shadow is None:
        raise TableError("mirrorPercent > 0 needs a shadow backend")
    return Route(
        name=m.route,
        version=m.version,
        kind=Kind(m.kind),
        primary=_backend(m.primary, default_namespace, "primary"),
        canary=_backend(m.canary, default_namespace, "canary") if m.canary else None,
        canary_buckets=round(m.canaryWeight * 100),
        shadow=_backend(m.shadow, default_namespace, "shadow") if m.shadow else None,
        mirror_fraction=mirror / 100.0,
        sticky_header=m.stickyKey.lower().encode("ascii"),
        sticky_salt=(m.stickySalt if m.stickySalt is not None else m.route).encode("utf-8"),
        comparison_rate=m.comparison.sampleRate,
        comparison_k=m.comparison.k,
        attribution=m.attribution,
    )


def merge(candidates: Iterable[tuple[str, Route]]) -> tuple[RouteTable, list[str]]:
    """Build a table from (source id, route) pairs; conflicts on a route name go to the higher
    version, ties to the smaller source id. Returns the table and one message per conflict."""
    best: dict[str, tuple[str, Route]] = {}
    conflicts: list[str] = []
    for source, route in sorted(candidates, key=lambda c: c[0]):
        held = best.get(route.name)
        if held is None:
            best[route.name] = (source, route)
            continue
        conflicts.append(f"route {route.name!r} defined by both {held[0]} and {source}")
        if route.version > held[1].version:
            best[route.name] = (source, route)
    return RouteTable(routes={name: r for name, (_, r) in best.items()}), conflicts

"""The request handler: route lookup, sticky split, forwarding, attribution, mirroring.

The table is one immutable object; a request reads ``self._table`` once, so a swap between two
awaits cannot give it half of each version. The mirror is scheduled with ``call_soon`` so it runs
after the server has written the caller's response.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import time
from collections.abc import Callable

from prometheus_client import exposition

from router import feedback, split
from router.attribution import AttributionBook
from router.endpoints import Endpoints
from router.httpserver import Request, Response, json_response
from router.metrics import RouterMetrics
from router.mirror import Mirror
from router.table import Route, RouteTable, ServiceBackend, UrlBackend
from router.upstream import Client, ErrorKind, UpstreamError, UpstreamResponse

REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
HOP_BY_HOP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
        b"te", b"trailer", b"transfer-encoding", b"upgrade", b"host", b"content-length",
        # Answered by the router itself; forwarded, it could draw an interim 100 from the backend.
        b"expect",
    }
)  # fmt: skip
OWN_HEADERS = frozenset({b"x-request-id", b"x-served-by"})
ERROR_STATUS = {
    ErrorKind.CONNECT: 502,
    ErrorKind.RESET: 502,
    ErrorKind.BAD_RESPONSE: 502,
    ErrorKind.NO_ENDPOINTS: 503,
    ErrorKind.TIMEOUT: 504,
}


@dataclasses.dataclass(frozen=True, slots=True)
class AppSettings:
    upstream_timeout_s: float = 10.0


class RouterApp:
    def __init__(
        self,
        settings: AppSettings,
        metrics: RouterMetrics,
        client: Client,
        endpoints: Endpoints,
        book: AttributionBook,
        mirror: Mirror,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self.metrics = metrics
        self._client = client
        self.endpoints = endpoints
        self.book = book
        self._mirror = mirror
        self._clock = clock
        self._table = RouteTable.empty()
        self.ready = False
        self._codes: dict[tuple[str, str, int], object] = {}

    # -- table
    @property
    def table(self) -> RouteTable:
        return self._table

    def set_table(self, table: RouteTable) -> None:
        """Swap the whole table at once (event-loop thread only)."""
        old = self._table
        self._table = table
        for name in old.routes.keys() - table.routes.keys():
            self.metrics.table_version.remove(name)
        for name, route in table.routes.items():
            self.metrics.table_version.labels(name).set(route.version)
        self.forget_unused()

    def forget_unused(self) -> None:
        keep = self.endpoints.addresses()
        for route in self._table.routes.values():
            for b in route.backends():
                if isinstance(b, UrlBackend):
                    keep.add((b.host, b.port))
        self._client.forget(keep)

    def service_backends(self) -> set[ServiceBackend]:
        return {b for r in self._table.routes.values() for b in r.backends() if isinstance(b, ServiceBackend)}

    # -- dispatch
    async def handle(self, req: Request) -> Response:
        target = req.target
        if target.startswith(b"/r/"):
            return await self._proxy(req)
        path = target.split(b"?", 1)[0]
        if path == b"/feedback":
            if req.method != b"POST":
                return json_response(405, {"error": "use POST /feedback"})
            status, payload = feedback.handle(self.book, self.metrics, req.body, self._clock())
            return json_response(status, payload)
        if path == b"/healthz":
            return json_response(200, {"status": "ok"})
        if path == b"/readyz":
            if self.ready:
                return json_response(200, {"status": "ready", "routes": sorted(self._table.routes)})
            return json_response(503, {"error": "routing table not synced yet"})
        if path == b"/metrics":
            self.metrics.pending.set(len(self.book))
            self.metrics.mirror_inflight.set(self._mirror.inflight)
            body = exposition.generate_latest(self.metrics.registry)
            return Response(200, [(b"content-type", exposition.CONTENT_TYPE_LATEST.encode())], body)
        return json_response(
            404, {"error": f"no such path {path[:200].decode('latin-1')!r}; use /r/<route>/..."}
        )

    def _count(self, route: str, variant: str, code: int) -> None:
        key = (route, variant, code)
        child = self._codes.get(key)
        if child is None:
            child = self._codes[key] = self.metrics.requests.labels(route, variant, str(code))
        child.inc()  # type: ignore[attr-defined]

    def protocol_error(self, status: int, target: bytes) -> None:
        """Count answers the server gave before a handler ran (malformed, oversized)."""
        if target.startswith(b"/feedback"):
            self.metrics.rejected.labels("too_large" if status == 413 else "malformed").inc()
        elif target.startswith(b"/r/"):
            name = target[3:].split(b"/", 1)[0].split(b"?", 1)[0].decode("latin-1")
            if name in self._table.routes:
                self._count(name, "", status)

    async def _proxy(self, req: Request) -> Response:
        t0 = time.perf_counter()
        rest = req.target[3:]
        slash = rest.find(b"/")
        if slash >= 0:
            name_b, sub = rest[:slash], rest[slash:]
        else:
            q = rest.find(b"?")
            name_b, sub = (rest, b"/") if q < 0 else (rest[:q], b"/" + rest[q:])
        table = self._table  # one read: the whole request uses this version
        route = table.routes.get(name_b.decode("latin-1"))
        rid_in = req.header(b"x-request-id")
        rid = rid_in if rid_in is not None and REQUEST_ID.match(rid_in) else os.urandom(16).hex().encode()
        if route is None:
            unknown = f"unknown route {name_b[:100].decode('latin-1')!r}"
            return json_response(404, {"error": unknown}, [(b"x-request-id", rid)])
        variant = "primary"
        backend = route.primary
        if route.canary is not None and route.canary_buckets > 0:
            key = req.header(route.sticky_header) or rid
            if split.is_canary(route.sticky_salt, key, route.canary_buckets):
                variant, backend = "canary", route.canary
        vm = self.metrics.variant(route.name, variant)
        own = [(b"x-request-id", rid), (b"x-served-by", variant.encode())]
        headers = [(k, v) for k, v in req.headers if k not in HOP_BY_HOP and k != b"x-request-id"]
        headers.append((b"x-request-id", rid))
        prefix = backend.prefix.encode() if isinstance(backend, UrlBackend) else b""
        address = self.endpoints.resolve(backend)
        upstream: UpstreamResponse | None = None
        try:
            if address is None:
                raise UpstreamError(ErrorKind.NO_ENDPOINTS, f"no ready endpoint for {backend.key()}")
            upstream = await self._client.request(
                address[0],
                address[1],
                req.method,
                prefix + sub,
                headers,
                req.body,
                self._settings.upstream_timeout_s,
            )
        except UpstreamError as err:
            status = ERROR_STATUS[err.kind]
            self.metrics.upstream_errors.labels(route.name, variant, err.kind.value).inc()
            resp = json_response(
                status,
                {"error": f"{variant} backend failed: {err.detail}", "route": route.name, "variant": variant},
                own,
            )
        else:
            out = [(k, v) for k, v in upstream.headers if k not in HOP_BY_HOP and k not in OWN_HEADERS]
            out.extend(own)
            resp = Response(upstream.status, out, upstream.body)
            if route.attribution and 200 <= upstream.status < 300:
                self.book.impression(rid.decode(), route.name, variant, self._clock())
        self._count(route.name, variant, resp.status)
        vm.duration.observe(time.perf_counter() - t0)
        if variant == "primary" and upstream is not None and self._mirror.wants(route):
            asyncio.get_running_loop().call_soon(self._mirror_now, route, sub, req, headers, upstream)
        return resp

    def _mirror_now(
        self,
        route: Route,
        sub: bytes,
        req: Request,
        headers: list[tuple[bytes, bytes]],
        primary: UpstreamResponse,
    ) -> None:
        shadow = route.shadow
        if shadow is None:
            return
        prefix = shadow.prefix.encode() if isinstance(shadow, UrlBackend) else b""
        hdrs = [*headers, (b"x-shadowgate-mirror", b"1")]
        self._mirror.submit(
            route, self.endpoints.resolve(shadow), prefix, req.method, sub, hdrs, req.body, primary
        )

    def sweep(self) -> None:
        self.book.expire(self._clock())

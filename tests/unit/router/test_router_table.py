"""route.json parsing: every field, every rejection names the problem; conflicts resolve by version."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.table import Kind, ServiceBackend, TableError, UrlBackend, merge, parse_route

BASE: dict[str, Any] = {"route": "retriever", "version": 3, "primary": {"url": "http://127.0.0.1:8080"}}


def doc(**kw: Any) -> bytes:
    d = {**BASE, **kw}
    return orjson.dumps({k: v for k, v in d.items() if v is not ...})


def test_full_document() -> None:
    r = parse_route(
        doc(
            kind="retriever",
            canary={"service": "cand", "port": 8080},
            canaryWeight=12.5,
            shadow={"url": "http://127.0.0.5:9000/v1"},
            mirrorPercent=50,
            stickyKey="X-User-Id",
            stickySalt="cand-1",
            comparison={"sampleRate": 0.25, "k": 3},
            attribution=False,
        ),
        default_namespace="manga",
    )
    assert r.kind is Kind.RETRIEVER
    assert r.primary == UrlBackend("127.0.0.1", 8080, "")
    assert r.canary == ServiceBackend("manga", "cand", 8080)
    assert r.canary_buckets == 1250
    assert r.shadow == UrlBackend("127.0.0.5", 9000, "/v1")
    assert r.mirror_fraction == 0.5
    assert r.sticky_header == b"x-user-id"
    assert r.sticky_salt == b"cand-1"
    assert (r.comparison_rate, r.comparison_k, r.attribution) == (0.25, 3, False)


def test_defaults() -> None:
    r = parse_route(doc(shadow={"url": "http://127.0.0.1:1"}))
    assert r.kind is Kind.GENERIC
    assert r.mirror_fraction == 1.0  # a shadow without mirrorPercent gets everything
    assert r.canary is None and r.canary_buckets == 0
    assert r.sticky_header == b"x-user-id" and r.sticky_salt == b"retriever"
    assert parse_route(doc()).mirror_fraction == 0.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"{not json", "not JSON", id="not-json"),
        pytest.param(doc(route=...), "route: Field required", id="missing-route"),
        pytest.param(doc(version=-1), "version", id="negative-version"),
        pytest.param(doc(route="Bad Name"), "not a valid route name", id="bad-route-name"),
        pytest.param(doc(kind="llm"), "kind", id="unknown-kind"),
        pytest.param(doc(canaryWeight=101), "canaryWeight", id="weight-over-100"),
        pytest.param(
            doc(canaryWeight=10.001, canary={"url": "http://x:1"}), "at most 2 decimals", id="weight-3-dec"
        ),
        pytest.param(doc(canaryWeight=5), "needs a canary backend", id="weight-without-canary"),
        pytest.param(doc(mirrorPercent=5), "needs a shadow backend", id="mirror-without-shadow"),
        pytest.param(doc(primary={"url": "https://x:1"}), "want http://", id="https-url"),
        pytest.param(doc(primary={"url": "http://x:99999"}), "bad port", id="bad-port"),
        pytest.param(
            doc(primary={"service": "s", "port": 80}), "needs a namespace", id="service-no-namespace"
        ),
        pytest.param(doc(primary={"service": "s", "port": 0, "namespace": "n"}), "primary", id="port-zero"),
        pytest.param(doc(stickyKey="bad header"), "not an HTTP header name", id="bad-sticky-key"),
        pytest.param(doc(comparison={"sampleRate": 2}), "comparison.sampleRate", id="sample-rate-over-1"),
        pytest.param(doc(extra=1), "extra", id="unknown-field"),
    ],
)
def test_rejections_name_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(TableError, match=message):
        parse_route(raw)


@pytest.mark.parametrize(
    ("versions", "winner"),
    [
        pytest.param((1, 2), "b", id="higher-version-wins"),
        pytest.param((5, 2), "a", id="first-higher"),
        pytest.param((2, 2), "a", id="tie-smaller-source-id"),
    ],
)
def test_merge_conflicts(versions: tuple[int, int], winner: str) -> None:
    ra = parse_route(doc(version=versions[0], primary={"url": "http://a:1"}))
    rb = parse_route(doc(version=versions[1], primary={"url": "http://b:1"}))
    table, conflicts = merge([("b", rb), ("a", ra)])
    assert len(conflicts) == 1
    primary = table.routes["retriever"].primary
    assert isinstance(primary, UrlBackend) and primary.host == winner

"""The chart's router Deployment honours ``replicas: 0`` (integration fix from the e2e work:
``default 2`` treated 0 as unset, so the demo's "router runs as a local process" install still
started two router Pods that competed for the 2-core machine)."""

from __future__ import annotations

import pytest
from test_chart import render


@pytest.mark.parametrize(
    ("route", "want"),
    [
        pytest.param('{"name":"r","replicas":0}', 0, id="zero-is-kept"),
        pytest.param('{"name":"r"}', 2, id="unset-defaults-to-two"),
        pytest.param('{"name":"r","replicas":3}', 3, id="explicit"),
    ],
)
def test_router_replicas(route: str, want: int) -> None:
    docs = render(f"router.routes=[{route}]")
    routers = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-router-r")]
    assert [d["spec"]["replicas"] for d in routers] == [want]

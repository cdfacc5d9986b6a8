"""Fixtures for the router tests: real backends and in-process routers, stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from router_support import Backend, RouterUnderTest, Seen

from router.attribution import Settings
from router.service import RouterService, ServiceSettings


@pytest.fixture
async def backends() -> AsyncIterator[Callable[..., Awaitable[Backend]]]:
    started: list[Backend] = []

    async def make(
        name: str, reply: Callable[[Seen], tuple[int, Any]] | None = None, port: int = 0
    ) -> Backend:
        b = await Backend(name, reply).start(port)
        started.append(b)
        return b

    yield make
    for b in started:
        await b.stop()


@pytest.fixture
async def make_router() -> AsyncIterator[Callable[..., Awaitable[RouterUnderTest]]]:
    started: list[RouterService] = []

    async def make(attribution: Settings | None = None, **kw: Any) -> RouterUnderTest:
        settings = ServiceSettings(port=0, attribution=attribution or Settings(), **kw)
        svc = RouterService(settings, None)
        await svc.start()
        started.append(svc)
        return RouterUnderTest(svc)

    yield make
    for svc in started:
        await svc.stop()

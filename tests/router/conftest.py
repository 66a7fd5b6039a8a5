"""Fixtures for the router's tests: stand-in dynos, a route table, a log, a started router."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tenku.router import Router
from tests.router.standins import WAIT, Dyno, Handler, Log, Routes


@pytest.fixture
def routes() -> Routes:
    return Routes()


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
async def dynos() -> AsyncIterator[Callable[..., Awaitable[Dyno]]]:
    started: list[Dyno] = []

    async def make(name: str = "web.1", handler: Handler | None = None) -> Dyno:
        dyno = Dyno(name, handler)
        await dyno.start()
        started.append(dyno)
        return dyno

    yield make
    for dyno in started:
        await dyno.stop()


@pytest.fixture
async def make_router(routes: Routes, log: Log) -> AsyncIterator[Callable[..., Awaitable[Router]]]:
    started: list[Router] = []

    async def make(ssl_context: ssl.SSLContext | None = None, **options: float) -> Router:
        router = Router(routes, log, **options)
        await router.start("127.0.0.1", 0, 0 if ssl_context else None, ssl_context)
        started.append(router)
        return router

    yield make
    for router in started:
        await router.stop()


@pytest.fixture
async def router(make_router: Callable[..., Awaitable[Router]]) -> Router:
    return await make_router()


@pytest.fixture
async def client(router: Router) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{router.http_port}", trust_env=False, timeout=WAIT
    ) as http:
        yield http

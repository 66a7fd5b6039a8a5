"""A router with processes of its own: the same ports (SO_REUSEPORT), the same route
table, affinity and certificates in every process, and every process's lines in the log.

Each request here goes on a connection of its own, so the kernel spreads them across the
processes; with dozens of connections, every process serves some (the odds that one gets
none are far below one in a billion).
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tenku.config import Settings
from tenku.router import Router
from tenku.tls import server_ssl_context
from tests.certificates import Issued, make_ca, make_leaf
from tests.router.standins import WAIT, Log, Routes, host
from tests.router.test_sni import Certificates, presented, trusting

CONNECTIONS = 40


@pytest.fixture
async def shared(routes: Routes, log: Log) -> AsyncIterator[Router]:
    router = Router(routes, log, processes=2)
    await router.start("127.0.0.1", 0, None)
    yield router
    await router.stop()


async def one_each(
    router: Router, count: int = CONNECTIONS, **headers: str
) -> list[httpx.Response]:
    """`count` requests, each on a connection of its own."""
    answers = []
    for _ in range(count):
        async with httpx.AsyncClient(trust_env=False, timeout=WAIT) as http:
            answers.append(
                await http.get(
                    f"http://127.0.0.1:{router.http_port}/", headers={**host("app"), **headers}
                )
            )
    return answers


async def test_every_process_serves_the_same_apps(
    shared: Router, routes: Routes, dynos: Any, log: Log
) -> None:
    assert len(shared.worker_pids()) == 1
    dyno = await dynos()
    target = routes.add("app", [dyno])
    await shared.sync()
    answers = await one_each(shared)
    assert {r.status_code for r in answers} == {200}
    # Every line reaches the log, those of the other process included.
    assert len(await log.wait(target, CONNECTIONS)) == CONNECTIONS
    stats = shared.line_stats()
    assert stats.delivered == CONNECTIONS
    assert stats.dropped == 0
    # Both processes served: each delivered lines of its own.
    assert 0 < shared._workers.line_stats.delivered < CONNECTIONS  # type: ignore[union-attr]


async def test_a_change_of_the_table_reaches_every_process(
    shared: Router, routes: Routes, dynos: Any
) -> None:
    dyno = await dynos()
    routes.add("app", [dyno])
    await shared.sync()
    assert {r.status_code for r in await one_each(shared, 10)} == {200}
    routes.add("app", [dyno], maintenance=True)
    await shared.sync()
    answers = await one_each(shared)
    assert {r.status_code for r in answers} == {503}
    assert all("<title>Offline for Maintenance</title>" in r.text for r in answers)
    # The preboot switch, as the router sees it: the app's dynos replaced at once.
    other = await dynos("web.2")
    routes.add("app", [other])
    await shared.sync()
    assert {r.json()["dyno"] for r in await one_each(shared)} == {"web.2"}


async def test_session_affinity_holds_across_processes(
    shared: Router, routes: Routes, dynos: Any
) -> None:
    one, two, three = await dynos("web.1"), await dynos("web.2"), await dynos("web.3")
    routes.add("app", [one, two, three], affinity=True)
    await shared.sync()
    [first] = await one_each(shared, 1)
    cookie = first.headers["set-cookie"].split(";", 1)[0]
    answers = await one_each(shared, Cookie=cookie)
    assert {r.json()["dyno"] for r in answers} == {first.json()["dyno"]}
    assert not any("set-cookie" in r.headers for r in answers)


async def test_a_process_that_dies_is_started_again(
    shared: Router, routes: Routes, dynos: Any
) -> None:
    routes.add("app", [await dynos()])
    [pid] = shared.worker_pids()
    os.kill(pid, signal.SIGKILL)
    async with asyncio.timeout(WAIT):
        while shared.worker_pids() in ([pid], []):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await shared.sync()
    [replacement] = shared.worker_pids()
    assert replacement != pid
    answers = await one_each(shared)
    assert {r.status_code for r in answers} == {200}


async def test_stopping_the_router_stops_its_processes(routes: Routes, log: Log) -> None:
    router = Router(routes, log, processes=3)
    await router.start("127.0.0.1", 0, None)
    pids = router.worker_pids()
    assert len(pids) == 2
    await router.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_table_that_cannot_be_shared_is_refused(log: Log) -> None:
    class Lookups:
        async def lookup(self, host: str) -> None:
            return None

    router = Router(Lookups(), log, processes=2)
    with pytest.raises(ValueError, match="RouteFeed"):
        await router.start("127.0.0.1", 0, None)


async def test_https_and_custom_certificates_in_every_process(
    tmp_path: Path, routes: Routes, log: Log, dynos: Any
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    ca: Issued = make_ca()
    certificates = Certificates()
    router = Router(routes, log, certificates=certificates, processes=2)
    await router.start(
        "127.0.0.1",
        None,
        0,
        server_ssl_context(settings),
        ssl_factory=functools.partial(server_ssl_context, settings),
    )
    try:
        target = routes.add("app", [await dynos()])
        routes.route("www.example.com", target)
        www = make_leaf(ca, "www.example.com")
        certificates.serve(www, ca, hosts=("www.example.com",))
        await router.sync()
        port = router.https_port
        assert port is not None
        for _ in range(CONNECTIONS // 2):
            assert await presented(port, "www.example.com", trusting(ca)) == www.der
        context: ssl.SSLContext = trusting(ca)
        async with httpx.AsyncClient(verify=context, trust_env=False, timeout=WAIT) as http:
            r = await http.get(
                f"https://127.0.0.1:{port}/",
                headers={"Host": "www.example.com"},
                extensions={"sni_hostname": "www.example.com"},
            )
        assert r.status_code == 200
        assert r.json()["headers"]["x-forwarded-proto"] == "https"
    finally:
        await router.stop()

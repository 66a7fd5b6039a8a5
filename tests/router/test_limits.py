"""Kept connections to dynos, safe retries, and the router's limits: the dyno's queue
(H11), an app's connections (H22), what a dyno may answer (H25) and what a client may
send (414, 431); pipelined requests and bodies that bypass the parser."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any

import h11
import httpx
import pytest

from tenku.router import Router
from tests.router.standins import WAIT, Dyno, DynoCall, Log, Routes, host, raw


async def get(router: Router, path: str = "/", **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{router.http_port}", trust_env=False, timeout=WAIT
    ) as http:
        return await http.get(path, headers={**host("app"), **headers})


# Kept connections


async def test_a_dyno_connection_carries_the_next_requests(
    routes: Routes, dynos: Any, client: httpx.AsyncClient
) -> None:
    dyno = await dynos()
    routes.add("app", [dyno])
    for i in range(3):
        r = await client.get(f"/{i}", headers=host("app"))
        assert r.json()["path"] == f"/{i}"
    assert dyno.connections == 1
    assert [call.index for call in dyno.calls] == [0, 1, 2]


async def test_an_idle_dyno_connection_is_closed_after_a_while(
    routes: Routes, dynos: Any, make_router: Any
) -> None:
    router = await make_router(pool_idle=0.05)
    dyno = await dynos()
    routes.add("app", [dyno])
    assert (await get(router)).status_code == 200
    await dyno.wait_until(lambda: dyno.closed == 1)
    assert (await get(router)).status_code == 200
    assert dyno.connections == 2


def closes_kept_connections(dyno_name: str) -> Any:
    """A dyno whose kept connections turn out closed: it reads a second request on a
    connection and hangs up without a word, as when its keep-alive timer fires."""

    async def handler(call: DynoCall) -> None:
        body = await call.body()
        if call.index == 0:
            await call.respond(200, json.dumps({"dyno": dyno_name, "body": len(body)}).encode())

    return handler


async def test_a_get_on_a_connection_the_dyno_closed_goes_again(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    dyno = await dynos(handler=closes_kept_connections("web.1"))
    target = routes.add("app", [dyno])
    assert (await client.get("/", headers=host("app"))).status_code == 200
    r = await client.get("/again", headers=host("app"))
    assert r.status_code == 200
    # The second request went on the kept connection, then on a fresh one.
    assert [(c.request.target, c.index) for c in dyno.calls] == [
        (b"/", 0),
        (b"/again", 1),
        (b"/again", 0),
    ]
    lines = await log.wait(target, 2)
    assert [line["status"] for line in lines] == ["200", "200"]


async def test_a_post_on_a_connection_the_dyno_closed_is_not_sent_twice(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    dyno = await dynos(handler=closes_kept_connections("web.1"))
    target = routes.add("app", [dyno])
    assert (await client.get("/", headers=host("app"))).status_code == 200
    r = await client.post("/order", headers=host("app"), content=b"one order")
    assert r.status_code == 503
    assert [c.request.method for c in dyno.calls] == [b"GET", b"POST"]
    lines = await log.wait(target, 2)
    assert (lines[1]["code"], lines[1]["path"]) == ("H13", "/order")


# Limits


class Held:
    """A dyno that keeps the requests to /hold until released, and answers others."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, call: DynoCall) -> None:
        await call.body()
        if call.request.target == b"/hold":
            await self.release.wait()
        await call.respond(200, call.request.target)


async def wait_for(condition: Any) -> None:
    """Until `condition` holds, looking every few milliseconds (for the router's own state,
    which announces nothing)."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_full_queue_is_h11(routes: Routes, dynos: Any, make_router: Any, log: Log) -> None:
    router = await make_router(dyno_concurrency=1, dyno_backlog=1)
    held = Held()
    dyno = await dynos(handler=held)
    target = routes.add("app", [dyno])
    first = asyncio.create_task(get(router, "/hold"))
    await dyno.wait_until(lambda: len(dyno.calls) == 1)
    # The dyno's one slot is taken: the next request waits in its queue...
    queued = asyncio.create_task(get(router, "/queued"))
    await wait_for(lambda: router.dispatch.pools.waiting)
    # ...which holds one per dyno: the one after that is turned away at once.
    r = await get(router, "/turned-away")
    assert r.status_code == 503
    assert "<title>Application Error</title>" in r.text
    held.release.set()
    assert (await first).status_code == 200
    assert (await queued).text == "/queued"
    lines = {line["path"]: line for line in await log.wait(target, 3)}
    turned = lines["/turned-away"]
    assert (turned["code"], turned["desc"], turned["status"]) == ("H11", "Backlog too deep", "503")
    assert "code" not in lines["/queued"]
    # The queued request went on the connection the first one left.
    assert dyno.connections == 1


async def test_too_many_requests_for_one_app_is_h22(
    routes: Routes, dynos: Any, make_router: Any, log: Log
) -> None:
    router = await make_router(app_connections=1)
    held = Held()
    dyno = await dynos(handler=held)
    target = routes.add("app", [dyno])
    first = asyncio.create_task(get(router, "/hold"))
    await dyno.wait_until(lambda: len(dyno.calls) == 1)
    r = await get(router, "/second")
    assert r.status_code == 503
    held.release.set()
    assert (await first).status_code == 200
    # The app's count went back down: it is served again.
    assert (await get(router, "/third")).status_code == 200
    lines = {line["path"]: line for line in await log.wait(target, 3)}
    second = lines["/second"]
    assert (second["code"], second["desc"]) == ("H22", "Connection limit reached")
    assert second["dyno"] == ""


@pytest.mark.parametrize(
    ("answer", "desc"),
    [
        (
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=" + b"x" * 9000 + b"\r\nContent-Length: 0\r\n\r\n",
            "HTTP restriction: oversized cookie",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * (600 * 1024) + b"\r\nContent-Length: 0\r\n\r\n",
            "HTTP restriction: oversized header",
        ),
        (
            b"HTTP/1.1 200 " + b"O" * 9000 + b"\r\nContent-Length: 0\r\n\r\n",
            "HTTP restriction: oversized status line",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
            "HTTP restriction: invalid content length",
        ),
    ],
)
async def test_responses_the_router_will_not_pass_on_are_h25(
    routes: Routes,
    dynos: Any,
    client: httpx.AsyncClient,
    log: Log,
    answer: bytes,
    desc: str,
) -> None:
    async def risky(call: DynoCall) -> None:
        await call.body()
        call.writer.write(answer)
        await call.writer.drain()

    target = routes.add("app", [await dynos(handler=risky)])
    r = await client.get("/", headers=host("app"))
    assert r.status_code == 502
    assert "<title>Application Error</title>" in r.text
    [line] = await log.wait(target)
    assert (line["code"], line["desc"], line["status"]) == ("H25", desc, "502")


@pytest.mark.parametrize(
    ("request_head", "status", "logged"),
    [
        # The Host header would come after the request line: no app to log it for.
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n", 414, None),
        (
            b"GET /x HTTP/1.1\r\nHost: app.tenku.localhost\r\nX-Big: " + b"x" * 9000 + b"\r\n\r\n",
            431,
            ("H25", "HTTP restriction: oversized request header", ""),
        ),
        (
            b"GET /x HTTP/1.1\r\nHost: app.tenku.localhost\r\n"
            + b"".join(b"X-Many-%d: %s\r\n" % (i, b"x" * 1000) for i in range(80))
            + b"\r\n",
            431,
            ("H25", "HTTP restriction: oversized request header", ""),
        ),
        (
            # (httptools hands over a header once the next one starts.)
            b"GET /x HTTP/1.1\r\nHost: app.tenku.localhost\r\nAccept: */*\r\nNot a header\r\n\r\n",
            400,
            ("H26", "Request Error", "bad header"),
        ),
    ],
)
async def test_requests_over_the_limits_are_refused_before_routing(
    routes: Routes,
    dynos: Any,
    router: Router,
    log: Log,
    request_head: bytes,
    status: int,
    logged: tuple[str, str, str] | None,
) -> None:
    dyno = await dynos()
    target = routes.add("app", [dyno])
    async with raw(router.http_port) as conn:
        await conn.send(request_head)
        answer = await conn.rest()
    assert answer.startswith(b"HTTP/1.1 %d " % status)
    assert dyno.calls == []
    if logged is None:
        # A line of a request that follows would come first if this one had one.
        assert (await get(router, "/next")).status_code == 200
        [line] = await log.wait(target)
        assert line["path"] == "/next"
    else:
        [line] = await log.wait(target)
        assert (line["code"], line["desc"], line.get("cause", "")) == logged
        assert (line["path"], line["status"], line["dyno"]) == ("/x", str(status), "")


# What clients send


async def test_pipelined_requests_are_answered_in_order(
    routes: Routes, dynos: Any, router: Router
) -> None:
    dyno = await dynos()
    routes.add("app", [dyno])
    body = bytes(range(256)) * 400
    pipeline = (
        b"GET /one HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n"
        b"POST /two HTTP/1.1\r\nHost: app.tenku.localhost\r\nContent-Length: %d\r\n\r\n%s"
        b"GET /three HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n"
    ) % (len(body), body)
    answers = []
    async with raw(router.http_port) as conn:
        # All of it at once: the router holds what comes after the request in flight.
        await conn.send(pipeline)
        for _ in range(3):
            head = await conn.head()
            assert head.startswith(b"HTTP/1.1 200 ")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            answers.append(json.loads(await conn.exactly(length)))
    assert [a["path"] for a in answers] == ["/one", "/two", "/three"]
    assert answers[1]["body_sha256"] == hashlib.sha256(body).hexdigest()


async def test_a_head_request_gets_the_head_and_the_connection_goes_on(
    routes: Routes, dynos: Any, router: Router
) -> None:
    async def sized(call: DynoCall) -> None:
        await call.body()
        await call.respond(200, b"" if call.request.method == b"HEAD" else b"0123456789")

    dyno: Dyno = await dynos(handler=sized)
    routes.add("app", [dyno])
    async with raw(router.http_port) as conn:
        await conn.send(b"HEAD / HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n")
        head = await conn.head()
        assert head.startswith(b"HTTP/1.1 200 ")
        await conn.send(b"GET / HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n")
        head = await conn.head()
        assert b"content-length: 10" in head.lower()
        assert await conn.exactly(10) == b"0123456789"


async def test_expect_100_continue_goes_through_the_dyno(
    routes: Routes, dynos: Any, router: Router
) -> None:
    async def continuing(call: DynoCall) -> None:
        assert call.headers["expect"] == "100-continue"
        await call.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
        await call.respond(200, await call.body())

    routes.add("app", [await dynos(handler=continuing)])
    async with raw(router.http_port) as conn:
        await conn.send(
            b"PUT /upload HTTP/1.1\r\nHost: app.tenku.localhost\r\n"
            b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        # The body goes only once the dyno has said to send it.
        assert (await conn.head()).startswith(b"HTTP/1.1 100 ")
        await conn.send(b"hello")
        head = await conn.head()
        assert head.startswith(b"HTTP/1.1 200 ")
        assert await conn.exactly(5) == b"hello"


async def test_a_body_ended_by_the_dyno_closing_reaches_the_client_chunked(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    async def old_style(call: DynoCall) -> None:
        await call.body()
        call.writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        await call.writer.drain()

    target = routes.add("app", [await dynos(handler=old_style)])
    r = await client.get("/", headers=host("app"))
    assert r.status_code == 200
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.text == "until the end"
    [line] = await log.wait(target)
    assert (line["status"], line["bytes"]) == ("200", "13")


async def test_bodies_stay_intact_for_clients_that_read_slowly(
    routes: Routes, log: Log, dynos: Any
) -> None:
    """Reads from dynos share one buffer: what a slow client has not taken yet must not be
    overwritten by the next read, for it or for anyone else. The router's other processes
    run on uvloop, whose writes keep a view of what they could not send at once (the test
    loop's copy it); with a dozen connections over three processes, they serve some."""
    body = hashlib.sha256(b"seed").digest() * (4 * 1024 * 1024 // 32)
    digest = hashlib.sha256(body).hexdigest()

    async def big(call: DynoCall) -> None:
        await call.body()
        await call.respond(200, body)

    target = routes.add("app", [await dynos(handler=big)])
    router = Router(routes, log, processes=3)
    await router.start("127.0.0.1", 0, None)

    async def fetch(pause: float) -> str:
        async with raw(router.http_port) as conn:
            await conn.send(b"GET /big HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n")
            await conn.head()
            received = hashlib.sha256()
            left = len(body)
            while left:
                chunk = await conn.exactly(min(left, 64 * 1024))
                received.update(chunk)
                left -= len(chunk)
                # A client slower than the dyno: the router holds what it cannot take.
                await asyncio.sleep(pause)
            return received.hexdigest()

    try:
        await router.sync()
        digests = await asyncio.gather(*(fetch(0.001 * (i % 3)) for i in range(12)))
        assert set(digests) == {digest}
        await log.wait(target, 12)
        assert router.line_stats().delivered == 12
    finally:
        await router.stop()

"""The router over real loopback sockets: stand-in dynos behind it, real HTTP clients in front.

No database: the route table is a dict, and the dynos are small h11 servers (standins.py),
so each test controls exactly when a dyno answers, streams, stalls or hangs up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest

from tenku.config import Settings
from tenku.router import Backend, Router
from tenku.router.codes import H27
from tenku.router.logline import RequestRecord
from tenku.tls import client_ssl_context, server_ssl_context
from tests.router.standins import (
    WAIT,
    DynoCall,
    Log,
    Routes,
    closed_port,
    host,
    parse,
    raw,
)

# Routing


async def test_requests_go_to_the_app_named_by_the_host_header(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    one, two = await dynos("web.1"), await dynos("web.2")
    first, second = routes.add("first", [one]), routes.add("second", [two])

    r = await client.get("/hello?x=1", headers=host("first"))
    assert r.status_code == 200, r.text
    assert r.json()["dyno"] == "web.1"
    assert r.json()["path"] == "/hello?x=1"
    # Case and port do not matter to routing.
    r = await client.get("/", headers={"Host": "SECOND.tenku.localhost:8080"})
    assert r.json()["dyno"] == "web.2"
    assert [len(one.calls), len(two.calls)] == [1, 1]
    assert routes.asked[-1] == "second.tenku.localhost"
    assert len(await log.wait(first)) == 1
    assert len(await log.wait(second)) == 1


async def test_an_unknown_host_gets_the_no_such_app_page(
    routes: Routes, client: httpx.AsyncClient, log: Log
) -> None:
    r = await client.get("/", headers=host("nobody"))
    assert r.status_code == 404
    assert "<title>No such app</title>" in r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert log.lines == []


async def test_router_headers_reach_the_dyno(
    routes: Routes, dynos: Any, router: Router, client: httpx.AsyncClient
) -> None:
    routes.add("app", [await dynos()])
    given_id = "abcdefghij-0123456789+/="
    before = int(time.time() * 1000)
    r = await client.get(
        "/",
        headers={
            **host("app"),
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "gopher",
            "X-Request-Id": given_id,
            "Via": "1.0 corp-proxy",
            "Connection": "keep-alive, X-Private",
            "X-Private": "for the router only",
            "Keep-Alive": "timeout=5",
        },
    )
    after = int(time.time() * 1000)
    seen = r.json()["headers"]
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-port"] == str(router.http_port)
    assert seen["x-request-id"] == given_id
    assert before <= int(seen["x-request-start"]) <= after
    assert seen["via"] == "1.0 corp-proxy, 1.1 vegur"
    assert seen["connect-time"].isdigit()
    assert seen["total-route-time"].isdigit()
    assert seen["host"] == "app.tenku.localhost"
    # Hop-by-hop headers, including those the client's Connection header names, stop here.
    assert "x-private" not in seen
    assert "keep-alive" not in seen
    # The connection to the dyno is kept for its next request.
    assert "connection" not in seen
    assert r.headers["via"] == "1.1 vegur"

    for bad in ("too-short", "has spaces in it, which are not allowed", "x" * 201):
        r = await client.get("/", headers={**host("app"), "X-Request-Id": bad})
        replaced = r.json()["headers"]["x-request-id"]
        assert replaced != bad
        assert uuid.UUID(replaced).version == 4


async def test_requests_spread_across_web_dynos(
    routes: Routes, dynos: Any, client: httpx.AsyncClient
) -> None:
    one, two = await dynos("web.1"), await dynos("web.2")
    routes.add("app", [one, two])
    seen = [(await client.get("/", headers=host("app"))).json()["dyno"] for _ in range(40)]
    assert {"web.1", "web.2"} == set(seen)


async def test_session_affinity_keeps_a_client_on_its_dyno(
    routes: Routes, dynos: Any, router: Router
) -> None:
    one, two, three = await dynos("web.1"), await dynos("web.2"), await dynos("web.3")
    routes.add("app", [one, two, three], affinity=True)
    base = f"http://127.0.0.1:{router.http_port}"
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=WAIT) as browser:
        first = await browser.get("/", headers=host("app"))
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("heroku-session-affinity=")
        assert "Max-Age=86400" in cookie
        assert "HttpOnly" in cookie
        assert "Path=/" in cookie
        dyno = first.json()["dyno"]
        # The client keeps the cookie; the router does not set it again while it holds.
        for _ in range(15):
            r = await browser.get("/", headers=host("app"))
            assert r.json()["dyno"] == dyno
            assert "set-cookie" not in r.headers
            # The app sees the cookie too, as on Heroku.
            assert "heroku-session-affinity=" in r.json()["headers"]["cookie"]

        # Its dyno goes away: another one, and a cookie pointing there.
        rest = [d for d in (one, two, three) if d.name != dyno]
        routes.add("app", rest, affinity=True)
        moved = await browser.get("/", headers=host("app"))
        assert moved.json()["dyno"] in {d.name for d in rest}
        assert moved.headers["set-cookie"] != cookie
        for _ in range(5):
            r = await browser.get("/", headers=host("app"))
            assert r.json()["dyno"] == moved.json()["dyno"]

    # A forged or foreign value is just no cookie; without the feature there is none.
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=WAIT) as other:
        r = await other.get(
            "/", headers={**host("app"), "Cookie": "a=b; heroku-session-affinity=forged"}
        )
        assert r.headers["set-cookie"].startswith("heroku-session-affinity=")
        routes.add("plain", [one, two])
        seen = set()
        for _ in range(20):
            r = await other.get("/", headers=host("plain"))
            assert "set-cookie" not in r.headers
            seen.add(r.json()["dyno"])
        assert seen == {"web.1", "web.2"}


async def test_a_refused_connection_is_retried_on_another_dyno(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    live = await dynos("web.2")
    dead = Backend(dyno="web.1", host="127.0.0.1", port=closed_port())
    target = routes.add("app", (dead, live.backend))
    for _ in range(6):
        r = await client.get("/", headers=host("app"))
        assert r.status_code == 200
        assert r.json()["dyno"] == "web.2"
    lines = await log.wait(target, 6)
    assert {line["dyno"] for line in lines} == {"web.2"}


async def test_every_dyno_refusing_is_h21(
    routes: Routes, client: httpx.AsyncClient, log: Log
) -> None:
    dead = tuple(Backend(f"web.{i}", "127.0.0.1", closed_port()) for i in (1, 2))
    target = routes.add("app", dead)
    r = await client.get("/", headers=host("app"))
    assert r.status_code == 503
    assert "<title>Application Error</title>" in r.text
    [line] = await log.wait(target)
    assert line["code"] == "H21"
    assert line["desc"] == "Backend connection refused"
    assert line["dyno"] in ("web.1", "web.2")


# Streaming


async def test_response_bodies_stream_to_the_client(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    client_has_first = asyncio.Event()

    async def slow(call: DynoCall) -> None:
        await call.body()
        await call.send(h11.Response(status_code=200, headers=[], reason=b"OK"))
        await call.send(h11.Data(data=b"first chunk;"))
        # Only the client receiving the first chunk lets the rest go out.
        await client_has_first.wait()
        await call.send(h11.Data(data=b"second chunk"))
        await call.send(h11.EndOfMessage())

    target = routes.add("app", [await dynos(handler=slow)])
    got = b""
    async with client.stream("GET", "/events", headers=host("app")) as r:
        assert r.headers["transfer-encoding"] == "chunked"
        async for chunk in r.aiter_raw():
            got += chunk
            if got == b"first chunk;":
                client_has_first.set()
    assert got == b"first chunk;second chunk"
    [line] = await log.wait(target)
    assert line["bytes"] == str(len(got))


async def test_request_bodies_stream_to_the_dyno(
    routes: Routes, dynos: Any, client: httpx.AsyncClient
) -> None:
    dyno_has_first = asyncio.Event()

    async def reader(call: DynoCall) -> None:
        received = b""
        async for chunk in call.chunks():
            received += chunk
            if received.startswith(b"first;"):
                dyno_has_first.set()
        await call.respond(200, received)

    async def upload() -> AsyncIterator[bytes]:
        yield b"first;"
        # Only the dyno receiving the first part lets the client send the rest.
        await dyno_has_first.wait()
        yield b"second"

    routes.add("app", [await dynos(handler=reader)])
    r = await client.post("/upload", headers=host("app"), content=upload())
    assert r.status_code == 200
    assert r.content == b"first;second"


async def test_large_bodies_arrive_intact_both_ways(
    routes: Routes, dynos: Any, client: httpx.AsyncClient
) -> None:
    async def mirror(call: DynoCall) -> None:
        body = await call.body()
        await call.respond(200, body)

    routes.add("app", [await dynos(handler=mirror)])
    payload = bytes(range(256)) * 20000  # ~5 MB with a Content-Length
    r = await client.put("/blob", headers=host("app"), content=payload)
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(payload))
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(payload).digest()


async def test_keep_alive_serves_several_requests_on_one_connection(
    routes: Routes, dynos: Any, router: Router
) -> None:
    dyno = await dynos()
    routes.add("app", [dyno])
    request = b"GET /%d HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n"
    async with raw(router.http_port) as conn:
        for i in range(3):
            await conn.send(request % i)
            head = await conn.head()
            assert head.startswith(b"HTTP/1.1 200 ")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            assert json.loads(await conn.exactly(length))["path"] == f"/{i}"
    assert len(dyno.calls) == 3


# App states


async def test_maintenance_mode_answers_with_the_maintenance_page(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    dyno = await dynos()
    target = routes.add("app", [dyno], maintenance=True)
    r = await client.get("/", headers=host("app"))
    assert r.status_code == 503
    assert "<title>Offline for Maintenance</title>" in r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache, no-store"
    assert dyno.calls == []
    [line] = await log.wait(target)
    assert line["at"] == "info"
    assert line["code"] == "H80"
    assert line["desc"] == "Maintenance mode"
    assert [line["dyno"], line["connect"], line["service"], line["bytes"]] == ["", "", "", ""]
    assert line["status"] == "503"
    assert log.of(target)[0].startswith('at=info code=H80 desc="Maintenance mode" method=GET ')

    routes.add(
        "app", [dyno], maintenance=True, config={"MAINTENANCE_PAGE_URL": "https://x.test/m.html"}
    )
    r = await client.get("/", headers=host("app"))
    assert '<iframe src="https://x.test/m.html"></iframe>' in r.text


@pytest.mark.parametrize(
    ("web_state", "code", "desc", "status"),
    [
        ("none", "H14", "No web dynos running", 503),
        ("crashed", "H10", "App crashed", 503),
        ("blank", "H81", "Blank app", 502),
    ],
)
async def test_apps_without_a_running_web_dyno_get_an_error_page(
    routes: Routes,
    client: httpx.AsyncClient,
    log: Log,
    web_state: str,
    code: str,
    desc: str,
    status: int,
) -> None:
    target = routes.add("app", web_state=web_state)
    r = await client.get("/", headers=host("app"))
    assert r.status_code == status
    assert "<title>Application Error</title>" in r.text
    assert r.headers["cache-control"] == "no-cache, no-store"
    [line] = await log.wait(target)
    assert line["code"] == code
    assert line["desc"] == desc
    assert line["at"] == ("info" if code == "H81" else "error")
    assert line["status"] == str(status)
    assert log.of(target)[0].endswith(
        f"dyno= connect= service= status={status} bytes= protocol=http"
    )


async def test_the_error_page_url_config_var_replaces_the_page(
    routes: Routes, client: httpx.AsyncClient
) -> None:
    routes.add("app", web_state="crashed", config={"ERROR_PAGE_URL": "https://x.test/e?a=1&b=2"})
    r = await client.get("/", headers=host("app"))
    assert r.status_code == 503
    assert '<iframe src="https://x.test/e?a=1&amp;b=2"></iframe>' in r.text


async def test_a_request_waits_for_a_starting_dyno(
    routes: Routes, dynos: Any, make_router: Any, log: Log
) -> None:
    router = await make_router(boot_wait=WAIT)
    dyno = await dynos()
    target = routes.add("app", web_state="starting")

    async def boot() -> None:
        # Up only once the router has asked (and been told "starting") a few times.
        await routes.wait_asked(3)
        routes.add("app", [dyno])

    booting = asyncio.create_task(boot())
    async with httpx.AsyncClient(trust_env=False, timeout=WAIT * 2) as http:
        r = await http.get(f"http://127.0.0.1:{router.http_port}/", headers=host("app"))
    await booting
    assert r.status_code == 200
    assert r.json()["dyno"] == "web.1"
    [line] = await log.wait(target)
    assert line["status"] == "200"


async def test_a_dyno_that_never_boots_is_h20(routes: Routes, make_router: Any, log: Log) -> None:
    router = await make_router(boot_wait=0.5)
    target = routes.add("app", web_state="starting")
    async with httpx.AsyncClient(trust_env=False, timeout=WAIT) as http:
        r = await http.get(f"http://127.0.0.1:{router.http_port}/", headers=host("app"))
    assert r.status_code == 503
    [line] = await log.wait(target)
    assert (line["code"], line["desc"], line["status"]) == ("H20", "App boot timeout", "503")
    assert len(routes.asked) > 1


# Timeouts and interruptions


async def test_no_first_byte_in_time_is_h12(
    routes: Routes, dynos: Any, make_router: Any, log: Log
) -> None:
    router = await make_router(first_byte_timeout=0.3)

    async def stuck(call: DynoCall) -> None:
        await call.body()
        await asyncio.Event().wait()

    target = routes.add("app", [await dynos(handler=stuck)])
    async with httpx.AsyncClient(trust_env=False, timeout=WAIT) as http:
        r = await http.get(f"http://127.0.0.1:{router.http_port}/slow", headers=host("app"))
    assert r.status_code == 503
    assert "<title>Application Error</title>" in r.text
    [line] = await log.wait(target)
    assert (line["at"], line["code"], line["desc"]) == ("error", "H12", "Request timeout")
    assert (line["dyno"], line["status"], line["bytes"]) == ("web.1", "503", "0")
    assert line["service"].endswith("ms")


async def test_a_dyno_hanging_up_mid_response_is_h18(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    async def quitter(call: DynoCall) -> None:
        await call.body()
        head = [("Content-Length", "100")]
        await call.send(h11.Response(status_code=200, headers=head, reason=b"OK"))
        await call.send(h11.Data(data=b"0123456789"))

    target = routes.add("app", [await dynos(handler=quitter)])
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/", headers=host("app"))
    [line] = await log.wait(target)
    assert log.of(target)[0].startswith('sock=backend at=error code=H18 desc="Server Request')
    assert (line["status"], line["bytes"]) == ("503", "10")


async def test_a_dyno_going_quiet_mid_response_is_h15(
    routes: Routes, dynos: Any, make_router: Any, log: Log
) -> None:
    router = await make_router(idle_timeout=0.3)

    async def quiet(call: DynoCall) -> None:
        await call.body()
        await call.send(h11.Response(status_code=200, headers=[], reason=b"OK"))
        await call.send(h11.Data(data=b"partial"))
        await asyncio.Event().wait()

    target = routes.add("app", [await dynos(handler=quiet)])
    async with raw(router.http_port) as conn:
        await conn.send(b"GET / HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n")
        assert (await conn.head()).startswith(b"HTTP/1.1 200 ")
        # The router gives up on the dyno and ends the (unfinishable) chunked response.
        assert b"partial" in await conn.rest()
    [line] = await log.wait(target)
    assert (line["code"], line["desc"], line["bytes"]) == ("H15", "Idle connection", "7")


async def test_a_dyno_closing_without_answering_is_h13(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    async def mute(call: DynoCall) -> None:
        await call.body()

    target = routes.add("app", [await dynos(handler=mute)])
    r = await client.get("/", headers=host("app"))
    assert r.status_code == 503
    [line] = await log.wait(target)
    assert (line["code"], line["desc"]) == ("H13", "Connection closed without response")


async def test_a_client_hanging_up_is_h27(
    routes: Routes, dynos: Any, router: Router, log: Log
) -> None:
    dyno_has_request = asyncio.Event()

    async def thinker(call: DynoCall) -> None:
        await call.body()
        dyno_has_request.set()
        await asyncio.Event().wait()

    target = routes.add("app", [await dynos(handler=thinker)])
    async with raw(router.http_port) as conn:
        await conn.send(b"POST /submit HTTP/1.1\r\nHost: app.tenku.localhost\r\n")
        await conn.send(b"Content-Length: 5\r\n\r\nhello")
        async with asyncio.timeout(WAIT):
            await dyno_has_request.wait()
    [line] = await log.wait(target)
    assert log.of(target)[0].startswith(
        'sock=client at=warning code=H27 desc="Client Request Interrupted" method=POST '
    )
    assert (line["path"], line["dyno"], line["status"]) == ("/submit", "web.1", "499")


# Protocol edges


async def test_websocket_upgrade_pipes_bytes_both_ways(
    routes: Routes, dynos: Any, router: Router, log: Log
) -> None:
    async def websocket(call: DynoCall) -> None:
        assert call.headers["upgrade"] == "websocket"
        await call.body()
        switch = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        await call.send(
            h11.InformationalResponse(status_code=101, headers=switch, reason=b"Switching")
        )
        ahead, _ = call.conn.trailing_data
        if ahead:
            call.writer.write(ahead)
        while data := await call.reader.read(65536):
            call.writer.write(data)
            await call.writer.drain()

    target = routes.add("app", [await dynos(handler=websocket)])
    async with raw(router.http_port) as conn:
        await conn.send(
            b"GET /socket HTTP/1.1\r\nHost: app.tenku.localhost\r\n"
            b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await conn.head()
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"upgrade: websocket" in head.lower()
        for message in (b"ping-1", b"\x81\x05hello", b"x" * 70000):
            await conn.send(message)
            assert await conn.exactly(len(message)) == message
    [line] = await log.wait(target)
    assert (line["path"], line["status"], line["dyno"]) == ("/socket", "101", "web.1")


async def test_malformed_requests_get_400_and_the_connection_closes(
    routes: Routes, dynos: Any, router: Router, client: httpx.AsyncClient
) -> None:
    routes.add("app", [await dynos()])
    async with raw(router.http_port) as conn:
        await conn.send(b"THIS IS NOT HTTP\r\n\r\n")
        answer = await conn.rest()
    assert answer.startswith(b"HTTP/1.1 400 ")
    async with raw(router.http_port) as conn:
        await conn.send(
            b"GET / HTTP/1.1\r\nHost: app.tenku.localhost\r\nHost: other.tenku.localhost\r\n\r\n"
        )
        answer = await conn.rest()
    assert answer.startswith(b"HTTP/1.1 400 ")
    # The router is none the worse for it.
    r = await client.get("/", headers=host("app"))
    assert r.status_code == 200


async def test_an_unsupported_expect_header_is_h26(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    target = routes.add("app", [await dynos()])
    r = await client.get("/", headers={**host("app"), "Expect": "magic"})
    assert r.status_code == 417
    [line] = await log.wait(target)
    assert (line["code"], line["cause"]) == ("H26", "unsupported expect header value")


async def test_a_failing_log_callback_does_not_break_requests(
    routes: Routes, dynos: Any, make_router: Any, log: Log, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(app_id: uuid.UUID, message: str) -> None:
        raise RuntimeError("log store is down")

    routes.add("app", [await dynos()])
    router = Router(routes, broken)
    await router.start("127.0.0.1", 0, None)
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=WAIT) as http:
            for _ in range(2):
                r = await http.get(f"http://127.0.0.1:{router.http_port}/", headers=host("app"))
                assert r.status_code == 200
    finally:
        await router.stop()
    assert "router log callback failed" in caplog.text


# Log lines and HTTPS


async def test_log_lines_follow_herokus_format(
    routes: Routes, dynos: Any, client: httpx.AsyncClient, log: Log
) -> None:
    target = routes.add("app", [await dynos()])
    r = await client.post(
        "/posts?page=2&q=a%20b",
        headers={**host("app"), "X-Forwarded-For": "10.1.2.3"},
        content=b"hi",
    )
    assert r.status_code == 200
    [line] = await log.wait(target)
    assert line["at"] == "info"
    assert "code" not in line
    assert line["method"] == "POST"
    assert line["path"] == "/posts?page=2&q=a%20b"
    assert line["host"] == "app.tenku.localhost"
    assert line["request_id"] == r.json()["headers"]["x-request-id"]
    assert line["fwd"] == "10.1.2.3, 127.0.0.1"
    assert line["dyno"] == "web.1"
    assert re.fullmatch(r"\d+ms", line["connect"])
    assert re.fullmatch(r"\d+ms", line["service"])
    assert line["status"] == "200"
    assert line["bytes"] == str(len(r.content))
    assert line["protocol"] == "http"


@pytest.fixture
def tls_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")


async def test_https_listener(
    routes: Routes, dynos: Any, make_router: Any, log: Log, tls_settings: Settings
) -> None:
    router = await make_router(ssl_context=server_ssl_context(tls_settings))
    target = routes.add("app", [await dynos()])
    async with httpx.AsyncClient(
        verify=client_ssl_context(tls_settings), trust_env=False, timeout=WAIT
    ) as http:
        r = await http.get(f"https://127.0.0.1:{router.https_port}/secure", headers=host("app"))
    assert r.status_code == 200
    seen = r.json()["headers"]
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-port"] == str(router.https_port)
    [line] = await log.wait(target)
    assert (line["protocol"], line["path"], line["status"]) == ("https", "/secure", "200")


def test_log_fields_cannot_be_broken_by_what_clients_send() -> None:
    record = RequestRecord(
        method="GET",
        path='/a "quoted" path',
        host="evil host",
        request_id="id",
        fwd="1.2.3.4",
        protocol="http",
        error=H27,
        status=499,
    )
    line = record.line()
    assert line.startswith('sock=client at=warning code=H27 desc="Client Request Interrupted" ')
    fields = parse(line)
    assert fields["path"] == '/a \\"quoted\\" path'
    assert fields["host"] == "evil%20host"
    assert (fields["dyno"], fields["bytes"], fields["status"]) == ("", "", "499")

"""The router over real loopback sockets: stand-in dynos behind it, real HTTP clients in front.

No database: the route table is a dict, and the dynos are small h11 servers written here,
so each test controls exactly when a dyno answers, streams, stalls or hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest

from tenku.config import Settings
from tenku.router import Backend, Router, Target
from tenku.router.codes import H27
from tenku.router.logline import RequestRecord
from tenku.tls import client_ssl_context, server_ssl_context

WAIT = 10.0  # upper bound for anything a test waits for; never a measured duration
ORDER = [
    "at",
    "method",
    "path",
    "host",
    "request_id",
    "fwd",
    "dyno",
    "connect",
    "service",
    "status",
    "bytes",
    "protocol",
]
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


# Stand-in dynos


class DynoCall:
    """One request as a stand-in dyno sees it, with ways to answer it."""

    def __init__(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
    ) -> None:
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.request = request
        self.headers: dict[str, str] = {}
        for name, value in request.headers:
            key = name.decode()
            old = self.headers.get(key)
            self.headers[key] = f"{old}, {value.decode()}" if old else value.decode()

    async def event(self) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(65536))
                continue
            assert isinstance(event, h11.Event), event
            return event

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            event = await self.event()
            if isinstance(event, h11.EndOfMessage):
                return
            assert isinstance(event, h11.Data), event
            yield event.data

    async def body(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def respond(
        self, status: int = 200, body: bytes = b"", headers: list[tuple[str, str]] | None = None
    ) -> None:
        head = [("Content-Length", str(len(body))), *(headers or [])]
        await self.send(h11.Response(status_code=status, headers=head, reason=b"OK"))
        await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())


Handler = Callable[[DynoCall], Awaitable[None]]


class Dyno:
    """An HTTP server on 127.0.0.1 standing in for one web dyno."""

    def __init__(self, name: str, handler: Handler | None) -> None:
        self.name = name
        self.handler = handler or self.echo
        self.calls: list[DynoCall] = []
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    @property
    def backend(self) -> Backend:
        assert self.server is not None
        return Backend(
            dyno=self.name, host="127.0.0.1", port=self.server.sockets[0].getsockname()[1]
        )

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def echo(self, call: DynoCall) -> None:
        body = await call.body()
        answer = {
            "dyno": self.name,
            "method": call.request.method.decode(),
            "path": call.request.target.decode(),
            "headers": call.headers,
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        await call.respond(200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                    continue
                break
            if isinstance(event, h11.Request):
                call = DynoCall(conn, reader, writer, event)
                self.calls.append(call)
                await self.handler(call)
        except (OSError, h11.ProtocolError, asyncio.CancelledError):
            # Cancelled by stop(); ending normally keeps Python 3.11's start_server quiet.
            pass
        finally:
            self.tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


# The route table and the log


class Routes:
    """A RouteTable over a dict, changed by the tests as the platform would."""

    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self.asked: list[str] = []
        self.changed = asyncio.Event()

    async def lookup(self, host: str) -> Target | None:
        return self.find(host)

    def find(self, host: str) -> Target | None:
        self.asked.append(host)
        self.changed.set()
        return self.targets.get(host)

    async def wait_asked(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.asked) < count:
                self.changed.clear()
                await self.changed.wait()

    def add(
        self,
        name: str,
        dynos: list[Dyno] | tuple[Backend, ...] = (),
        *,
        web_state: str = "up",
        maintenance: bool = False,
        config: Mapping[str, str] | None = None,
        affinity: bool = False,
    ) -> Target:
        backends = tuple(d.backend if isinstance(d, Dyno) else d for d in dynos)
        old = self.targets.get(f"{name}.tenku.localhost")
        target = Target(
            app_id=old.app_id if old else uuid.uuid4(),
            app_name=name,
            maintenance=maintenance,
            backends=backends,
            web_state=web_state,
            config=dict(config or {}),
            affinity=affinity,
        )
        self.targets[f"{name}.tenku.localhost"] = target
        return target


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[uuid.UUID, str]] = []
        self.changed = asyncio.Event()

    def __call__(self, app_id: uuid.UUID, message: str) -> None:
        self.lines.append((app_id, message))
        self.changed.set()

    def of(self, target: Target) -> list[str]:
        return [message for app_id, message in self.lines if app_id == target.app_id]

    async def wait(self, target: Target, count: int = 1) -> list[dict[str, str]]:
        """The app's first `count` router lines, parsed, once they are all there."""
        async with asyncio.timeout(WAIT):
            while len(self.of(target)) < count:
                self.changed.clear()
                await self.changed.wait()
        return [parse(line) for line in self.of(target)]


def parse(line: str) -> dict[str, str]:
    pairs = FIELD.findall(line)
    # The pattern accounts for every character: nothing is outside a key=value field.
    assert " ".join(f"{k}={v}" for k, v in pairs) == line, line
    fields = {k: v[1:-1] if v.startswith('"') else v for k, v in pairs}
    keys = [k for k, _ in pairs if k in ORDER]
    assert keys == ORDER, line
    return fields


def closed_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# Fixtures


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


def host(name: str) -> dict[str, str]:
    return {"Host": f"{name}.tenku.localhost"}


class RawClient:
    """A plain socket client, for what httpx will not do (upgrades, hanging up, garbage)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def head(self) -> bytes:
        async with asyncio.timeout(WAIT):
            return await self.reader.readuntil(b"\r\n\r\n")

    async def exactly(self, n: int) -> bytes:
        async with asyncio.timeout(WAIT):
            return await self.reader.readexactly(n)

    async def rest(self) -> bytes:
        async with asyncio.timeout(WAIT):
            return await self.reader.read()


@contextlib.asynccontextmanager
async def raw(port: int | None) -> AsyncIterator[RawClient]:
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield RawClient(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


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

"""Large sized response bodies spliced from dyno to client (Linux): intact, counted and
logged, with both connections kept for the next request, held back for a slow client,
and ending as a body through the router's buffers ends when the dyno or the client
fails. The scenarios run on the test loop and on uvloop (the router's processes run on
it), with splicing on and, to show nothing changed, off."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import uvloop

from tenku.config import Settings
from tenku.router import Router, Target
from tenku.router import upstream as upstream_module
from tenku.router.splice import AVAILABLE, SPLICE_MIN, Splice
from tenku.tls import client_ssl_context, server_ssl_context
from tests.router.standins import WAIT, Dyno, DynoCall, Log, RawClient, Routes, host

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="splice(2) is Linux only")

MIB = 1024 * 1024
# A pattern with no period short enough for a shifted or repeated piece to compare equal.
BODY = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(4 * MIB // 32))
GET = b"GET %s HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n"


class Spliced:
    """Counts the bodies the router splices (the class stands in for Splice)."""

    count = 0

    def __init__(self) -> None:
        Spliced.count = 0

    @staticmethod
    def make(*args: Any, **kwargs: Any) -> Splice:
        Spliced.count += 1
        return Splice(*args, **kwargs)


@pytest.fixture
def spliced(monkeypatch: pytest.MonkeyPatch) -> type[Spliced]:
    Spliced()
    monkeypatch.setattr(upstream_module, "Splice", Spliced.make)
    return Spliced


Scenario = Callable[[], Awaitable[None]]


async def run(loop: str, scenario: Scenario) -> None:
    """Run `scenario` on the test loop, or on a uvloop of its own in a thread."""
    if loop == "asyncio":
        await scenario()
    else:
        await asyncio.to_thread(uvloop.run, scenario())


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[DynoCall], Awaitable[None]], **options: Any
) -> AsyncIterator[tuple[Router, Dyno, Target, Log]]:
    """A router on the running loop in front of one dyno with `handler`."""
    routes, log = Routes(), Log()
    dyno = Dyno("web.1", handler)
    await dyno.start()
    target = routes.add("app", [dyno])
    router = Router(routes, log, **options)
    await router.start("127.0.0.1", 0, None)
    try:
        yield router, dyno, target, log
    finally:
        await router.stop()
        await dyno.stop()


@contextlib.asynccontextmanager
async def connect(router: Router, rcvbuf: int | None = None) -> AsyncIterator[RawClient]:
    sock = socket.socket()
    if rcvbuf is not None:
        # Set before connecting, so the kernel never grows it: a client that reads slowly.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    assert router.http_port is not None
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", router.http_port))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        yield RawClient(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def length(head: bytes) -> int:
    found = re.search(rb"(?i)\r\ncontent-length: (\d+)\r\n", head)
    assert found is not None, head
    return int(found.group(1))


async def big_or_small(call: DynoCall) -> None:
    await call.body()
    if call.request.target == b"/big":
        await call.respond(200, BODY)
    else:
        await call.respond(200, b"small %d" % call.index)


LOOPS = ["asyncio", "uvloop"]


@pytest.mark.parametrize("loop", LOOPS)
async def test_large_bodies_arrive_whole_and_both_connections_carry_the_next_request(
    loop: str, spliced: type[Spliced]
) -> None:
    async def scenario() -> None:
        async with serving(big_or_small) as (router, dyno, target, log), connect(router) as conn:
            for path in (b"/big", b"/big", b"/small"):
                await conn.send(GET % path)
                head = await conn.head()
                assert head.startswith(b"HTTP/1.1 200 ")
                body = await conn.exactly(length(head))
                if path == b"/big":
                    assert body == BODY
                else:
                    assert body == b"small 2"
            # One connection each side carried all three: the dyno's third request came
            # on the connection that carried two spliced bodies.
            assert [call.index for call in dyno.calls] == [0, 1, 2]
            assert dyno.connections == 1
            lines = await log.wait(target, 3)
            assert [(line["status"], line["bytes"]) for line in lines] == [
                ("200", str(len(BODY))),
                ("200", str(len(BODY))),
                ("200", "7"),
            ]

    await run(loop, scenario)
    assert spliced.count == 2


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "buffers"])
@pytest.mark.parametrize("loop", LOOPS)
async def test_a_dyno_hanging_up_mid_body_is_h18_with_what_it_sent(
    loop: str, splice: bool, spliced: type[Spliced]
) -> None:
    part = len(BODY) // 3

    async def quitter(call: DynoCall) -> None:
        await call.body()
        head = [("Content-Length", str(len(BODY)))]
        await call.send(h11.Response(status_code=200, headers=head, reason=b"OK"))
        await call.send(h11.Data(data=BODY[:part]))
        # Returning mid-response: the stand-in closes the connection.

    async def scenario() -> None:
        async with serving(quitter, splice=splice) as (router, _, target, log):
            async with connect(router) as conn:
                await conn.send(GET % b"/big")
                head = await conn.head()
                assert head.startswith(b"HTTP/1.1 200 ")
                assert length(head) == len(BODY)
                # What the dyno sent, then the end of the connection.
                assert await conn.rest() == BODY[:part]
            [line] = await log.wait(target)
            assert (line["code"], line["status"], line["bytes"]) == ("H18", "503", str(part))

    await run(loop, scenario)
    assert spliced.count == (1 if splice else 0)


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "buffers"])
@pytest.mark.parametrize("loop", LOOPS)
async def test_a_dyno_going_quiet_mid_body_is_h15(
    loop: str, splice: bool, spliced: type[Spliced]
) -> None:
    part = MIB

    async def quiet(call: DynoCall) -> None:
        await call.body()
        head = [("Content-Length", str(len(BODY)))]
        await call.send(h11.Response(status_code=200, headers=head, reason=b"OK"))
        await call.send(h11.Data(data=BODY[:part]))
        await asyncio.Event().wait()

    async def scenario() -> None:
        async with serving(quiet, splice=splice, idle_timeout=0.3) as (router, _, target, log):
            async with connect(router) as conn:
                await conn.send(GET % b"/big")
                assert (await conn.head()).startswith(b"HTTP/1.1 200 ")
                assert await conn.rest() == BODY[:part]
            [line] = await log.wait(target)
            assert (line["code"], line["desc"], line["bytes"]) == (
                "H15",
                "Idle connection",
                str(part),
            )

    await run(loop, scenario)
    assert spliced.count == (1 if splice else 0)


def flood_size() -> int:
    """A body several times what the sockets between dyno and client can hold, however
    far the kernel grows their buffers (the dyno's and the router's send buffers, the
    router's receive buffer), plus the router's own megabyte."""
    most = [
        int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])
        for name in ("tcp_rmem", "tcp_wmem")
    ]
    in_flight = most[0] + 2 * most[1] + MIB
    return max(64 * MIB, -(-4 * in_flight // MIB) * MIB)


class Flood:
    """A dyno answering with `size` bytes, sent in pieces, counting what it got out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0
        self.piece = hashlib.sha256(b"flood").digest() * (256 * 1024 // 32)

    def body(self) -> bytes:
        return self.piece * (self.size // len(self.piece))

    async def __call__(self, call: DynoCall) -> None:
        await call.body()
        head = [("Content-Length", str(self.size))]
        await call.send(h11.Response(status_code=200, headers=head, reason=b"OK"))
        while self.sent < self.size:
            await call.send(h11.Data(data=self.piece))
            self.sent += len(self.piece)
        await call.send(h11.EndOfMessage())

    async def stalled(self) -> None:
        """Until the dyno's writes stop going anywhere (or it has sent everything)."""
        async with asyncio.timeout(WAIT):
            last = -1
            while self.sent != last and self.sent < self.size:
                last = self.sent
                await asyncio.sleep(0.2)


@pytest.mark.parametrize(
    ("loop", "splice"),
    [("asyncio", True), ("asyncio", False), ("uvloop", True)],
    ids=["asyncio-splice", "asyncio-buffers", "uvloop-splice"],
)
async def test_a_client_that_stops_reading_holds_the_dyno_back(
    loop: str, splice: bool, spliced: type[Spliced]
) -> None:
    """What the router holds for a slow client is bounded: the dyno's writes stop well
    short of the body (a router that kept reading would let all of it through), and
    once the client reads again the whole body arrives."""
    flood = Flood(flood_size())

    async def scenario() -> None:
        async with serving(flood, splice=splice) as (router, _, target, log):
            async with connect(router, rcvbuf=64 * 1024) as conn:
                await conn.send(GET % b"/flood")
                head = await conn.head()
                assert length(head) == flood.size
                await flood.stalled()
                # The kernel's socket buffers on the way and the router's own megabyte are
                # all that is in flight.
                assert flood.sent < flood.size // 2
                received = hashlib.sha256()
                left = flood.size
                while left:
                    chunk = await conn.exactly(min(left, MIB))
                    received.update(chunk)
                    left -= len(chunk)
                assert received.digest() == hashlib.sha256(flood.body()).digest()
            [line] = await log.wait(target)
            assert (line["status"], line["bytes"]) == ("200", str(flood.size))

    await run(loop, scenario)
    assert spliced.count == (1 if splice else 0)


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "buffers"])
async def test_a_client_that_stops_reading_for_too_long_is_h28(
    splice: bool, spliced: type[Spliced]
) -> None:
    flood = Flood(64 * MIB)

    options = {"splice": splice, "idle_timeout": 0.3}
    async with (
        serving(flood, **options) as (router, dyno, target, log),
        connect(router, rcvbuf=64 * 1024) as conn,
    ):
        await conn.send(GET % b"/flood")
        assert length(await conn.head()) == flood.size
        [line] = await log.wait(target)
        assert (line["code"], line["desc"]) == ("H28", "Client Connection Idle")
        # The dyno's connection, half through a body, is closed rather than kept.
        await dyno.wait_until(lambda: dyno.closed == 1)
    assert spliced.count == (1 if splice else 0)


async def test_small_bodies_and_https_clients_are_not_spliced(
    spliced: type[Spliced], tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    )
    small = BODY[: SPLICE_MIN // 2]

    async def answer(call: DynoCall) -> None:
        await call.body()
        await call.respond(200, BODY if call.request.target == b"/big" else small)

    routes, log = Routes(), Log()
    dyno = Dyno("web.1", answer)
    await dyno.start()
    routes.add("app", [dyno])
    router = Router(routes, log)
    await router.start("127.0.0.1", 0, 0, server_ssl_context(settings))
    try:
        async with httpx.AsyncClient(
            verify=client_ssl_context(settings), trust_env=False, timeout=WAIT
        ) as http:
            secure = await http.get(
                f"https://127.0.0.1:{router.https_port}/big", headers=host("app")
            )
            plain = await http.get(
                f"http://127.0.0.1:{router.http_port}/small", headers=host("app")
            )
        assert secure.content == BODY
        assert plain.content == small
    finally:
        await router.stop()
        await dyno.stop()
    assert spliced.count == 0

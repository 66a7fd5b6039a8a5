"""Large sized response bodies through the router: intact and logged, with both
connections kept for the next request, a slow client holding the dyno back (what the
router holds is bounded), and the ends a dyno or a client can put to one mid-body. A
response's head is read apart from its body (Upstream.get_buffer), so heads of several
reads are here too. Each scenario runs on the test loop and on uvloop, which the
router's processes run on."""

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
import pytest
import uvloop

from tenku.router import Router, Target
from tenku.router.upstream import HEAD_READ
from tests.router.standins import WAIT, Dyno, DynoCall, Log, RawClient, Routes

MIB = 1024 * 1024
# A pattern with no period short enough for a shifted or repeated piece to compare equal.
BODY = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(4 * MIB // 32))
GET = b"GET %s HTTP/1.1\r\nHost: app.tenku.localhost\r\n\r\n"


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
    loop: str,
) -> None:
    async def scenario() -> None:
        async with serving(big_or_small) as (router, dyno, target, log), connect(router) as conn:
            for path in (b"/big", b"/big", b"/small"):
                await conn.send(GET % path)
                head = await conn.head()
                assert head.startswith(b"HTTP/1.1 200 ")
                body = await conn.exactly(length(head))
                assert body == (BODY if path == b"/big" else b"small 2")
            # One connection each side carried all three.
            assert [call.index for call in dyno.calls] == [0, 1, 2]
            assert dyno.connections == 1
            lines = await log.wait(target, 3)
            assert [(line["status"], line["bytes"]) for line in lines] == [
                ("200", str(len(BODY))),
                ("200", str(len(BODY))),
                ("200", "7"),
            ]

    await run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
async def test_a_head_of_several_reads_then_its_body(loop: str) -> None:
    """A head longer than the router's first reads, and bodies that came with their head
    or after it, pass whole."""
    fields = [(f"X-Filler-{i}", "v" * 4000) for i in range(3 * HEAD_READ // 4000)]
    bodies = {b"/long-head": BODY[: 300 * 1024], b"/tiny": b"tiny", b"/medium": BODY[:HEAD_READ]}

    async def answer(call: DynoCall) -> None:
        await call.body()
        path = call.request.target
        await call.respond(200, bodies[path], fields if path == b"/long-head" else [])

    async def scenario() -> None:
        async with serving(answer) as (router, dyno, target, log), connect(router) as conn:
            for path, body in bodies.items():
                await conn.send(GET % path)
                head = await conn.head()
                assert head.startswith(b"HTTP/1.1 200 ")
                if path == b"/long-head":
                    assert len(head) > 2 * HEAD_READ
                    assert all(
                        b"\r\n%s: %s\r\n" % (k.encode(), v.encode()) in head for k, v in fields
                    )
                assert await conn.exactly(length(head)) == body
            assert dyno.connections == 1
            lines = await log.wait(target, len(bodies))
            assert [line["bytes"] for line in lines] == [str(len(b)) for b in bodies.values()]

    await run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
async def test_a_dyno_hanging_up_mid_body_is_h18_with_what_it_sent(loop: str) -> None:
    part = len(BODY) // 3

    async def quitter(call: DynoCall) -> None:
        await call.body()
        head = [("Content-Length", str(len(BODY)))]
        await call.send(h11.Response(status_code=200, headers=head, reason=b"OK"))
        await call.send(h11.Data(data=BODY[:part]))
        # Returning mid-response: the stand-in closes the connection.

    async def scenario() -> None:
        async with serving(quitter) as (router, _, target, log):
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


@pytest.mark.parametrize("loop", LOOPS)
async def test_a_dyno_going_quiet_mid_body_is_h15(loop: str) -> None:
    part = MIB

    async def quiet(call: DynoCall) -> None:
        await call.body()
        head = [("Content-Length", str(len(BODY)))]
        await call.send(h11.Response(status_code=200, headers=head, reason=b"OK"))
        await call.send(h11.Data(data=BODY[:part]))
        await asyncio.Event().wait()

    async def scenario() -> None:
        async with serving(quiet, idle_timeout=0.3) as (router, _, target, log):
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


@pytest.mark.skipif(not Path("/proc/sys/net/ipv4/tcp_rmem").exists(), reason="Linux only")
@pytest.mark.parametrize("loop", LOOPS)
async def test_a_client_that_stops_reading_holds_the_dyno_back(loop: str) -> None:
    """What the router holds for a slow client is bounded: the dyno's writes stop well
    short of the body (a router that kept reading would let all of it through), and
    once the client reads again the whole body arrives."""
    flood = Flood(flood_size())

    async def scenario() -> None:
        async with serving(flood) as (router, _, target, log):
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


@pytest.mark.parametrize("loop", LOOPS)
async def test_a_client_that_stops_reading_for_too_long_is_h28(loop: str) -> None:
    flood = Flood(64 * MIB)

    async def scenario() -> None:
        async with (
            serving(flood, idle_timeout=0.3) as (router, dyno, target, log),
            connect(router, rcvbuf=64 * 1024) as conn,
        ):
            await conn.send(GET % b"/flood")
            assert length(await conn.head()) == flood.size
            [line] = await log.wait(target)
            assert (line["code"], line["desc"]) == ("H28", "Client Connection Idle")
            # The dyno's connection, half through a body, is closed rather than kept.
            await dyno.wait_until(lambda: dyno.closed == 1)

    await run(loop, scenario)

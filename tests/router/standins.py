"""Stand-ins for what surrounds the router in tests: dynos (small h11 servers on loopback),
a route table over a dict, a log that records lines, and raw socket clients.

Each test controls exactly when a dyno answers, streams, stalls or hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any

import h11

from tenku.router import Backend, Target

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
        index: int = 0,
    ) -> None:
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.request = request
        # How many requests this connection carried before this one.
        self.index = index
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
    """An HTTP server on 127.0.0.1 standing in for one web dyno: HTTP/1.1 keep-alive, as
    app servers are, for as long as its handler answers requests whole."""

    def __init__(self, name: str, handler: Handler | None) -> None:
        self.name = name
        self.handler = handler or self.echo
        self.calls: list[DynoCall] = []
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        # Connections the router opened, and those that have ended since.
        self.connections = 0
        self.closed = 0
        self._changed = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Until `condition` holds; it is checked whenever a request or a connection
        comes or goes."""
        async with asyncio.timeout(WAIT):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

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
        self.connections += 1
        try:
            for index in itertools.count():
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await reader.read(65536))
                        continue
                    break
                if not isinstance(event, h11.Request):
                    break
                call = DynoCall(conn, reader, writer, event, index)
                self.calls.append(call)
                self._changed.set()
                await self.handler(call)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (OSError, h11.ProtocolError, asyncio.CancelledError):
            # Cancelled by stop(); ending normally keeps Python 3.11's start_server quiet.
            pass
        finally:
            self.tasks.discard(task)
            self.closed += 1
            self._changed.set()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


# The route table and the log


class Routes:
    """A RouteTable over a dict, changed by the tests as the platform would; a RouteFeed
    too, for routers with processes of their own (changes made through `add` and
    `route` reach them)."""

    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self.asked: list[str] = []
        self.changed = asyncio.Event()
        self.watchers: list[Callable[[Collection[uuid.UUID] | None], None]] = []

    def hosts(self) -> dict[str, uuid.UUID]:
        return {host: target.app_id for host, target in self.targets.items()}

    def target(self, app_id: uuid.UUID) -> Target | None:
        return next((t for t in self.targets.values() if t.app_id == app_id), None)

    def watch(self, changed: Callable[[Collection[uuid.UUID] | None], None]) -> None:
        self.watchers.append(changed)

    def route(self, host: str, target: Target) -> None:
        """Route `host` (a custom domain) to `target`'s app too."""
        self.targets[host] = target
        for changed in self.watchers:
            changed(None)

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
        self.route(f"{name}.tenku.localhost", target)
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

"""Bursts of dyno output through the runtime's log writer to tails and drains.

A consumer that keeps up gets every line, in order; one that stalls is told, in its own
stream, exactly how many lines it lost (Heroku's L10 line), and the dynos never wait for
it. Waits here are upper bounds against a hang only.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tenku.config import Settings
from tenku.db.models import LogLine
from tenku.logs import store
from tenku.logs.drains import DrainForwarder
from tenku.logs.store import Entry
from tenku.router import Backend
from tenku.runtime import dynos as dyno_manager
from tenku.runtime.dynos import DynoManager
from tenku.runtime.rendezvous import Attachment
from tenku.runtime.scheduler import AppState
from tenku.storage.blobs import DirectoryBlobStore
from tests.conftest import ApiClient, User
from tests.logs.test_drains import HTTP, HttpReceiver, add_drain, syslog, unframe, until

BURST = 10_000
L10 = re.compile(
    r"^Error L10 \(output buffer overflow\): (\d+) messages dropped since "
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\.$"
)
LINE = re.compile(r"^\S+ (\w+)\[([\w.]+)\]: (.*)$")


class NullScheduler:
    """Runs nothing: the lines come from the test, through the manager's log writer."""

    def __init__(self, manager: DynoManager) -> None:
        pass

    async def recover(self) -> None:
        pass

    async def apply(self, state: AppState) -> None:
        pass

    async def remove(self, app_id: uuid.UUID) -> None:
        pass

    def apps(self) -> set[uuid.UUID]:
        return set()

    def backends(self, app_id: uuid.UUID) -> tuple[Backend, ...]:
        return ()

    def web_state(self, app_id: uuid.UUID) -> str:
        return "none"

    async def attachment(self, app_id: uuid.UUID, dyno_id: uuid.UUID) -> Attachment | None:
        return None

    async def close(self) -> None:
        pass


def writer(settings: Settings, api: ApiClient) -> DynoManager:
    blobs = DirectoryBlobStore(settings.data_dir / "blobs")
    return DynoManager(settings, api.database, blobs, NullScheduler, "test")


async def burst(
    manager: DynoManager, app_id: uuid.UUID, first: int, count: int, width: int = 0
) -> None:
    """`count` lines of one dyno, all logged before the writer writes any."""
    for i in range(first, first + count):
        manager.log(app_id, "app", "run.1", f"burst {i} ".ljust(width, ".").rstrip())
    await manager.flush()


def expected(first: int, count: int, width: int = 0) -> list[str]:
    return [f"burst {i} ".ljust(width, ".").rstrip() for i in range(first, first + count)]


def dropped(message: str) -> int | None:
    m = L10.match(message)
    return int(m.group(1)) if m else None


class Tail:
    """A log session's stream, read by driving the API's ASGI app like a server would.

    With `stall_on`, the client stops reading once a chunk holding that text arrives:
    the server's next write waits until `resume`, as it would on a full socket.
    """

    def __init__(self, api: ApiClient, path: str, accept: str, stall_on: str | None = None):
        self.app = api.http._transport.app  # type: ignore[attr-defined]
        self.path = path
        self.accept = accept
        self.stall_on = stall_on
        self.chunks: list[bytes] = []
        self.stalled = asyncio.Event()
        self.resume = asyncio.Event()
        self.changed = asyncio.Event()
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> Tail:
        self.task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        self.done.set()
        self.resume.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 20)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()

    def messages(self) -> list[tuple[str, str, str]]:
        """(source, dyno, message) of every line received, in order."""
        if self.accept == "text/event-stream":
            raw = []
            for block in self.text.split("\n\n"):
                for line in block.splitlines():
                    if line.startswith("data: "):
                        raw.append(line[len("data: ") :])
        else:
            raw = self.text.splitlines()
        out = []
        for line in raw:
            m = LINE.match(line)
            assert m, line
            out.append((m.group(1), m.group(2), m.group(3)))
        return out

    async def wait_for(self, text: str) -> None:
        async with asyncio.timeout(60):
            while text not in self.text:
                await self.changed.wait()
                self.changed.clear()

    async def _run(self) -> None:
        first = True

        async def receive() -> dict[str, Any]:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b"", "more_body": False}
            await self.done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200
                return
            if message["type"] != "http.response.body":
                return
            self.chunks.append(message.get("body", b""))
            self.changed.set()
            if self.stall_on is not None and self.stall_on.encode() in self.chunks[-1]:
                self.stall_on = None
                self.stalled.set()
                await self.resume.wait()

        url = httpx.URL(self.path)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:5000"), (b"accept", self.accept.encode())],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 5000),
        }
        await self.app(scope, receive, send)


async def tail_path(user: User, app: dict[str, Any], lines: int) -> str:
    r = await user.post(f"/apps/{app['name']}/log-sessions", json={"tail": True, "lines": lines})
    assert r.status_code == 201, r.text
    return httpx.URL(r.json()["logplex_url"]).raw_path.decode()


ACCEPTS = pytest.mark.parametrize("accept", ["*/*", "text/event-stream"], ids=["plain", "sse"])


@ACCEPTS
async def test_a_burst_reaches_a_tail_that_keeps_up_whole_and_in_order(
    alice: User, api: ApiClient, settings: Settings, accept: str
) -> None:
    app = await alice.create_app()
    app_id = uuid.UUID(app["id"])
    manager = writer(settings, api)
    manager.log(app_id, "app", "run.1", "ready")
    await manager.flush()
    tail = Tail(api, await tail_path(alice, app, 1), accept).start()
    try:
        # Once the backlog is out, the session has its position.
        await tail.wait_for("ready")
        await burst(manager, app_id, 0, BURST)
        await tail.wait_for(f"burst {BURST - 1}")
    finally:
        await tail.stop()
    got = [m for _, _, m in tail.messages()]
    assert got == ["ready", *expected(0, BURST)]


@ACCEPTS
async def test_a_stalled_tail_is_told_exactly_what_it_missed(
    alice: User,
    api: ApiClient,
    settings: Settings,
    accept: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store, "KEEP", 1000)
    app = await alice.create_app()
    app_id = uuid.UUID(app["id"])
    manager = writer(settings, api)
    await burst(manager, app_id, 0, 1)
    tail = Tail(api, await tail_path(alice, app, 1), accept, stall_on="burst 0").start()
    try:
        async with asyncio.timeout(20):
            await tail.stalled.wait()
        # The writer goes on while the tail reads nothing: 3,000 lines, 1,000 kept.
        await burst(manager, app_id, 1, 1000)
        await burst(manager, app_id, 1001, 2000)
        tail.resume.set()
        await tail.wait_for("burst 3000")
    finally:
        await tail.stop()
    got = tail.messages()
    assert got[0] == ("app", "run.1", "burst 0")
    source, dyno, message = got[1]
    assert (source, dyno, dropped(message)) == ("heroku", "logplex", 2000)
    assert [m for _, _, m in got[2:]] == expected(2001, 1000)


async def test_a_tail_with_filters_counts_every_line_it_lost(
    alice: User, api: ApiClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trimmed lines are gone, matching or not: a filtered session counts all of them."""
    monkeypatch.setattr(store, "KEEP", 100)
    app = await alice.create_app()
    app_id = uuid.UUID(app["id"])
    manager = writer(settings, api)
    manager.log(app_id, "app", "web.1", "web before")
    await manager.flush()
    r = await alice.post(
        f"/apps/{app['name']}/log-sessions", json={"tail": True, "lines": 1, "dyno": "web"}
    )
    path = httpx.URL(r.json()["logplex_url"]).raw_path.decode()
    tail = Tail(api, path, "*/*", stall_on="web before").start()
    try:
        async with asyncio.timeout(20):
            await tail.stalled.wait()
        for i in range(300):
            manager.log(app_id, "app", "web.1" if i % 3 == 0 else "worker.1", f"line {i}")
        await manager.flush()
        tail.resume.set()
        await tail.wait_for("line 297")
    finally:
        await tail.stop()
    got = tail.messages()
    assert dropped(got[1][2]) == 200
    assert [m for _, _, m in got[2:]] == [f"line {i}" for i in range(200, 300) if i % 3 == 0]


async def test_a_burst_reaches_drains_that_keep_up_whole_and_in_order(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    app = await alice.create_app()
    app_id = uuid.UUID(app["id"])
    http = HttpReceiver()
    server = await asyncio.start_server(http.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    manager = writer(settings, api)
    try:
        async with syslog() as receiver:
            await add_drain(alice, app, f"syslog://127.0.0.1:{receiver.port}")
            await add_drain(alice, app, f"http://127.0.0.1:{port}/logs")
            forwarder = DrainForwarder(settings, api.database)
            try:
                # The drains' positions are set before the burst.
                await forwarder.run_once()
                await burst(manager, app_id, 0, BURST, width=100)
                await forwarder.run_once()
            finally:
                await forwarder.stop()
            await until(receiver.arrived, lambda: len(receiver.frames) >= BURST)
            by_syslog = receiver.messages()
    finally:
        server.close()
        await server.wait_closed()
    assert by_syslog == expected(0, BURST, width=100)
    by_http = []
    for _, headers, body in http.requests:
        frames = unframe(body)
        assert int(headers["logplex-msg-count"]) == len(frames)
        for f in frames:
            m = HTTP.match(f.decode())
            assert m, f
            by_http.append(m.group(4).rstrip("\n"))
        # About 100 kB a post, as logplex sends them.
        assert len(body) < 105_000
    assert by_http == expected(0, BURST, width=100)


class StalledSink:
    """A drain that takes its first batch and then holds the delivery until `resume`."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str, str]]] = []
        self.stalled = asyncio.Event()
        self.resume = asyncio.Event()

    async def deliver(self, lines: Sequence[Entry]) -> None:
        self.batches.append([(line.source, line.dyno, line.message) for line in lines])
        if len(self.batches) == 1:
            self.stalled.set()
            await self.resume.wait()

    async def close(self) -> None:
        pass


async def test_a_stalled_drain_is_told_exactly_what_it_missed_and_blocks_no_one(
    alice: User, api: ApiClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "KEEP", 1000)
    app = await alice.create_app()
    app_id = uuid.UUID(app["id"])
    await add_drain(alice, app, "syslog://127.0.0.1:9")
    forwarder = DrainForwarder(settings, api.database)
    sink = StalledSink()
    monkeypatch.setattr(forwarder, "sink", lambda drain: sink)
    manager = writer(settings, api)
    try:
        await forwarder.run_once()
        await burst(manager, app_id, 0, 10)
        serving = asyncio.create_task(forwarder.run_once())
        async with asyncio.timeout(20):
            await sink.stalled.wait()
        # The writer stores 5,000 more lines while the drain holds its delivery.
        for first in range(10, 5010, 1000):
            await burst(manager, app_id, first, 1000)
        async with api.database.session(write=False) as db:
            kept = (
                await db.execute(select(func.count()).where(LogLine.app_id == app_id))
            ).scalar_one()
        assert kept == 1000
        assert not serving.done()
        sink.resume.set()
        await asyncio.wait_for(serving, 20)
    finally:
        await forwarder.stop()
    got = [line for batch in sink.batches for line in batch]
    assert [m for _, _, m in got[:10]] == expected(0, 10)
    assert got[10][:2] == ("heroku", "logplex")
    assert dropped(got[10][2]) == 4000
    assert [m for _, _, m in got[11:]] == expected(4010, 1000)
    assert len(got) - 1 + 4000 == 5010


async def test_the_writer_never_waits_and_counts_what_it_cannot_hold(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    app = await alice.create_app()
    app_id = uuid.UUID(app["id"])
    manager = writer(settings, api)
    over = 500
    # No write happens in between: the writer keeps its bound and counts the rest.
    for i in range(dyno_manager.MAX_PENDING_LINES + over):
        manager.log(app_id, "app", "run.1", f"burst {i}")
    await manager.flush()
    async with api.database.session(write=False) as db:
        lines = await store.read(db, app_id, lines=2)
    assert lines[0].message == f"burst {dyno_manager.MAX_PENDING_LINES - 1}"
    assert (lines[1].source, lines[1].dyno) == ("heroku", "logplex")
    assert dropped(lines[1].message) == over


async def test_lines_whose_write_failed_are_written_later_or_counted(
    alice: User, api: ApiClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await alice.create_app()
    app_id = uuid.UUID(app["id"])
    manager = writer(settings, api)
    real = store.append_many
    refusals = 0

    async def refuse(*args: Any) -> None:
        nonlocal refusals
        refusals += 1
        raise RuntimeError("database away")

    monkeypatch.setattr(store, "append_many", refuse)
    await burst_expecting_failure(manager, app_id, 0, 5)
    monkeypatch.setattr(store, "append_many", real)
    # A NUL byte (PostgreSQL text cannot hold one) fails nothing either.
    manager.log(app_id, "app", "run.1", "nul \x00 byte")
    await manager.flush()
    async with api.database.session(write=False) as db:
        lines = await store.read(db, app_id, lines=6)
    assert [line.message for line in lines] == [*expected(0, 5), "nul \ufffd byte"]

    # Lines the database refuses again and again are given up, counted and announced.
    monkeypatch.setattr(store, "append_many", refuse)
    refusals = 0
    await burst_expecting_failure(manager, app_id, 5, 5)
    while refusals < dyno_manager.WRITE_ATTEMPTS:
        with pytest.raises(RuntimeError):
            await manager.flush()
    monkeypatch.setattr(store, "append_many", real)
    await burst(manager, app_id, 10, 1)
    async with api.database.session(write=False) as db:
        lines = await store.read(db, app_id, lines=2)
    assert lines[0].message == "burst 10"
    assert dropped(lines[1].message) == 5


async def burst_expecting_failure(
    manager: DynoManager, app_id: uuid.UUID, first: int, count: int
) -> None:
    for i in range(first, first + count):
        manager.log(app_id, "app", "run.1", f"burst {i}")
    with pytest.raises(RuntimeError):
        await manager.flush()

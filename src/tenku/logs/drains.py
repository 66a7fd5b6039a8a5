"""Delivering each app's log stream to its drains, the way logplex does.

Delivery runs only in the runtime. Each drain is served by a task of its own, started by
a pass (on a timer, or woken when the runtime has written lines): it reads the stream
after the drain's position (`drain_cursors`) a page at a time, delivers the page, records
the new position, and reads on until it has caught up. So a slow or dead drain holds up
no dyno, no other drain and no API worker, and holds at most one page in memory (plus,
for syslog, what the kernel queues for its connection: TCP_SNDBUF); its backlog is the
app's kept stream (store.KEEP lines). A drain further behind than that loses the oldest
lines, and its next delivery starts with an L10 line that counts them; so does the first
delivery after a batch it refused. A batch that fails otherwise is retried, with
back-off, from the same position; what a failed connection had already queued may then
arrive twice.

TLS drains (`syslog+tls://`, `https://`) verify the receiver's certificate and hostname
against the system CAs plus Tenku's own CA (`<data>/tls/ca.pem`) when there is one, so a
receiver with a certificate issued by that CA works without further setup.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import socket
import ssl
import struct
import termios
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select, update

from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.models import DrainCursor, LogDrain, LogLine
from tenku.egress import REFUSED, EgressPolicy, EgressRefused
from tenku.logs import store
from tenku.logs.store import Entry, LogSink
from tenku.loops import WAKE_GAP, Passes, Periodic

log = logging.getLogger("tenku.drains")

# A drain that has caught up looks for new lines this often, or when woken.
POLL_INTERVAL = 0.5
# A syslog drain's connection stays open between deliveries (a new one beside one whose
# last bytes are still on their way would let lines overtake each other) until it has
# been idle this long.
IDLE_CLOSE = 60.0
# Logplex: TCP writes of about 4 KB with a 4 s send timeout; HTTP posts up to about
# 100 KB, 3 s to connect and 5 s per request; 3 attempts per HTTP batch.
TCP_CHUNK = 4096
TCP_TIMEOUT = 4.0
# The kernel's send buffer for a syslog drain (Linux doubles it). Left alone, Linux grows
# it to megabytes, and a socket only becomes writable again once half of what it queued
# is sent: lines would pile up out of sight, and a receiver reading slowly but steadily
# would seem to take nothing for seconds.
TCP_SNDBUF = 128 * 1024
HTTP_TARGET = 102400
# What an HTTP drain's frame adds to a message: its length, PRI, stamp, names.
HTTP_FRAME = 64
HTTP_CONNECT_TIMEOUT = 3.0
HTTP_TIMEOUT = 5.0
HTTP_ATTEMPTS = 3
SYSLOG_BACKOFF_CAP = 300.0
HTTP_BACKOFF_CAP = 5.0
SYSLOG_PORTS = {"syslog": 601, "syslog+tcp": 601, "tcpsyslog": 601, "syslog+tls": 6514}
USER_AGENT = "Logplex/tenku"

# local7.info for app output, local3.info for the router, syslog.notice for the platform,
# as Heroku's drains show them; logplex's own L10 lines are local5.warning.
PRI = {"app": 190, "router": 158}
PLATFORM_PRI = 45
LOGPLEX_PRI = 172


class DeliveryError(Exception):
    """Lines were not delivered; `permanent` ones must not be sent again."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _pri(line: Entry) -> int:
    if line.source == "app":
        return PRI["app"]
    if line.dyno == "router":
        return PRI["router"]
    if store.is_overflow(line):
        return LOGPLEX_PRI
    return PLATFORM_PRI


def frame(message: bytes) -> bytes:
    """RFC 6587 octet counting: the byte length, a space, then the message."""
    return str(len(message)).encode() + b" " + message


def syslog_message(line: Entry, token: str) -> bytes:
    """The RFC 5424 message a syslog drain receives; the drain token is the hostname."""
    text = line.message if line.message.endswith("\n") else line.message + "\n"
    head = f"<{_pri(line)}>1 {_stamp(line.created_at)} {token} {line.source} {line.dyno} - - "
    return (head + text).encode()


def http_message(line: Entry) -> bytes:
    """The message in an HTTP drain's body: hostname `host` and no STRUCTURED-DATA field."""
    text = line.message
    # Dyno output arrives with its newline; platform lines are written without one.
    if line.source == "app" and not text.endswith("\n"):
        text += "\n"
    head = f"<{_pri(line)}>1 {_stamp(line.created_at)} host {line.source} {line.dyno} - "
    return (head + text).encode()


def trust(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    own_ca = ca_file(settings)
    if own_ca.is_file():
        context.load_verify_locations(cafile=str(own_ca))
    return context


def _queued(writer: asyncio.StreamWriter) -> int:
    """Bytes written to the connection that the receiver has not taken yet."""
    queued = writer.transport.get_write_buffer_size()
    sock = writer.get_extra_info("socket")
    if sock is not None and hasattr(termios, "TIOCOUTQ"):
        with contextlib.suppress(OSError):
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            queued += int(struct.unpack("i", raw)[0])
    return queued


async def _drain(writer: asyncio.StreamWriter) -> None:
    """Wait until the connection takes more; TimeoutError once the receiver has taken
    nothing for TCP_TIMEOUT. One that reads slowly but steadily is no failure."""
    while True:
        before = _queued(writer)
        try:
            await asyncio.wait_for(writer.drain(), TCP_TIMEOUT)
            return
        except TimeoutError:
            if _queued(writer) >= before:
                raise


class SyslogSink:
    """Octet-counted RFC 5424 frames over TCP or TLS, on one connection until it fails
    or is closed."""

    def __init__(
        self, url: str, token: str, tls: ssl.SSLContext | None, egress: EgressPolicy
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or SYSLOG_PORTS.get(parts.scheme, 601)
        self.token = token
        self.tls = tls
        self.egress = egress
        self._writer: asyncio.StreamWriter | None = None

    async def deliver(self, lines: Sequence[Entry]) -> None:
        data = b"".join(frame(syslog_message(line, self.token)) for line in lines)
        try:
            writer = self._writer
            if writer is None:
                _, opened = await asyncio.wait_for(
                    self.egress.open_connection(self.host, self.port, self.tls), TCP_TIMEOUT
                )
                sock = opened.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, TCP_SNDBUF)
                writer = self._writer = opened
            for i in range(0, len(data), TCP_CHUNK):
                writer.write(data[i : i + TCP_CHUNK])
                await _drain(writer)
        except EgressRefused as exc:
            await self.close()
            raise DeliveryError(f"{self.host}:{self.port}: {REFUSED}") from exc
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            # What the old connection still queues is delivered: the batch may arrive
            # twice, never not at all.
            await self.close()
            raise DeliveryError(f"{self.host}:{self.port}: {exc!r}") from exc

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), TCP_TIMEOUT)


class HttpSink:
    """Batched `application/logplex-1` POSTs; a batch keeps its Frame-Id on every retry."""

    def __init__(self, url: str, token: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.token = token
        self.client = client

    async def deliver(self, lines: Sequence[Entry]) -> None:
        body = b"".join(frame(http_message(line)) for line in lines)
        # Derived from the batch, so a retry (even after a restart) carries the same id.
        seed = f"{self.token}:{lines[0].seq}:{lines[-1].seq}".encode()
        headers = {
            "Content-Type": "application/logplex-1",
            "Logplex-Msg-Count": str(len(lines)),
            "Logplex-Frame-Id": hashlib.md5(seed, usedforsecurity=False).hexdigest().upper(),
            "Logplex-Drain-Token": self.token,
            "User-Agent": USER_AGENT,
        }
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except EgressRefused as exc:
            raise DeliveryError(f"{self.url}: {REFUSED}") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{self.url}: {exc!r}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        raise DeliveryError(
            f"{self.url}: HTTP {status}", permanent=400 <= status < 500 and status != 429
        )

    async def close(self) -> None:
        # The client, and its kept-alive connections, belong to the forwarder.
        pass


@dataclass
class _Backoff:
    failures: int = 0
    not_before: float = 0.0
    # Attempts at the HTTP batch starting after `batch_after`.
    batch_after: int = -1
    attempts: int = 0


@dataclass(frozen=True)
class _Drain:
    id: uuid.UUID
    app_id: uuid.UUID
    url: str
    token: str
    created_at: datetime


@dataclass(frozen=True)
class _Place:
    """A drain's cursor row: where it is, when its last delivered line was written, and
    how many lines it lost that it has not been told of."""

    position: int
    delivered_at: datetime | None
    lost: int


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


def _delivered(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https", *SYSLOG_PORTS)


class DrainForwarder(Periodic):
    """Delivers every app's new log lines to its drains, each drain at its own pace."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        poll_interval: float = POLL_INTERVAL,
        page: int = store.PAGE,
    ) -> None:
        self.settings = settings
        self.db = db
        self.page = page
        self._tls = trust(settings)
        self._egress = EgressPolicy.of(settings)
        self._client = self._egress.client(
            verify=self._tls,
            timeout=httpx.Timeout(HTTP_TIMEOUT, connect=HTTP_CONNECT_TIMEOUT),
            follow_redirects=False,
        )
        self._backoff: dict[uuid.UUID, _Backoff] = {}
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        # Each drain's sink, and when it was last used (monotonic).
        self._sinks: dict[uuid.UUID, tuple[LogSink, float]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._passes = Passes(
            "tenku-drains",
            self._dispatch,
            poll_interval,
            logger=log,
            failure="log drain delivery pass failed",
            gap=WAKE_GAP,
        )

    # --- lifecycle ----------------------------------------------------------------

    async def stop(self) -> None:
        await super().stop()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for drain_id in list(self._sinks):
            self._close_sink(drain_id)
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self._client.aclose()

    # --- passes -------------------------------------------------------------------

    def sink(self, drain: _Drain) -> LogSink:
        scheme = urlsplit(drain.url).scheme
        if scheme in ("http", "https"):
            return HttpSink(drain.url, drain.token, self._client)
        tls = self._tls if scheme == "syslog+tls" else None
        return SyslogSink(drain.url, drain.token, tls, self._egress)

    async def run_once(self, *, ignore_backoff: bool = False) -> None:
        """Serve every drain that is due until it has caught up or failed, and wait."""
        started = await self._dispatch(ignore_backoff=ignore_backoff)
        await asyncio.gather(*started, return_exceptions=True)

    async def _dispatch(self, *, ignore_backoff: bool = False) -> list[asyncio.Task[None]]:
        """Start serving each drain that is due and not being served already."""
        # A drain served while its cursor is read may save a newer position meanwhile:
        # it waits for the next pass rather than start again from the older one.
        busy = set(self._tasks)
        async with self.db.session(write=False) as db:
            rows = (
                await db.execute(
                    select(
                        LogDrain.id,
                        LogDrain.app_id,
                        LogDrain.url,
                        LogDrain.token,
                        LogDrain.created_at,
                        DrainCursor.last_seq,
                        DrainCursor.delivered_at,
                        DrainCursor.lost,
                    ).outerjoin(DrainCursor, DrainCursor.drain_id == LogDrain.id)
                )
            ).all()
        live = {r[0] for r in rows}
        for gone in set(self._backoff) - live:
            del self._backoff[gone]
        for gone in set(self._tasks) - live:
            self._tasks.pop(gone).cancel()
        now = time.monotonic()
        for drain_id, (_, used) in list(self._sinks.items()):
            if drain_id not in self._tasks and (drain_id not in live or now - used > IDLE_CLOSE):
                self._close_sink(drain_id)
        started = []
        for r in rows:
            drain = _Drain(r[0], r[1], r[2], r[3], r[4])
            place = None if r[5] is None else _Place(r[5], r[6], r[7])
            if drain.id in busy or drain.id in self._tasks or not _delivered(drain.url):
                continue
            if not ignore_backoff and self._backoff.get(drain.id, _Backoff()).not_before > now:
                continue
            task = asyncio.create_task(self._run(drain, place), name=f"tenku-drain-{drain.id}")
            self._tasks[drain.id] = task
            started.append(task)
        return started

    def _close_sink(self, drain_id: uuid.UUID) -> None:
        sink, _ = self._sinks.pop(drain_id)
        closing = asyncio.create_task(sink.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _run(self, drain: _Drain, place: _Place | None) -> None:
        try:
            await self._serve(drain, place)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("log drain %s: delivery failed", drain.id)
        finally:
            if self._tasks.get(drain.id) is asyncio.current_task():
                del self._tasks[drain.id]

    # --- one drain ----------------------------------------------------------------

    async def _serve(self, drain: _Drain, place: _Place | None) -> None:
        """Deliver page after page until the drain has caught up, or a delivery fails."""
        if place is None:
            place = await self._begin(drain)
            if place is None:
                return
        if _is_http(drain.url):
            chars, per_line = HTTP_TARGET, HTTP_FRAME
        else:
            chars, per_line = store.PAGE_CHARS, 0
        kept = self._sinks.get(drain.id)
        sink = kept[0] if kept is not None else self.sink(drain)
        self._sinks[drain.id] = (sink, time.monotonic())
        try:
            while True:
                async with self.db.session(write=False) as db:
                    await store.snapshot(db)
                    page = await store.follow(
                        db,
                        drain.app_id,
                        place.position,
                        limit=self.page,
                        chars=chars,
                        per_line=per_line,
                    )
                if not page.lines and not page.missed:
                    return
                lost = place.lost + page.missed
                batch: list[Entry] = []
                if lost:
                    since = place.delivered_at or drain.created_at
                    batch.append(store.overflow(lost, since, page.start))
                batch.extend(page.lines)
                delivered = await self._deliver(drain, sink, batch, place.position)
                if delivered is None:
                    return
                if page.missed:
                    log.warning(
                        "log drain %s fell %d lines behind the kept stream", drain.id, page.missed
                    )
                if delivered:
                    last = page.lines[-1].created_at if page.lines else place.delivered_at
                    after = _Place(page.position, last, 0)
                    dropped = page.missed
                else:
                    after = _Place(page.position, place.delivered_at, lost + len(page.lines))
                    dropped = page.missed + len(page.lines)
                await self._save(drain.id, after, dropped, skipped=page.missed > 0)
                # Read on even after a short page: lines may have come while it was sent.
                place = after
        finally:
            self._sinks[drain.id] = (sink, time.monotonic())

    async def _begin(self, drain: _Drain) -> _Place | None:
        """The new drain's cursor: it receives the stream from the moment it was added."""
        async with self.db.session(write=True) as db:
            if await db.get(LogDrain, drain.id) is None:
                return None
            before = await db.execute(
                select(func.max(LogLine.seq)).where(
                    LogLine.app_id == drain.app_id, LogLine.created_at < drain.created_at
                )
            )
            position = before.scalar_one_or_none() or 0
            db.add(DrainCursor(drain_id=drain.id, last_seq=position, lost=0, dropped=0, skips=0))
            await db.commit()
        return _Place(position, None, 0)

    async def _deliver(
        self, drain: _Drain, sink: LogSink, batch: list[Entry], position: int
    ) -> bool | None:
        """Whether the batch was delivered (True) or given up on (False); None: try later."""
        is_http = _is_http(drain.url)
        state = self._backoff.setdefault(drain.id, _Backoff())
        if state.batch_after != position:
            state.batch_after, state.attempts = position, 0
        state.attempts += 1
        try:
            await sink.deliver(batch)
        except DeliveryError as exc:
            give_up = exc.permanent or (is_http and state.attempts >= HTTP_ATTEMPTS)
            state.failures += 1
            cap = HTTP_BACKOFF_CAP if is_http else SYSLOG_BACKOFF_CAP
            base = 0.01 if is_http else 1.0
            state.not_before = time.monotonic() + min(base * 2**state.failures, cap)
            if not give_up:
                log.info("log drain %s: %s; will retry", drain.id, exc)
                return None
            log.warning("log drain %s: %s; giving the batch up", drain.id, exc)
            return False
        state.failures, state.not_before = 0, 0.0
        return True

    async def _save(self, drain_id: uuid.UUID, place: _Place, dropped: int, skipped: bool) -> None:
        async with self.db.session(write=True) as db:
            await db.execute(
                update(DrainCursor)
                .where(DrainCursor.drain_id == drain_id)
                .values(
                    last_seq=place.position,
                    delivered_at=place.delivered_at,
                    lost=place.lost,
                    dropped=DrainCursor.dropped + dropped,
                    skips=DrainCursor.skips + int(skipped),
                )
                .execution_options(synchronize_session=False)
            )
            await db.commit()


def ca_file(settings: Settings) -> Path:
    """Where a receiver's CA can be put for TLS drains to trust it."""
    return settings.data_dir / "tls" / "ca.pem"

"""Delivering each app's log stream to its drains, the way logplex does.

Delivery runs only in the runtime: the forwarder reads the stream from the database in
bounded batches, after a position kept per drain (`drain_cursors`), so a slow or dead
drain costs the API nothing and holds at most one batch in memory. A batch that fails is
retried, with back-off, from the same position; a drain that stays away longer than the
stream keeps lines skips ahead to what is left, and the skip is counted.

TLS drains (`syslog+tls://`, `https://`) verify the receiver's certificate and hostname
against the system CAs plus Tenku's own CA (`<data>/tls/ca.pem`) when there is one, so a
receiver with a certificate issued by that CA works without further setup.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.models import DrainCursor, LogDrain, LogLine
from tenku.egress import REFUSED, EgressPolicy, EgressRefused
from tenku.logs.store import KEEP, LogSink
from tenku.loops import Passes

log = logging.getLogger("tenku.drains")

POLL_INTERVAL = 1.0
BATCH = 200
# Logplex: TCP writes of about 4 KB with a 4 s send timeout; HTTP posts up to about
# 100 KB, 3 s to connect and 5 s per request; 3 attempts per HTTP batch.
TCP_CHUNK = 4096
TCP_TIMEOUT = 4.0
HTTP_TARGET = 102400
HTTP_CONNECT_TIMEOUT = 3.0
HTTP_TIMEOUT = 5.0
HTTP_ATTEMPTS = 3
SYSLOG_BACKOFF_CAP = 300.0
HTTP_BACKOFF_CAP = 5.0
SYSLOG_PORTS = {"syslog": 601, "syslog+tcp": 601, "tcpsyslog": 601, "syslog+tls": 6514}
USER_AGENT = "Logplex/tenku"

# local7.info for app output, local3.info for the router, syslog.notice for the platform,
# as Heroku's drains show them.
PRI = {"app": 190, "router": 158}
PLATFORM_PRI = 45


class DeliveryError(Exception):
    """Lines were not delivered; `permanent` ones must not be sent again."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _pri(line: LogLine) -> int:
    if line.source == "app":
        return PRI["app"]
    if line.dyno == "router":
        return PRI["router"]
    return PLATFORM_PRI


def frame(message: bytes) -> bytes:
    """RFC 6587 octet counting: the byte length, a space, then the message."""
    return str(len(message)).encode() + b" " + message


def syslog_message(line: LogLine, token: str) -> bytes:
    """The RFC 5424 message a syslog drain receives; the drain token is the hostname."""
    text = line.message if line.message.endswith("\n") else line.message + "\n"
    head = f"<{_pri(line)}>1 {_stamp(line.created_at)} {token} {line.source} {line.dyno} - - "
    return (head + text).encode()


def http_message(line: LogLine) -> bytes:
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


class SyslogSink:
    """Octet-counted RFC 5424 frames over TCP or TLS, one connection per batch."""

    def __init__(
        self, url: str, token: str, tls: ssl.SSLContext | None, egress: EgressPolicy
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or SYSLOG_PORTS.get(parts.scheme, 601)
        self.token = token
        self.tls = tls
        self.egress = egress

    async def deliver(self, lines: Sequence[LogLine]) -> None:
        data = b"".join(frame(syslog_message(line, self.token)) for line in lines)
        writer: asyncio.StreamWriter | None = None
        try:
            _, opened = await asyncio.wait_for(
                self.egress.open_connection(self.host, self.port, self.tls), TCP_TIMEOUT
            )
            writer = opened
            for i in range(0, len(data), TCP_CHUNK):
                opened.write(data[i : i + TCP_CHUNK])
                await asyncio.wait_for(opened.drain(), TCP_TIMEOUT)
        except EgressRefused as exc:
            raise DeliveryError(f"{self.host}:{self.port}: {REFUSED}") from exc
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise DeliveryError(f"{self.host}:{self.port}: {exc!r}") from exc
        finally:
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

    async def deliver(self, lines: Sequence[LogLine]) -> None:
        body = b"".join(frame(http_message(line)) for line in lines)
        # Derived from the batch, so a retry (even after a restart) carries the same id.
        seed = f"{self.token}:{lines[0].id}:{lines[-1].id}".encode()
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


def _http_batch(lines: list[LogLine]) -> list[LogLine]:
    size = 0
    for n, line in enumerate(lines):
        size += len(line.message) + 100
        if size > HTTP_TARGET and n > 0:
            return lines[:n]
    return lines


@dataclass
class _Backoff:
    failures: int = 0
    not_before: float = 0.0
    # Attempts at the HTTP batch starting after `batch_after`.
    batch_after: int = -1
    attempts: int = 0


@dataclass
class _Outcome:
    drain_id: uuid.UUID
    last_id: int
    dropped: int = 0
    skipped: bool = False
    new: bool = False


@dataclass(frozen=True)
class _Drain:
    id: uuid.UUID
    app_id: uuid.UUID
    url: str
    token: str
    created_at: datetime


class DrainForwarder:
    """Delivers every app's new log lines to its drains, pass after pass."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        poll_interval: float = POLL_INTERVAL,
        batch: int = BATCH,
    ) -> None:
        self.settings = settings
        self.db = db
        self.batch = batch
        self._tls = trust(settings)
        self._egress = EgressPolicy.of(settings)
        self._client = self._egress.client(
            verify=self._tls,
            timeout=httpx.Timeout(HTTP_TIMEOUT, connect=HTTP_CONNECT_TIMEOUT),
            follow_redirects=False,
        )
        self._backoff: dict[uuid.UUID, _Backoff] = {}
        self._passes = Passes(
            "tenku-drains",
            self.run_once,
            poll_interval,
            logger=log,
            failure="log drain delivery pass failed",
        )

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        self._passes.start()

    async def stop(self) -> None:
        await self._passes.stop()
        await self._client.aclose()

    def wake(self) -> None:
        self._passes.wake()

    # --- one pass -----------------------------------------------------------------

    def sink(self, drain: _Drain) -> LogSink:
        scheme = urlsplit(drain.url).scheme
        if scheme in ("http", "https"):
            return HttpSink(drain.url, drain.token, self._client)
        tls = self._tls if scheme == "syslog+tls" else None
        return SyslogSink(drain.url, drain.token, tls, self._egress)

    async def run_once(self, *, ignore_backoff: bool = False) -> None:
        """Deliver one batch to every drain that has new lines and is not backing off."""
        async with self.db.session(write=False) as db:
            rows = (
                await db.execute(
                    select(
                        LogDrain.id,
                        LogDrain.app_id,
                        LogDrain.url,
                        LogDrain.token,
                        LogDrain.created_at,
                        DrainCursor.last_id,
                    ).outerjoin(DrainCursor, DrainCursor.drain_id == LogDrain.id)
                )
            ).all()
        drains = [(_Drain(r[0], r[1], r[2], r[3], r[4]), r[5]) for r in rows]
        live = {d.id for d, _ in drains}
        for gone in set(self._backoff) - live:
            del self._backoff[gone]
        now = time.monotonic()
        due = [
            (drain, last_id)
            for drain, last_id in drains
            if urlsplit(drain.url).scheme in ("http", "https", *SYSLOG_PORTS)
            and (ignore_backoff or self._backoff.get(drain.id, _Backoff()).not_before <= now)
        ]
        # Concurrently, so a drain that hangs until its timeout holds up no other.
        outcomes = await asyncio.gather(
            *(self._serve(drain, last_id) for drain, last_id in due), return_exceptions=True
        )
        done: list[_Outcome] = []
        for outcome in outcomes:
            if isinstance(outcome, _Outcome):
                done.append(outcome)
            elif isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
            elif outcome is not None:
                log.error("log drain delivery failed", exc_info=outcome)
        if done:
            await self._save(done)

    async def _serve(self, drain: _Drain, last_id: int | None) -> _Outcome | None:
        new = last_id is None
        skipped = False
        async with self.db.session(write=False) as db:
            if last_id is None:
                # A drain receives the stream from the moment it was added, no backfill.
                before = await db.execute(
                    select(func.max(LogLine.id)).where(
                        LogLine.app_id == drain.app_id, LogLine.created_at < drain.created_at
                    )
                )
                last_id = before.scalar_one_or_none() or 0
            lines = list(
                (
                    await db.execute(
                        select(LogLine)
                        .where(LogLine.app_id == drain.app_id, LogLine.id > last_id)
                        .order_by(LogLine.id)
                        .limit(self.batch)
                    )
                ).scalars()
            )
            if lines and last_id > 0:
                skipped = await self._fell_behind(db, drain.app_id, last_id, lines[0].id)
        if skipped:
            log.warning("log drain %s fell behind the kept lines; skipped ahead", drain.id)
        if not lines:
            return _Outcome(drain.id, last_id, new=True) if new else None
        return await self._deliver(drain, lines, last_id, new=new, skipped=skipped)

    @staticmethod
    async def _fell_behind(db: AsyncSession, app_id: uuid.UUID, last_id: int, first: int) -> bool:
        """Whether lines between the drain's position and `first` were trimmed away.

        Ids are shared by every app, so a gap alone proves nothing; a full stream whose
        oldest kept line is the next one to deliver, with the delivered one gone, does.
        """
        if await db.get(LogLine, last_id) is not None:
            return False
        oldest, count = (
            await db.execute(
                select(func.min(LogLine.id), func.count()).where(LogLine.app_id == app_id)
            )
        ).one()
        return bool(oldest is not None and oldest == first and count >= KEEP and first > last_id)

    async def _deliver(
        self, drain: _Drain, lines: list[LogLine], last_id: int, *, new: bool, skipped: bool
    ) -> _Outcome:
        is_http = urlsplit(drain.url).scheme in ("http", "https")
        if is_http:
            lines = _http_batch(lines)
        state = self._backoff.setdefault(drain.id, _Backoff())
        if state.batch_after != last_id:
            state.batch_after, state.attempts = last_id, 0
        state.attempts += 1
        try:
            await self.sink(drain).deliver(lines)
        except DeliveryError as exc:
            give_up = exc.permanent or (is_http and state.attempts >= HTTP_ATTEMPTS)
            state.failures += 1
            cap = HTTP_BACKOFF_CAP if is_http else SYSLOG_BACKOFF_CAP
            base = 0.01 if is_http else 1.0
            state.not_before = time.monotonic() + min(base * 2**state.failures, cap)
            if not give_up:
                log.info("log drain %s: %s; will retry", drain.id, exc)
                return _Outcome(drain.id, last_id, new=new, skipped=skipped)
            log.warning("log drain %s: %s; dropped %d lines", drain.id, exc, len(lines))
            return _Outcome(drain.id, lines[-1].id, len(lines), skipped, new)
        state.failures, state.not_before = 0, 0.0
        return _Outcome(drain.id, lines[-1].id, 0, skipped, new)

    async def _save(self, outcomes: list[_Outcome]) -> None:
        async with self.db.session(write=True) as db:
            for o in outcomes:
                if o.new:
                    exists = await db.get(LogDrain, o.drain_id)
                    if exists is not None:
                        db.add(
                            DrainCursor(
                                drain_id=o.drain_id,
                                last_id=o.last_id,
                                dropped=o.dropped,
                                skips=int(o.skipped),
                            )
                        )
                    continue
                await db.execute(
                    update(DrainCursor)
                    .where(DrainCursor.drain_id == o.drain_id)
                    .values(
                        last_id=o.last_id,
                        dropped=DrainCursor.dropped + o.dropped,
                        skips=DrainCursor.skips + int(o.skipped),
                    )
                    .execution_options(synchronize_session=False)
                )
            await db.commit()


def ca_file(settings: Settings) -> Path:
    """Where a receiver's CA can be put for TLS drains to trust it."""
    return settings.data_dir / "tls" / "ca.pem"

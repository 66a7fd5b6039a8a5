"""Log sessions and the stream they open at `logplex_url`.

The URL carries a signed token holding the session's filters, so any API worker can
serve it and the request needs no Authorization. `text/event-stream` clients (the CLI's
EventSource) get one event per line with the line's number in the app's stream, and
resume with `Last-Event-ID`; anyone else (heroku3) gets plain text lines. Both poll the
database for new lines, as build output streams do.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tenku.db.engine import Database
from tenku.logs import store
from tenku.storage.signing import Signer
from tenku.web.sse import KEEPALIVE, STREAM_HEADERS, event, last_event_id, wants_events

METHOD = "LOGS"
# Long enough to connect (and for an EventSource to reconnect); a session is cheap to renew.
TTL = 3600
# How often a tail that has caught up looks for new lines; one that has not reads on at once.
POLL = 0.5


@dataclass(frozen=True)
class Session:
    app_id: uuid.UUID
    # Whom the session was made for: they must still have access when it is opened.
    reader: uuid.UUID
    filters: store.Filters
    lines: int
    tail: bool


def issue(signer: Signer, session: Session) -> str:
    key = json.dumps(
        {
            "app": str(session.app_id),
            "reader": str(session.reader),
            "dyno": session.filters.dyno,
            "source": session.filters.source,
            "lines": session.lines,
            "tail": session.tail,
        },
        separators=(",", ":"),
    )
    return signer.sign(key, METHOD, TTL)


def redeem(signer: Signer, token: str) -> Session | None:
    key = signer.verify(token, METHOD)
    if key is None:
        return None
    try:
        data = json.loads(key)
        return Session(
            app_id=uuid.UUID(data["app"]),
            reader=uuid.UUID(data["reader"]),
            filters=store.Filters(dyno=data["dyno"], source=data["source"]),
            lines=int(data["lines"]),
            tail=bool(data["tail"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


async def _follow(db: Database, s: Session, after: int | None) -> AsyncIterator[list[store.Entry]]:
    """The backlog (or what followed `after`), then, when tailing, new lines as they come.

    The session reads a page at a time after its own position, and reads the next page
    only once the last one is sent: a client that reads slowly holds the response's
    writes, so nothing piles up here. Lines trimmed before it got to them come out as
    one L10 line with their count, in their place.
    """
    opened = datetime.now(UTC)
    async with db.session(write=False) as dbs:
        await store.snapshot(dbs)
        if after is None:
            position, end, since = await store.start(dbs, s.app_id, s.filters, s.lines)
        else:
            position, end, since = await store.resume(dbs, s.app_id, after)
    since = since or opened
    while True:
        async with db.session(write=False) as dbs:
            await store.snapshot(dbs)
            page = await store.follow(
                dbs, s.app_id, position, s.filters, until=None if s.tail else end
            )
        batch: list[store.Entry] = []
        if page.missed:
            batch.append(store.overflow(page.missed, since, page.start))
        batch.extend(page.lines)
        if page.lines:
            since = page.lines[-1].created_at
        position = page.position
        yield batch
        if not page.more:
            if not s.tail:
                return
            await asyncio.sleep(POLL)


async def _events(db: Database, s: Session, after: int | None) -> AsyncIterator[bytes]:
    yield b": log stream\n\n"
    quiet_since = time.monotonic()
    async for batch in _follow(db, s, after):
        if batch:
            quiet_since = time.monotonic()
            yield b"".join(event(line.seq, store.format_line(line)) for line in batch)
        elif time.monotonic() - quiet_since >= KEEPALIVE:
            quiet_since = time.monotonic()
            yield b": keep-alive\n\n"


async def _plain(db: Database, s: Session) -> AsyncIterator[bytes]:
    # An empty first chunk sends the headers before there is any line.
    yield b""
    async for batch in _follow(db, s, None):
        if batch:
            yield "".join(store.format_line(line) + "\n" for line in batch).encode()


def response(request: Request, db: Database, session: Session) -> Response:
    """The session's stream, as events for an EventSource, else as plain lines."""
    if wants_events(request):
        return StreamingResponse(
            _events(db, session, last_event_id(request)),
            media_type="text/event-stream",
            headers=STREAM_HEADERS,
        )
    return StreamingResponse(
        _plain(db, session), media_type="text/plain; charset=utf-8", headers=STREAM_HEADERS
    )

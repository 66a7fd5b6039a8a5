"""Log sessions and the stream they open at `logplex_url`.

The URL carries a signed token holding the session's filters, so any API worker can
serve it and the request needs no Authorization. `text/event-stream` clients (the CLI's
EventSource) get one event per line with the line's id, and resume with `Last-Event-ID`;
anyone else (heroku3) gets plain text lines. Both poll the database for new lines, as
build output streams do.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tenku.db.engine import Database
from tenku.db.models import LogLine
from tenku.logs import store
from tenku.storage.signing import Signer
from tenku.web.sse import KEEPALIVE, STREAM_HEADERS, event, last_event_id, wants_events

METHOD = "LOGS"
# Long enough to connect (and for an EventSource to reconnect); a session is cheap to renew.
TTL = 3600
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


# Lines are numbered when written but become visible when their transaction commits,
# which need not be in number order: each poll looks this far back for latecomers.
LOOKBACK = 200


async def _follow(db: Database, s: Session, after: int | None) -> AsyncIterator[list[LogLine]]:
    """The backlog (or what followed `after`), then, when tailing, each poll's new lines."""
    # Each statement may see a newer snapshot (PostgreSQL's read committed), so what
    # counts as seen is taken before the backlog, and the backlog then added to it: a
    # line committing in between is delivered once, never skipped.
    async with db.session(write=False) as dbs:
        last = await store.last_id(dbs, s.app_id)
        if after is not None:
            last = max(last, after)
        seen = await store.ids_after(dbs, s.app_id, last - LOOKBACK)
        if after is None:
            batch = await store.read(dbs, s.app_id, s.filters, lines=s.lines)
        else:
            batch = await store.read(dbs, s.app_id, s.filters, after=after, limit=store.KEEP)
    seen |= {line.id for line in batch}
    last = max([last, *seen])
    yield batch
    if not s.tail:
        return
    while True:
        await asyncio.sleep(POLL)
        async with db.session(write=False) as dbs:
            fresh = await store.read(dbs, s.app_id, s.filters, after=max(last - LOOKBACK, 0))
            last = max(last, await store.last_id(dbs, s.app_id))
        batch = [line for line in fresh if line.id not in seen]
        seen = {i for i in seen if i > last - LOOKBACK} | {line.id for line in batch}
        yield batch


async def _events(db: Database, s: Session, after: int | None) -> AsyncIterator[bytes]:
    yield b": log stream\n\n"
    quiet_since = time.monotonic()
    async for batch in _follow(db, s, after):
        if batch:
            quiet_since = time.monotonic()
            yield b"".join(event(line.id, store.format_line(line)) for line in batch)
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

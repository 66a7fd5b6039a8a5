"""Build output streams at `output_stream_url`: no Authorization, the URL is the secret.

`text/plain` (chunked, resumable with `Range: bytes=N-`) or, when the client accepts it,
`text/event-stream` (one event per line, `id:` = line number, resumable with
`Last-Event-Id`). Both poll the database for the rows the runtime appends, so any API
worker can serve any build, and both end once the build has.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tenku.db.engine import Database
from tenku.db.models import Build, BuildOutput
from tenku.ids import as_uuid
from tenku.resources.app.access import permitted
from tenku.resources.build import output
from tenku.resources.build.service import stream_reader
from tenku.web.deps import app_context
from tenku.web.docs import answers, header, merged
from tenku.web.errors import NotFound, RangeNotSatisfiable
from tenku.web.sse import KEEPALIVE, STREAM_HEADERS, event, last_event_id, wants_events

router = APIRouter()
POLL = 0.25
RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d+)\s*-\s*$")


def _not_found() -> NotFound:
    return NotFound("build", "Couldn't find that build output stream.")


async def _status_in(s: AsyncSession, build_id: uuid.UUID) -> str | None:
    status: str | None = (
        await s.execute(select(Build.status).where(Build.id == build_id))
    ).scalar_one_or_none()
    return status


def _finished(status: str | None) -> bool:
    return status != "pending"


FirstRows = Callable[[AsyncSession], Awaitable[Sequence[BuildOutput]]]


async def _batches(
    db: Database, build_id: uuid.UUID, first: FirstRows
) -> AsyncIterator[tuple[Sequence[BuildOutput], bool]]:
    """The build's output rows as the runtime appends them, a batch per poll, each with
    whether it is the last; `first` reads the first batch (from where the client is)."""
    seq: int | None = None
    while True:
        async with db.session(write=False) as s:
            status = await _status_in(s, build_id)
            rows = await first(s) if seq is None else await output.rows_after(s, build_id, seq)
        if rows:
            seq = rows[-1].seq
        more = len(rows) >= output.BATCH
        last = _finished(status) and not more
        yield rows, last
        if last:
            return
        if not more:
            await asyncio.sleep(POLL)


async def _plain(db: Database, build_id: uuid.UUID, start: int) -> AsyncIterator[bytes]:
    # An empty first chunk sends the headers before there is any output.
    yield b""
    offset = start

    def first(s: AsyncSession) -> Awaitable[Sequence[BuildOutput]]:
        return output.rows_from_offset(s, build_id, start)

    async for rows, _ in _batches(db, build_id, first):
        for row in rows:
            data = row.text.encode()
            if row.offset < offset:
                data = data[offset - row.offset :]
            offset = row.offset + row.size
            if data:
                yield data


async def _events(db: Database, build_id: uuid.UUID, after: int) -> AsyncIterator[bytes]:
    yield b": build output\n\n"
    last = after
    quiet_since = time.monotonic()

    def first(s: AsyncSession) -> Awaitable[Sequence[BuildOutput]]:
        return output.rows_after_line(s, build_id, after)

    async for rows, done in _batches(db, build_id, first):
        for row in rows:
            for i, line in enumerate(row.text.splitlines()):
                number = row.first_line + i
                if number <= last:
                    continue
                last = number
                yield event(number, line)
        if rows:
            quiet_since = time.monotonic()
        elif not done and time.monotonic() - quiet_since >= KEEPALIVE:
            quiet_since = time.monotonic()
            yield b": keep-alive\n\n"


@router.get(
    "/streams/builds/{build_id}/{token}",
    openapi_extra=merged(
        answers(
            "The output so far, then lines as they come until the build ends: plain text, or "
            "Server-Sent Events for clients that accept `text/event-stream`.",
            "text/plain",
            "text/event-stream",
        ),
        answers("The output from the byte `Range` asked for.", "text/plain", status=206),
        answers("Every event was delivered and the build is over.", status=204),
        header("Range", "`bytes=<first>-`: resume the plain-text output there."),
        header("Last-Event-ID", "Resume the event stream after this line."),
    ),
)
async def build_output(request: Request, build_id: str, token: str) -> Response:
    """A build's `output_stream_url`: its output, live (the token is the credential)."""
    ctx = app_context(request)
    uid = as_uuid(build_id)
    reader = stream_reader(ctx.signer, uid, token) if uid is not None else None
    if uid is None or reader is None:
        raise _not_found()
    async with ctx.db.session(write=False) as s:
        row = (await s.execute(select(Build.app_id, Build.status).where(Build.id == uid))).first()
        # Whoever the URL was given to must still have access to the app.
        if row is None or not await permitted(s, row[0], reader, "app:view"):
            raise _not_found()
        status = row[1]
    headers = dict(STREAM_HEADERS)

    if wants_events(request):
        resumed = last_event_id(request)
        after = resumed or 0
        if resumed is not None and _finished(status):
            async with ctx.db.session(write=False) as s:
                left = await output.rows_after_line(s, uid, after)
            if not left:
                # All of it was delivered: 204 tells EventSource not to reconnect.
                return Response(status_code=204, headers=headers)
        return StreamingResponse(
            _events(ctx.db, uid, after), media_type="text/event-stream", headers=headers
        )

    start = 0
    code = 200
    m = RANGE_RE.match(request.headers.get("range") or "")
    if m:
        start = int(m.group(1))
        code = 206
        if _finished(status):
            async with ctx.db.session(write=False) as s:
                total = await output.total_size(s, uid)
            if start >= total and start > 0:
                err = RangeNotSatisfiable()
                err.headers["Content-Range"] = f"bytes */{total}"
                raise err
            if total:
                headers["Content-Range"] = f"bytes {start}-{total - 1}/{total}"
            else:
                code = 200
        else:
            # Still growing: the length is not known yet.
            headers["Content-Range"] = f"bytes {start}-*/*"
    headers["Accept-Ranges"] = "bytes"
    return StreamingResponse(
        _plain(ctx.db, uid, start),
        status_code=code,
        media_type="text/plain; charset=utf-8",
        headers=headers,
    )

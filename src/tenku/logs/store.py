"""Writing and reading an app's log stream.

Lines live in the database so that every API worker and the runtime share one stream;
platform lines are written in the transaction of the change they describe, so a change
that rolls back leaves no line behind.

The stream is the one buffer between producers (dynos, the router, the platform) and
consumers (tails in any API worker, drains in the runtime). Producers never wait for a
consumer: each app keeps its last KEEP lines, whoever has read them. Each consumer keeps
its own position, the number (`seq`) of the last line it has passed. An app's lines are
numbered without gaps and become visible in number order (see LogStream), so when the
oldest kept line is past a consumer's position, the numbers in between are exactly the
lines it lost; it announces them in its own stream with Heroku's L10 line.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.engine import dialect_name
from tenku.db.models import LogLine, LogStream
from tenku.db.prepared import Prepared
from tenku.db.statements import statements

# The budget of one app's stream: this many lines a second, a second's worth at once,
# reach every consumer that keeps up (tails and drains alike); bench/log_bench.py
# measures it. Everything below is sized from it.
LINES_PER_SECOND = 10_000
# Lines each app keeps for the consumers that have not read them yet: two seconds at the
# full rate. A consumer further behind than this gets an L10 line. Kept in the database,
# not in any process's memory.
KEEP = 2 * LINES_PER_SECOND
# Heroku's limit on the backlog a log session may ask for.
MAX_LINES = 1500
# Logplex splits longer messages into several lines; a dyno's output lines are cut at
# the same length (runtime/local.py).
MAX_MESSAGE = 10000
# One read by one consumer: at most PAGE lines and, past the first line, about
# PAGE_CHARS characters of messages. This bounds what a tail or a drain holds in memory.
PAGE = 1000
PAGE_CHARS = 256 * 1024


class Entry(Protocol):
    """A line as consumers see it: stored (LogLine), read (Line) or made up (L10)."""

    @property
    def seq(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def source(self) -> str: ...
    @property
    def dyno(self) -> str: ...
    @property
    def message(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Line:
    seq: int
    created_at: datetime
    source: str
    dyno: str
    message: str


class LogSink(Protocol):
    """One destination besides the stream (a drain), fed the stream's lines in order.

    `deliver` returns once the lines are handed over and raises when they were not, so
    the caller knows whether to move on or to retry the same lines later. `close` lets
    go of what deliveries kept open (a connection) once the drain is idle or gone.
    """

    async def deliver(self, lines: Sequence[Entry]) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Filters:
    dyno: str | None = None
    source: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.dyno:
            if "." in self.dyno:
                clauses.append(LogLine.dyno == self.dyno)
            else:
                # A process type names all of its dynos (`web` is web.1, web.2...).
                clauses.append(
                    or_(
                        LogLine.dyno == self.dyno,
                        LogLine.dyno.startswith(self.dyno + ".", autoescape=True),
                    )
                )
        if self.source:
            clauses.append(LogLine.source == self.source)
        return clauses


def format_line(line: Entry) -> str:
    stamp = line.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return f"{stamp} {line.source}[{line.dyno}]: {line.message}"


def overflow_message(count: int, since: datetime) -> str:
    """Logplex's words for lines a consumer lost; every one was written after `since`."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return f"Error L10 (output buffer overflow): {count} messages dropped since {stamp}."


def overflow(count: int, since: datetime, seq: int) -> Line:
    """The L10 line that stands in a consumer's stream for the `count` lines up to `seq`."""
    return Line(seq, datetime.now(UTC), "heroku", "logplex", overflow_message(count, since))


def is_overflow(line: Entry) -> bool:
    return line.source == "heroku" and line.dyno == "logplex"


def _pieces(message: str) -> list[str]:
    if "\x00" in message:
        # PostgreSQL text cannot hold NUL, and one such line must not fail its whole batch.
        message = message.replace("\x00", "\ufffd")
    if len(message) * 4 <= MAX_MESSAGE:
        return [message]
    data = message.encode()
    if len(data) <= MAX_MESSAGE:
        return [message]
    return [
        data[i : i + MAX_MESSAGE].decode(errors="ignore") for i in range(0, len(data), MAX_MESSAGE)
    ]


def _reserving(upsert: Any) -> Any:
    count = bindparam("count", type_=LogStream.last_seq.type)
    return (
        upsert(LogStream)
        .values(app_id=bindparam("app_id", type_=LogStream.app_id.type), last_seq=count)
        .on_conflict_do_update(
            index_elements=[LogStream.app_id], set_={"last_seq": LogStream.last_seq + count}
        )
        .returning(LogStream.last_seq)
    )


# Built once per dialect: every release and every router batch reserves numbers, and
# building a statement cost more than running it.
_RESERVE = {
    "postgresql": Prepared(_reserving(postgresql.insert)),
    "sqlite": Prepared(_reserving(sqlite.insert)),
}
# The table's own insert: rows as they are, without the ORM's bulk-insert bookkeeping.
_INSERT = Prepared(
    insert(cast(Table, LogLine.__table__)),
    columns=("app_id", "seq", "source", "dyno", "message", "created_at"),
)
_TRIM = Prepared(
    delete(LogLine)
    .where(
        LogLine.app_id == bindparam("app_id", type_=LogLine.app_id.type),
        LogLine.seq <= bindparam("upto", type_=LogLine.seq.type),
    )
    .execution_options(synchronize_session=False)
)


async def reserve(db: AsyncSession, app_id: uuid.UUID, count: int) -> int:
    """Numbers for `count` new lines of the app; the first of them.

    The app's counter row stays locked until the transaction ends, so another writer of
    the same app waits: lines commit in number order and readers never see a hole that
    fills later. Keep the transaction short.
    """
    run = await statements(db)
    stmt = _RESERVE["postgresql" if run.dialect.name == "postgresql" else "sqlite"]
    last: int = await run.scalar(stmt, {"app_id": app_id, "count": count})
    return last - count + 1


async def append(
    db: AsyncSession, app_id: uuid.UUID, source: str, dyno: str, message: str
) -> list[LogLine]:
    """Add a line (several when it is long) to the app's stream, trimming the oldest."""
    pieces = _pieces(message)
    first = await reserve(db, app_id, len(pieces))
    lines = [
        LogLine(app_id=app_id, seq=first + n, source=source, dyno=dyno, message=m)
        for n, m in enumerate(pieces)
    ]
    db.add_all(lines)
    await db.flush()
    await trim(db, app_id, first + len(pieces) - 1)
    return lines


async def append_many(
    db: AsyncSession, app_id: uuid.UUID, lines: Sequence[tuple[str, str, str, datetime]]
) -> None:
    """Add lines (source, dyno, message, when written) to the app's stream in one go."""
    pieces = [
        (source, dyno, piece, at)
        for source, dyno, message, at in lines
        for piece in _pieces(message)
    ]
    if not pieces:
        return
    first = await reserve(db, app_id, len(pieces))
    await (await statements(db)).run(
        _INSERT,
        [
            {
                "app_id": app_id,
                "seq": first + n,
                "source": source,
                "dyno": dyno,
                "message": message,
                "created_at": at,
            }
            for n, (source, dyno, message, at) in enumerate(pieces)
        ],
    )
    await trim(db, app_id, first + len(pieces) - 1)


async def trim(db: AsyncSession, app_id: uuid.UUID, last_seq: int) -> None:
    """Drop the app's lines older than its last KEEP, `last_seq` being the newest."""
    await (await statements(db)).run(_TRIM, {"app_id": app_id, "upto": last_seq - KEEP})


@dataclass(frozen=True)
class Page:
    """One read after a consumer's position."""

    # Lines trimmed before the consumer read them: its L10 count.
    missed: int
    # The position the lines follow (past the missed ones): an L10 line's own number.
    start: int
    lines: list[Line]
    # The consumer's new position: past these lines and past any that did not match.
    position: int
    # Whether more lines were there already (the page was full).
    more: bool


async def snapshot(db: AsyncSession) -> None:
    """Make the session's statements see one state of the stream; call it first.

    SQLite's read transactions already do; PostgreSQL's default gives each statement its
    own, and a trim between two of them could hide lines from the count.
    """
    if dialect_name(db) == "postgresql":
        await db.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def _bounds(db: AsyncSession, app_id: uuid.UUID) -> tuple[int | None, int | None]:
    # Two subqueries, each an end of the index; one query with min and max would scan.
    of_app = LogLine.app_id == app_id
    oldest = select(func.min(LogLine.seq)).where(of_app).scalar_subquery()
    newest = select(func.max(LogLine.seq)).where(of_app).scalar_subquery()
    row = (await db.execute(select(oldest, newest))).one()
    return row[0], row[1]


async def start(
    db: AsyncSession, app_id: uuid.UUID, filters: Filters, lines: int
) -> tuple[int, int, datetime | None]:
    """Where a session showing the last `lines` matching lines starts reading.

    Returns the position before them, the stream's newest number (where the backlog
    ends) and when the line at the position was written (every line after it is newer).
    """
    oldest, newest = await _bounds(db, app_id)
    if oldest is None or newest is None:
        return 0, 0, None
    position = newest
    count = min(lines, MAX_LINES)
    if count > 0:
        first = (
            await db.execute(
                select(LogLine.seq)
                .where(LogLine.app_id == app_id, *filters.where())
                .order_by(LogLine.seq.desc())
                .offset(count - 1)
                .limit(1)
            )
        ).scalar_one_or_none()
        # Fewer matching lines than asked for: all of them.
        position = (oldest if first is None else first) - 1
    return position, newest, await written_at(db, app_id, position)


async def resume(
    db: AsyncSession, app_id: uuid.UUID, after: int
) -> tuple[int, int, datetime | None]:
    """`start` for a session that already saw the lines up to `after` (`Last-Event-ID`)."""
    _, newest = await _bounds(db, app_id)
    position = min(after, newest or 0)
    return position, newest or 0, await written_at(db, app_id, position)


async def written_at(db: AsyncSession, app_id: uuid.UUID, seq: int) -> datetime | None:
    found: datetime | None = (
        await db.execute(
            select(LogLine.created_at).where(LogLine.app_id == app_id, LogLine.seq == seq)
        )
    ).scalar_one_or_none()
    return found


async def follow(
    db: AsyncSession,
    app_id: uuid.UUID,
    after: int,
    filters: Filters = Filters(),
    *,
    until: int | None = None,
    limit: int = PAGE,
    chars: int = PAGE_CHARS,
    per_line: int = 0,
) -> Page:
    """The matching lines after position `after` (up to `until`), and what was missed.

    A page holds at most `limit` lines, and lines while their messages, plus `per_line`
    for each (what the consumer adds around a message), come to less than `chars`.

    For a session with filters, `missed` counts every line of the app trimmed before the
    session passed it, matching or not: once trimmed, nobody knows what they were.
    """
    oldest, newest = await _bounds(db, app_id)
    if oldest is None or newest is None:
        return Page(0, after, [], after, more=False)
    # A position past the stream (a client's id from elsewhere) means "from now on".
    after = min(after, newest)
    end = newest if until is None else min(until, newest)
    missed = max(0, oldest - after - 1)
    begin = max(after, oldest - 1)
    if begin >= end:
        return Page(missed, begin, [], begin, more=False)
    inner = (
        select(LogLine.seq, LogLine.created_at, LogLine.source, LogLine.dyno, LogLine.message)
        .where(LogLine.app_id == app_id, LogLine.seq > begin, LogLine.seq <= end)
        .where(*filters.where())
        .order_by(LogLine.seq)
        .limit(limit)
        .subquery()
    )
    size = func.length(inner.c.message) + per_line
    sized = select(
        inner,
        size.label("size"),
        func.sum(size).over(order_by=inner.c.seq).label("upto"),
        func.count().over().label("fetched"),
    ).subquery()
    rows = (
        await db.execute(
            select(
                sized.c.seq,
                sized.c.created_at,
                sized.c.source,
                sized.c.dyno,
                sized.c.message,
                sized.c.fetched,
            )
            .where(sized.c.upto - sized.c.size < chars)
            .order_by(sized.c.seq)
        )
    ).all()
    lines = [Line(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    fetched = rows[0][5] if rows else 0
    more = len(lines) < fetched or fetched == limit
    position = lines[-1].seq if more else end
    return Page(missed, begin, lines, position, more=more)


async def read(
    db: AsyncSession, app_id: uuid.UUID, filters: Filters = Filters(), *, lines: int = 100
) -> list[Line]:
    """The last `lines` matching lines, oldest first."""
    count = min(lines, MAX_LINES)
    if count <= 0:
        return []
    rows = await db.execute(
        select(LogLine.seq, LogLine.created_at, LogLine.source, LogLine.dyno, LogLine.message)
        .where(LogLine.app_id == app_id, *filters.where())
        .order_by(LogLine.seq.desc())
        .limit(count)
    )
    return [Line(r[0], r[1], r[2], r[3], r[4]) for r in reversed(rows.all())]

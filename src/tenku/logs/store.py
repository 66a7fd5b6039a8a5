"""Writing and reading an app's log stream.

Lines live in the database so that every API worker and the runtime share one stream;
platform lines are written in the transaction of the change they describe, so a change
that rolls back leaves no line behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import LogLine

# Heroku keeps the last 1500 lines of each app, and `lines` may ask for no more.
KEEP = 1500
MAX_LINES = 1500
# Logplex splits longer messages into several lines.
MAX_MESSAGE = 10000


class LogSink(Protocol):
    """One destination besides the stream (a drain), fed the stream's lines in order.

    `deliver` returns once the lines are handed over and raises when they were not, so
    the caller knows whether to move on or to retry the same lines later.
    """

    async def deliver(self, lines: Sequence[LogLine]) -> None: ...


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


def format_line(line: LogLine) -> str:
    stamp = line.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return f"{stamp} {line.source}[{line.dyno}]: {line.message}"


def _pieces(message: str) -> list[str]:
    data = message.encode()
    if len(data) <= MAX_MESSAGE:
        return [message]
    return [
        data[i : i + MAX_MESSAGE].decode(errors="ignore") for i in range(0, len(data), MAX_MESSAGE)
    ]


async def append(
    db: AsyncSession, app_id: uuid.UUID, source: str, dyno: str, message: str
) -> list[LogLine]:
    """Add a line (several when it is long) to the app's stream, trimming the oldest."""
    lines = [LogLine(app_id=app_id, source=source, dyno=dyno, message=m) for m in _pieces(message)]
    db.add_all(lines)
    await db.flush()
    await trim(db, app_id)
    return lines


async def trim(db: AsyncSession, app_id: uuid.UUID, keep: int = KEEP) -> None:
    oldest_kept = (
        select(LogLine.id)
        .where(LogLine.app_id == app_id)
        .order_by(LogLine.id.desc())
        .offset(keep - 1)
        .limit(1)
        .scalar_subquery()
    )
    await db.execute(
        delete(LogLine)
        .where(LogLine.app_id == app_id, LogLine.id < oldest_kept)
        .execution_options(synchronize_session=False)
    )


async def read(
    db: AsyncSession,
    app_id: uuid.UUID,
    filters: Filters = Filters(),
    *,
    lines: int | None = None,
    after: int | None = None,
    limit: int = 500,
) -> list[LogLine]:
    """The last `lines` matching lines, or (with `after`) those following that id, oldest first."""
    stmt = select(LogLine).where(LogLine.app_id == app_id, *filters.where())
    if after is not None:
        stmt = stmt.where(LogLine.id > after).order_by(LogLine.id).limit(limit)
        return list((await db.execute(stmt)).scalars())
    count = min(lines if lines is not None else 100, MAX_LINES)
    if count <= 0:
        return []
    stmt = stmt.order_by(LogLine.id.desc()).limit(count)
    return list(reversed((await db.execute(stmt)).scalars().all()))


async def ids_after(db: AsyncSession, app_id: uuid.UUID, after: int) -> set[int]:
    rows = await db.execute(select(LogLine.id).where(LogLine.app_id == app_id, LogLine.id > after))
    return set(rows.scalars())


async def last_id(db: AsyncSession, app_id: uuid.UUID) -> int:
    """The id the stream has reached, so a tail can start after it with nothing to show."""
    found = (
        await db.execute(
            select(LogLine.id).where(LogLine.app_id == app_id).order_by(LogLine.id.desc()).limit(1)
        )
    ).scalar_one_or_none()
    return found or 0

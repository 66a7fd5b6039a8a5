"""Reading a build's output, which the runtime appends in numbered batches of lines.

Rows carry byte offsets (for `Range: bytes=N-`) and line numbers (for `Last-Event-Id`);
a build's output is complete once the build is no longer pending, because the runtime
writes the last rows in the transaction that ends the build.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import BuildOutput

# Rows read at a time; a full batch means more may be waiting.
BATCH = 500


async def _rows(
    db: AsyncSession, build_id: uuid.UUID, after: ColumnElement[bool]
) -> Sequence[BuildOutput]:
    stmt = (
        select(BuildOutput)
        .where(BuildOutput.build_id == build_id, after)
        .order_by(BuildOutput.seq)
        .limit(BATCH)
    )
    return (await db.execute(stmt)).scalars().all()


async def rows_after(db: AsyncSession, build_id: uuid.UUID, seq: int) -> Sequence[BuildOutput]:
    return await _rows(db, build_id, BuildOutput.seq > seq)


async def rows_from_offset(
    db: AsyncSession, build_id: uuid.UUID, offset: int
) -> Sequence[BuildOutput]:
    return await _rows(db, build_id, BuildOutput.offset + BuildOutput.size > offset)


async def rows_after_line(
    db: AsyncSession, build_id: uuid.UUID, line: int
) -> Sequence[BuildOutput]:
    return await _rows(db, build_id, BuildOutput.first_line + BuildOutput.line_count - 1 > line)


async def last_row(db: AsyncSession, build_id: uuid.UUID) -> BuildOutput | None:
    return (
        await db.execute(
            select(BuildOutput)
            .where(BuildOutput.build_id == build_id)
            .order_by(BuildOutput.seq.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def total_size(db: AsyncSession, build_id: uuid.UUID) -> int:
    last = await last_row(db, build_id)
    return last.offset + last.size if last is not None else 0


async def all_lines(db: AsyncSession, build_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = await db.execute(
        select(BuildOutput.stream, BuildOutput.text)
        .where(BuildOutput.build_id == build_id)
        .order_by(BuildOutput.seq)
    )
    return [(stream, line) for stream, text in rows for line in text.splitlines(keepends=True)]

"""Timestamps come back from either backend as aware UTC datetimes, to the microsecond."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text

from tenku.db.base import UTCDateTime
from tenku.db.engine import Database

_META = MetaData()
_TIMES = Table(
    "test_times", _META, Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
)


@pytest.fixture
async def times(database: Database) -> AsyncIterator[Table]:
    async with database.writer.begin() as conn:
        await conn.run_sync(_META.create_all)
    yield _TIMES
    async with database.writer.begin() as conn:
        await conn.run_sync(_META.drop_all)


async def test_a_timestamp_reads_back_as_it_was_written_in_utc(
    database: Database, times: Table
) -> None:
    east = timezone(timedelta(hours=2))
    written = datetime(2026, 12, 3, 20, 4, 5, 123456, tzinfo=east)
    async with database.writer.begin() as conn:
        await conn.execute(insert(times), [{"id": 1, "at": written}, {"id": 2, "at": None}])
    async with database.reader.connect() as conn:
        rows = dict((await conn.execute(select(times.c.id, times.c.at))).all())
        latest = (await conn.execute(select(func.max(times.c.at)))).scalar_one()
    assert rows[2] is None
    for value in (rows[1], latest):
        assert value == written
        assert value.tzinfo is UTC
        assert (value.hour, value.microsecond) == (18, 123456)


async def test_a_timestamp_stored_without_fractions_reads_too(
    database: Database, times: Table
) -> None:
    async with database.writer.begin() as conn:
        await conn.execute(
            text("INSERT INTO test_times (id, at) VALUES (1, :at)"),
            {
                "at": "2026-01-02 03:04:05"
                if database.is_sqlite
                else datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
            },
        )
    async with database.reader.connect() as conn:
        found = (await conn.execute(select(times.c.at))).scalar_one()
    assert found == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert found.tzinfo is UTC

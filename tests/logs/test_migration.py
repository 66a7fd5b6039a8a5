"""Numbering the lines kept before streams were numbered, and the drains' positions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Integer, String, Uuid, column, insert, table, text

from tenku.db.base import UTCDateTime
from tenku.db.changes import unjournaled
from tenku.db.engine import Database
from tenku.db.migrate import upgrade
from tenku.db.models import App, LogDrain
from tenku.resources.account.service import create_account
from tenku.resources.region.catalog import DEFAULT_REGION
from tenku.resources.stack.catalog import DEFAULT_STACK
from tests.conftest import PG_ADMIN

BEFORE = "0009"
OLD_LINES = table(
    "log_lines",
    column("id", Integer),
    column("app_id", Uuid),
    column("created_at", UTCDateTime()),
    column("source", String),
    column("dyno", String),
    column("message", String),
)
OLD_CURSORS = table(
    "drain_cursors",
    column("drain_id", Uuid),
    column("last_id", Integer),
    column("dropped", Integer),
    column("skips", Integer),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tenku.db'}"
        return
    request.getfixturevalue("pg_url")  # skips when there is no PostgreSQL
    name = f"tenku_migration_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database(empty_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    db = Database(empty_url)
    yield db
    await db.dispose()


async def test_kept_lines_are_numbered_in_their_order_and_positions_follow(
    database: Database, empty_url: str
) -> None:
    now = datetime.now(UTC)
    one, two, drain = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with database.session(write=True) as db:
        unjournaled(db.sync_session)
        owner = await create_account(db, "owner@example.com", "a long password 1")
        await db.execute(
            insert(App),
            [
                {
                    "id": app_id,
                    "name": name,
                    "owner_id": owner.id,
                    "region": DEFAULT_REGION,
                    "stack": DEFAULT_STACK,
                    "build_stack": DEFAULT_STACK,
                    "maintenance": False,
                    "locked": False,
                    "acm": False,
                    "release_seq": 0,
                    "released_at": now,
                }
                for app_id, name in ((one, "one"), (two, "two"))
            ],
        )
        await db.execute(
            insert(LogDrain).values(id=drain, app_id=one, url="syslog://x:1", token="d.x")
        )
        # Ids are shared by the apps: 10, 11 and 14 are the first app's.
        await db.execute(
            insert(OLD_LINES),
            [
                {
                    "id": line_id,
                    "app_id": app_id,
                    "created_at": now,
                    "source": "app",
                    "dyno": "web.1",
                    "message": f"line {line_id}",
                }
                for line_id, app_id in ((10, one), (11, one), (12, two), (13, two), (14, one))
            ],
        )
        await db.execute(insert(OLD_CURSORS).values(drain_id=drain, last_id=12, dropped=0, skips=0))
        await db.commit()

    await asyncio.to_thread(upgrade, empty_url, "head")

    async with database.session(write=False) as db:
        numbered = (await db.execute(text("SELECT id, seq FROM log_lines ORDER BY id"))).all()
        counters = dict((await db.execute(text("SELECT app_id, last_seq FROM log_streams"))).all())
        position = (await db.execute(text("SELECT last_seq FROM drain_cursors"))).scalar_one()
    assert [tuple(row) for row in numbered] == [(10, 1), (11, 2), (12, 1), (13, 2), (14, 3)]
    assert {uuid.UUID(str(k)): v for k, v in counters.items()} == {one: 3, two: 2}
    # The drain had delivered up to id 12: the first app's line 11, now number 2.
    assert position == 2

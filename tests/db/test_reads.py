from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.exc import OperationalError

from tenku.db.engine import Database
from tenku.db.models import App
from tenku.db.prepared import Prepared
from tenku.db.reads import SessionReads
from tests.conftest import ApiClient, User


def _sqlite_only(database: Database) -> None:
    if database.snapshots is None:
        pytest.skip("snapshots are SQLite's")


async def test_a_snapshot_reads_one_committed_state_and_writes_nothing(
    api: ApiClient, alice: User
) -> None:
    database = api.database
    _sqlite_only(database)
    await alice.create_app("snap-one")
    name = select(App.name).where(App.name.like("snap-%"))
    snapshot = database.snapshot()
    assert snapshot is not None
    try:
        assert (await snapshot.execute(name)).scalars().all() == ["snap-one"]
        async with database.session(write=True) as db:
            await db.execute(update(App).where(App.name == "snap-one").values(name="snap-two"))
            await db.commit()
        # Still the state its first statement saw: one transaction.
        assert (await snapshot.execute(name)).scalars().all() == ["snap-one"]
        with pytest.raises(OperationalError, match="readonly"):
            await snapshot.execute(update(App).values(name="snap-three"))
    finally:
        snapshot.close()
    again = database.snapshot()
    assert again is not None
    try:
        assert (await again.execute(name)).scalars().all() == ["snap-two"]
    finally:
        again.close()


async def test_session_reads_see_the_sessions_pending_changes(api: ApiClient, alice: User) -> None:
    created = await alice.create_app("pending-one")
    async with api.database.session(write=True) as db:
        app = await db.get(App, uuid.UUID(created["id"]))
        assert app is not None
        app.name = "pending-two"
        rows = await SessionReads(db).execute(select(App.name).where(App.id == app.id))
        assert rows.scalars().all() == ["pending-two"]
        await db.rollback()


@pytest.mark.parametrize("path", ["/apps/reader-app", "/apps"])
async def test_reading_an_app_or_the_app_list_is_one_snapshot_and_no_session(
    api: ApiClient, alice: User, path: str
) -> None:
    """On SQLite these routes read through the request's snapshot alone: the session's
    reader never begins a transaction beside it."""
    database = api.database
    _sqlite_only(database)
    await alice.create_app("reader-app")
    began: list[Any] = []
    listener = began.append
    taken = database.snapshots.take
    snapshots: list[Any] = []

    def take() -> Any:
        snapshots.append(1)
        return taken()

    event.listen(database.reader.sync_engine, "begin", listener)
    database.snapshots.take = take  # type: ignore[method-assign]
    try:
        r = await alice.get(path)
    finally:
        event.remove(database.reader.sync_engine, "begin", listener)
        del database.snapshots.take
    assert r.status_code in (200, 206), r.text
    assert "reader-app" in r.text
    assert snapshots == [1]
    assert began == []


async def test_a_prepared_read_gives_the_row_sqlalchemy_gives(api: ApiClient, alice: User) -> None:
    """Sent to the driver itself, a `Prepared` select's row is processed as SQLAlchemy
    processes it (UUIDs, timestamps in UTC, booleans), through either kind of reads."""
    created = await alice.create_app("prepared-app")
    prepared = Prepared(select(*App.__table__.columns).where(App.name == bindparam("name")))
    own = api.database.request_reads()
    async with api.database.session(write=False) as db:
        sources: list[Any] = [SessionReads(db)] + ([own] if own else [])
        try:
            for reads in sources:
                expected = (await reads.execute(prepared.stmt, {"name": "prepared-app"})).one()
                row = await reads.first(prepared, {"name": "prepared-app"})
                assert row is not None
                assert list(row) == list(expected)
                assert str(row[0]) == created["id"]
                assert await reads.first(prepared, {"name": "no-such-app"}) is None
                assert [list(r) for r in await reads.all(prepared, {"name": "prepared-app"})] == [
                    list(expected)
                ]
        finally:
            if own is not None:
                await own.aclose()


@pytest.mark.parametrize("path", ["/apps/pg-reader-app", "/apps"])
async def test_a_read_request_reads_outside_any_transaction_on_postgresql(
    api: ApiClient, alice: User, path: str
) -> None:
    """On PostgreSQL these routes read through `Autocommitted`: their statements run with
    no BEGIN and no COMMIT around them (each sees what is committed, as it would at READ
    COMMITTED inside a transaction)."""
    database = api.database
    if database.is_sqlite:
        pytest.skip("PostgreSQL's")
    await alice.create_app("pg-reader-app")
    modes: list[bool] = []

    def record(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM apps" in statement:
            modes.append(conn.connection.dbapi_connection.autocommit)

    event.listen(database.writer.sync_engine, "before_cursor_execute", record)
    try:
        r = await alice.get(path)
    finally:
        event.remove(database.writer.sync_engine, "before_cursor_execute", record)
    assert r.status_code in (200, 206), r.text
    assert "pg-reader-app" in r.text
    assert modes
    assert all(modes), modes
    # The connection went back to the pool as it came: the next write is a transaction.
    async with database.session(write=True) as db:
        connection = await db.connection()
        raw = await connection.get_raw_connection()
        assert raw.dbapi_connection is not None
        assert not raw.dbapi_connection.autocommit

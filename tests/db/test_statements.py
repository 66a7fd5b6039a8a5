from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import sqlite

from tenku.db.models import Account, App, ConfigVar, RuntimeChange
from tenku.db.prepared import Prepared
from tenku.db.statements import adopt, statements
from tenku.resources.release.service import create_release
from tests.conftest import ApiClient, User

_VARS = cast(Table, ConfigVar.__table__)
_APP_ID = bindparam("app_id", type_=ConfigVar.app_id.type)
_ADD = Prepared(insert(_VARS), columns=("app_id", "key", "value"))
_VARS_OF = Prepared(
    select(_VARS.c.key, _VARS.c.value).where(_VARS.c.app_id == _APP_ID).order_by(_VARS.c.key)
)
_DROP = Prepared(delete(_VARS).where(_VARS.c.app_id == _APP_ID))
_APPS = cast(Table, App.__table__)
_BUMP = Prepared(
    update(_APPS)
    .where(_APPS.c.id == bindparam("app", type_=App.id.type))
    .values(
        release_seq=_APPS.c.release_seq + 10,
        updated_at=bindparam("now", type_=App.updated_at.type),
    )
    .returning(_APPS.c.release_seq, _APPS.c.updated_at)
)
_ROW = Prepared(select(*_APPS.columns).where(_APPS.c.id == bindparam("id", type_=App.id.type)))


async def test_statements_run_in_the_sessions_transaction(api: ApiClient, alice: User) -> None:
    app_id = uuid.UUID((await alice.create_app("stmts-one"))["id"])
    rows = [{"app_id": app_id, "key": f"K{n}", "value": f"v{n}"} for n in range(3)]
    async with api.database.session(write=True) as db:
        run = await statements(db)
        # On a SQLite file they go to the driver; the figures below hold either way.
        assert (run._driver is not None) == (api.database.snapshots is not None)
        await run.run(_ADD, rows)
        assert await run.all(_VARS_OF, {"app_id": app_id}) == [
            ("K0", "v0"),
            ("K1", "v1"),
            ("K2", "v2"),
        ]
        # The session's own statements see them: one transaction.
        count = select(func.count()).select_from(ConfigVar).where(ConfigVar.app_id == app_id)
        assert (await db.execute(count)).scalar_one() == 3
        await db.rollback()
    async with api.database.session(write=True) as db:
        assert await (await statements(db)).all(_VARS_OF, {"app_id": app_id}) == []
        await (await statements(db)).run(_ADD, rows[0])
        await db.commit()
    async with api.database.session(write=True) as db:
        run = await statements(db)
        assert await run.first(_VARS_OF, {"app_id": app_id}) == ("K0", "v0")
        await run.run(_DROP, {"app_id": app_id})
        assert await run.first(_VARS_OF, {"app_id": app_id}) is None
        await db.commit()


async def test_a_returning_update_gives_processed_values(api: ApiClient, alice: User) -> None:
    app_id = uuid.UUID((await alice.create_app("stmts-two"))["id"])
    async with api.database.session(write=True) as db:
        before = await db.get(App, app_id)
        assert before is not None
        now = datetime.now(UTC)
        bumped = await (await statements(db)).all(_BUMP, {"app": app_id, "now": now})
        # A timestamp as SQLAlchemy gives it (aware UTC), not the driver's text.
        assert bumped == [(before.release_seq + 10, now)]
        await db.commit()


def test_a_statement_must_give_what_sqlalchemy_would_compute() -> None:
    """`updated_at` has an onupdate: SQLAlchemy's execution would work its value out,
    the driver would be sent NULL."""
    stmt = update(_APPS).values(release_seq=_APPS.c.release_seq + 1)
    with pytest.raises(ValueError, match="updated_at"):
        Prepared(stmt).compiled(sqlite.dialect())


async def test_statements_flush_the_sessions_pending_changes_first(
    api: ApiClient, alice: User
) -> None:
    app_id = uuid.UUID((await alice.create_app("stmts-three"))["id"])
    async with api.database.session(write=True) as db:
        app = await db.get(App, app_id)
        assert app is not None
        app.name = "stmts-renamed"
        row = await (await statements(db)).first(_ROW, {"id": app_id})
        assert row is not None
        assert row[_APPS.columns.keys().index("name")] == "stmts-renamed"
        await db.rollback()


async def test_an_adopted_entity_is_the_sessions_and_its_changes_are_written(
    api: ApiClient, alice: User
) -> None:
    app_id = uuid.UUID((await alice.create_app("stmts-four"))["id"])
    async with api.database.session(write=True) as db:
        row = await (await statements(db)).first(_ROW, {"id": app_id})
        assert row is not None
        app = adopt(db, App, dict(zip(_APPS.columns.keys(), row, strict=True)))
        assert app.name == "stmts-four"
        # The session knows it as loaded: the same instance, nothing pending.
        assert await db.get(App, app_id) is app
        assert not db.new
        assert not db.dirty
        again = adopt(db, App, dict(zip(_APPS.columns.keys(), row, strict=True)))
        assert again is app
        app.name = "stmts-five"
        await db.commit()
    async with api.database.session(write=False) as db:
        names = select(App.name).where(App.id == app_id)
        assert (await db.execute(names)).scalar_one() == "stmts-five"


async def test_a_release_written_as_a_row_is_journaled_and_loaded(
    api: ApiClient, alice: User
) -> None:
    app_id = uuid.UUID((await alice.create_app("stmts-six"))["id"])
    async with api.database.session(write=True) as db:
        await db.execute(delete(RuntimeChange))
        await db.commit()
    async with api.database.session(write=True) as db:
        app = await db.get(App, app_id)
        user = await db.get(Account, alice.id)
        assert app is not None
        assert user is not None
        release = await create_release(db, app, user, "Test release")
        assert release.version == app.release_seq
        assert release.app_id == app_id
        assert release.user_email == user.email
        await db.commit()
    async with api.database.session(write=False) as db:
        journaled = select(RuntimeChange.app_id)
        assert (await db.execute(journaled)).scalars().all() == [app_id]
        rows = await db.execute(select(App.release_seq).where(App.id == app_id))
        assert rows.scalar_one() == release.version


def test_a_statement_holds_no_in_list() -> None:
    """An IN list is expanded at each execution; compiled once, SQLite would be sent its
    placeholder."""
    stmt = select(_APPS.c.id).where(_APPS.c.region.in_(["us", "eu"]))
    with pytest.raises(ValueError, match="expanded"):
        Prepared(stmt).compiled(sqlite.dialect())

"""Constant Core statements in a session's transaction, for the hottest write paths.

A config change is a dozen short statements (the app's vars, the next version, the
release, its log lines, the runtime's journal). Through the asynchronous session each
cost about fifty microseconds on SQLite against a few for SQLite itself: the session's,
the connection's and the pool's layers, the driver adapter's coroutines and the greenlet
hops between them. On a SQLite file the session's connection already runs statements on
the event loop's thread (`engine._InlineConnection`), and a write transaction holds the
database's write lock from its BEGIN IMMEDIATE: a `Prepared` statement can go straight to
the driver, in the same transaction, with nothing else to wait for. Elsewhere (PostgreSQL,
an in-memory SQLite) the same statements run through the session's connection.

What goes straight to the driver is seen by no SQLAlchemy event: whoever writes a table
the runtime watches through here journals the app itself (`changes.journal`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import SessionTransaction, make_transient_to_detached

from tenku.db.engine import inline_driver, retried
from tenku.db.prepared import Prepared

Params = Mapping[str, Any]
M = TypeVar("M")
_KEY = "tenku_statements"


class Statements:
    """Where a transaction's `Prepared` statements run. Take it (`statements(db)`) right
    before using it: taking it flushes the session's pending changes first, as the
    session's own `execute` would, so that the two never see different states."""

    def __init__(
        self,
        transaction: SessionTransaction | None,
        connection: AsyncConnection,
        driver: sqlite3.Connection | None,
    ) -> None:
        self.transaction = transaction
        self.dialect: Dialect = connection.dialect
        self._connection = connection
        self._driver = driver

    async def all(self, prepared: Prepared, params: Params) -> Sequence[Sequence[Any]]:
        driver = self._driver
        if driver is None:
            return list((await self._connection.execute(prepared.stmt, params)).all())
        compiled = prepared.compiled(self.dialect)
        parameters = compiled.parameters(params)
        return compiled.rows(
            await retried(lambda: driver.execute(compiled.sql, parameters).fetchall())
        )

    async def first(self, prepared: Prepared, params: Params) -> Sequence[Any] | None:
        rows = await self.all(prepared, params)
        return rows[0] if rows else None

    async def scalar(self, prepared: Prepared, params: Params) -> Any:
        """The first column of the one row `prepared` gives (an error if none)."""
        rows = await self.all(prepared, params)
        if len(rows) != 1:
            raise LookupError(f"{len(rows)} rows where one was expected")
        return rows[0][0]

    async def run(self, prepared: Prepared, params: Params | Sequence[Params]) -> None:
        """Run a statement that gives no rows, once or (a sequence) once per mapping."""
        driver = self._driver
        if driver is None:
            await self._connection.execute(
                prepared.stmt, params if isinstance(params, Mapping) else list(params)
            )
            return
        compiled = prepared.compiled(self.dialect)
        if isinstance(params, Mapping):
            one = compiled.parameters(params)
            await retried(lambda: driver.execute(compiled.sql, one))
        else:
            many = [compiled.parameters(p) for p in params]
            await retried(lambda: driver.executemany(compiled.sql, many))


async def statements(db: AsyncSession) -> Statements:
    """The session's transaction (begun here if it was not) for `Prepared` statements."""
    if db.new or db.dirty or db.deleted:
        await db.flush()
    transaction = db.sync_session.get_transaction()
    found = db.info.get(_KEY)
    # The one kept for the transaction under way (it holds the transaction, whose
    # identity therefore cannot pass to a later one).
    if found is not None and transaction is not None and found.transaction is transaction:
        return found  # type: ignore[no-any-return]
    connection = await db.connection()
    made = Statements(db.sync_session.get_transaction(), connection, inline_driver(connection))
    db.info[_KEY] = made
    return made


def adopt(db: AsyncSession, model: type[M], values: Mapping[str, Any]) -> M:
    """An entity for a row the transaction has read or written through `Statements`
    (`values`: every column, by key), handed to the session as if it had loaded it: what
    the caller changes on it, the session's flush writes. The session's own instance of
    the row, if it has one, is kept, as its own loading would keep it."""
    session = db.sync_session
    mapper = inspect(model)
    identity = mapper.identity_key_from_primary_key([values[c.key] for c in mapper.primary_key])
    found = session.identity_map.get(identity)
    if found is not None:
        return found  # type: ignore[no-any-return]
    # Filled as the ORM's loading fills an instance (its constructor's bookkeeping, for
    # each attribute, cost more than the statement that read the row).
    entity: M = mapper.class_manager.new_instance()
    entity.__dict__.update(values)
    make_transient_to_detached(entity)
    session.add(entity)
    return entity

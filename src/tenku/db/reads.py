"""Reads that need no ORM: Core statements for a request, through its session or a
SQLite snapshot.

On SQLite, a statement through the asynchronous session cost about twenty times what
SQLite takes for it (a single-row join: ~300 us against ~15 us), nearly all of it in
the session, the pool and the greenlet hops between them, for rows that need none of
the ORM's handling. A read request's `Snapshot` is a plain SQLAlchemy connection of
its own, run on the event loop's thread as every SQLite statement here is (see
`engine._InlineConnection`): one read transaction, SQLAlchemy's compiled-statement
cache and its result processing, and nothing else. Its connections are read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Dialect, Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from tenku.db.engine import core
from tenku.db.prepared import Prepared
from tenku.db.statements import statements

Params = Mapping[str, Any] | None


class Reads(Protocol):
    """Where a route's Core reads run: `execute` gives a result to take rows from at once."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, stmt: Executable, params: Params = None
    ) -> Result[*tuple[Any, ...]]: ...

    async def first(
        self, prepared: Prepared, params: Mapping[str, Any]
    ) -> Sequence[Any] | None: ...

    async def all(
        self, prepared: Prepared, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]: ...


class SessionReads:
    """Reads in a session's own transaction (with its pending changes flushed first)."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    @property
    def dialect(self) -> Dialect:
        bind = self.db.bind
        assert bind is not None
        return bind.dialect

    async def execute(self, stmt: Executable, params: Params = None) -> Result[*tuple[Any, ...]]:
        return await (await core(self.db)).execute(stmt, params)

    async def first(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Any] | None:
        return await (await statements(self.db)).first(prepared, params)

    async def all(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        return await (await statements(self.db)).all(prepared, params)


def reads_of(source: AsyncSession | Reads) -> Reads:
    return SessionReads(source) if isinstance(source, AsyncSession) else source

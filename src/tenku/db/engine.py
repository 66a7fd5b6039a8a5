from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import Dialect, Result
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlalchemy.sql import Executable

from tenku.db.prepared import Prepared

# How long a statement may wait for another process's lock, as SQLite's busy handler would.
BUSY_WAIT = 30.0
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_busy(exc: BaseException | None) -> bool:
    """Whether SQLite refused a statement for another connection's lock, so that trying
    again later may succeed."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    # Extended codes carry the primary one in their low byte. A stale read snapshot
    # (BUSY_SNAPSHOT) would be refused again: only a new one helps.
    code = exc.sqlite_errorcode
    return code & 0xFF in _BUSY and code != sqlite3.SQLITE_BUSY_SNAPSHOT


T = TypeVar("T")


async def retried(statement: Callable[[], T]) -> T:
    """Run a statement on the loop's thread, again after a pause while SQLite refuses it
    for another connection's lock: the loop must never sleep in SQLite's busy handler."""
    pause, deadline = 0.001, time.monotonic() + BUSY_WAIT
    while True:
        try:
            return statement()
        except (OperationalError, sqlite3.OperationalError) as exc:
            cause = exc.orig if isinstance(exc, OperationalError) else exc
            if not is_busy(cause) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.02)


class _InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements run on the event loop's own thread.

    aiosqlite hands every call (and a statement is several) to its thread and back,
    two thread switches and a wake-up of the loop each; under load a write transaction
    then holds SQLite's lock for as long as the loop takes to come round again between
    its statements. Run here, a statement costs what SQLite costs. Nothing may wait
    in SQLite's busy handler, which would stall the loop: the busy timeout is 0, and a
    statement refused for another process's lock (in WAL mode: a writer's BEGIN
    IMMEDIATE, or a rare read during a checkpoint; either has done nothing yet) is
    tried again after an asynchronous sleep.
    """

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return await retried(partial(fn, *args, **kwargs))


def inline_driver(connection: AsyncConnection) -> sqlite3.Connection | None:
    """SQLite's own connection under `connection`, when it runs on the loop's thread (an
    `_InlineConnection`), so that statements may go to it straight from here."""
    sync = connection.sync_connection
    inline = None if sync is None else sync.connection.driver_connection
    if not isinstance(inline, _InlineConnection):
        return None
    driver = inline._connection
    return driver if isinstance(driver, sqlite3.Connection) else None


def _inline_creator(path: str) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    async def connect() -> aiosqlite.Connection:
        # The thread only opens (and closes) the connection; the loop's thread uses it.
        connector = partial(sqlite3.connect, path, timeout=0, check_same_thread=False)
        connection = _InlineConnection(connector, iter_chunk_size=64)
        connection._thread.daemon = True
        return await connection

    return connect


def _set_up(dbapi_conn: Any, *pragmas: str) -> None:
    """A new SQLite connection: transactions left to us (BEGIN is ours), and `pragmas`."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    for pragma in pragmas:
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _file_path(url: str) -> str | None:
    """The file a SQLite URL names plainly; None for an in-memory database or a URI."""
    path = make_url(url).database
    return path if path and path != ":memory:" and "?" not in url else None


def _sqlite_engine(url: str, begin: str, **pool: Any) -> AsyncEngine:
    path = _file_path(url)
    # In-memory databases (and URIs) keep aiosqlite's own connection and busy handler.
    inline = path is not None
    if path is not None:
        pool["async_creator"] = _inline_creator(path)
    engine = create_async_engine(url, connect_args={"timeout": BUSY_WAIT}, **pool)
    busy_ms = 0 if inline else int(BUSY_WAIT * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        _set_up(
            dbapi_conn,
            "journal_mode=WAL",
            "foreign_keys=ON",
            f"busy_timeout={busy_ms}",
            "synchronous=NORMAL",
        )

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


async def core(db: AsyncSession) -> AsyncConnection:
    """The session's connection, in its transaction, for Core statements whose rows need
    none of the ORM's handling (which costs more than a short query). Pending changes are
    flushed first, as the session's own `execute` would."""
    if db.new or db.dirty or db.deleted:
        await db.flush()
    return await db.connection()


def dialect_name(db: AsyncSession) -> str:
    """ "sqlite" or "postgresql": the database the session speaks to."""
    bind = db.bind
    assert bind is not None
    return bind.dialect.name


def is_sqlite(db: AsyncSession) -> bool:
    return dialect_name(db) == "sqlite"


class Snapshot:
    """One read request's transaction on SQLite, begun at its first statement."""

    def __init__(self, pool: SnapshotPool) -> None:
        self._pool = pool
        self._connection: Connection | None = None

    @property
    def dialect(self) -> Dialect:
        return self._pool.engine.dialect

    @property
    def began(self) -> bool:
        return self._connection is not None

    def _connect(self) -> Connection:
        connection = self._connection
        if connection is None:
            connection = self._connection = self._pool.take()
            # Begun here, so that statements sent to the driver itself are in it too.
            _driver(connection).execute("BEGIN")
        return connection

    async def execute(
        self, stmt: Executable, params: Mapping[str, Any] | None = None
    ) -> Result[*tuple[Any, ...]]:
        connection = self._connect()
        return await retried(lambda: connection.execute(stmt, params))

    async def first(self, prepared: Prepared, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of `prepared`, processed as `execute` would."""
        compiled = prepared.compiled(self.dialect)
        driver = _driver(self._connect())
        parameters = compiled.parameters(params)
        raw = await retried(lambda: driver.execute(compiled.sql, parameters).fetchone())
        return None if raw is None else compiled.row(raw)

    async def all(self, prepared: Prepared, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of `prepared`, processed as `execute` would."""
        compiled = prepared.compiled(self.dialect)
        driver = _driver(self._connect())
        parameters = compiled.parameters(params)
        return compiled.rows(
            await retried(lambda: driver.execute(compiled.sql, parameters).fetchall())
        )

    def close(self) -> None:
        """End the transaction (it only read) and give the connection back."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.give_back(connection)

    async def aclose(self) -> None:
        """`close`, as `Autocommitted` is closed."""
        self.close()


class Autocommitted:
    """A read request's Core reads on PostgreSQL: each statement on its own, outside any
    transaction. At READ COMMITTED each statement of a transaction sees a state of its
    own anyway, so a transaction adds nothing to reads; its BEGIN and COMMIT were two of a
    one-row read's three round trips, and a fifth of the database's work for it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    @property
    def dialect(self) -> Dialect:
        return self._engine.dialect

    async def _connect(self) -> AsyncConnection:
        if self._connection is None:
            self._connection = await self._engine.connect()
        return self._connection

    async def execute(
        self, stmt: Executable, params: Mapping[str, Any] | None = None
    ) -> Result[*tuple[Any, ...]]:
        return await (await self._connect()).execute(stmt, params)

    async def first(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Any] | None:
        return (await self.execute(prepared.stmt, params)).first()

    async def all(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        return (await self.execute(prepared.stmt, params)).all()

    async def aclose(self) -> None:
        """Give the connection back."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


# A read request's Core reads apart from its session (`Database.request_reads`).
OwnReads = Snapshot | Autocommitted


def _driver(connection: Connection) -> sqlite3.Connection:
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


class SnapshotPool:
    """Read-only connections to one SQLite file, for `Snapshot`s. A request holds one
    from its first read to its end; idle ones are kept, up to `idle`."""

    def __init__(self, path: str, idle: int = 8) -> None:
        # The same database through the standard library's driver, which needs no thread.
        # A connection serves one request at a time, on the thread of that request's loop.
        self.engine: Engine = create_engine(
            f"sqlite:///{path}", poolclass=NullPool, connect_args={"check_same_thread": False}
        )
        self._idle: list[Connection] = []
        self._keep = idle

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
            _set_up(dbapi_conn, "busy_timeout=0", "query_only=ON")

    def take(self) -> Connection:
        return self._idle.pop() if self._idle else self.engine.connect()

    def give_back(self, connection: Connection) -> None:
        try:
            if connection.in_transaction():
                connection.commit()
            driver = _driver(connection)
            if driver.in_transaction:
                driver.execute("COMMIT")
        except Exception:
            connection.close()
            raise
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            connection.close()

    def dispose(self) -> None:
        while self._idle:
            self._idle.pop().close()
        self.engine.dispose()


class Database:
    """Engines and session factories.

    SQLite allows one writer: writes begin IMMEDIATE so a transaction that read
    first can never fail to upgrade its lock; reads begin DEFERRED and, in WAL
    mode, never wait for writers. A process has one writer connection, so its
    writers queue for it in the event loop (the pool's checkout) rather than each
    sleeping in SQLite's busy handler, which polls and lets no one in turn; between
    processes, a refused BEGIN IMMEDIATE is tried again (see _InlineConnection).
    PostgreSQL uses one engine for both.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            in_memory = make_url(url).database in (None, "", ":memory:")
            # An in-memory database is one connection already.
            one: dict[str, Any] = (
                {} if in_memory else {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
            )
            self.writer = _sqlite_engine(url, "BEGIN IMMEDIATE", **one)
            self.reader = _sqlite_engine(url, "BEGIN")
            # An in-memory database is the one connection's own: nothing else sees it.
            path = _file_path(url)
            self.snapshots = None if path is None else SnapshotPool(path)
        else:
            self.writer = create_async_engine(url, pool_size=10, max_overflow=10)
            self.reader = self.writer
            self.snapshots = None
            # The same pool's connections, their statements outside any transaction.
            self._autocommit = self.writer.execution_options(isolation_level="AUTOCOMMIT")
        self.write_session = async_sessionmaker(self.writer, expire_on_commit=False)
        self.read_session = async_sessionmaker(self.reader, expire_on_commit=False)

    def session(self, write: bool) -> AsyncSession:
        return (self.write_session if write else self.read_session)()

    def snapshot(self) -> Snapshot | None:
        """A read request's own transaction, for its Core reads (SQLite files only)."""
        return None if self.snapshots is None else Snapshot(self.snapshots)

    def request_reads(self) -> OwnReads | None:
        """Where a read request's Core reads run apart from its session: a `Snapshot` on a
        SQLite file, `Autocommitted` on PostgreSQL (None for an in-memory SQLite, whose
        one connection is the session's)."""
        if not self.is_sqlite:
            return Autocommitted(self._autocommit)
        return self.snapshot()

    async def dispose(self) -> None:
        if self.snapshots is not None:
            self.snapshots.dispose()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

# Every session of every process that opens the database moves the auth generation.
from tenku.db import generation as _generation  # noqa: F401


class _InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements run on the event loop's own thread.

    A read in WAL mode never waits for a lock, and its work (a few index lookups, or a
    page of rows) costs less than the two thread switches and the wake-up of the loop
    that aiosqlite's queue costs per call (and a statement is several calls). Writes stay
    on aiosqlite's thread: BEGIN IMMEDIATE may wait for another process's write lock in
    SQLite's busy handler, which must never stall the loop.
    """

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _inline_creator(path: str) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    async def connect() -> aiosqlite.Connection:
        # The thread only opens (and closes) the connection; the loop's thread uses it.
        connector = partial(sqlite3.connect, path, timeout=30, check_same_thread=False)
        connection = _InlineConnection(connector, iter_chunk_size=64)
        connection._thread.daemon = True
        return await connection

    return connect


def _sqlite_engine(url: str, begin: str, inline: bool = False, **pool: Any) -> AsyncEngine:
    path = make_url(url).database
    if inline and path and path != ":memory:" and "?" not in url:
        pool["async_creator"] = _inline_creator(path)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Take over transaction control from the driver so that BEGIN is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    """Engines and session factories.

    SQLite allows one writer: writes begin IMMEDIATE so a transaction that read
    first can never fail to upgrade its lock; reads begin DEFERRED and, in WAL
    mode, never wait for writers. A process has one writer connection, so its
    writers queue for it in the event loop (the pool's checkout) rather than each
    sleeping in SQLite's busy handler, which polls and lets no one in turn; the busy
    handler is left to settle between processes. PostgreSQL uses one engine for both.
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
            self.reader = _sqlite_engine(url, "BEGIN", inline=True)
        else:
            self.writer = create_async_engine(url, pool_size=10, max_overflow=10)
            self.reader = self.writer
        self.write_session = async_sessionmaker(self.writer, expire_on_commit=False)
        self.read_session = async_sessionmaker(self.reader, expire_on_commit=False)

    def session(self, write: bool) -> AsyncSession:
        return (self.write_session if write else self.read_session)()

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()

"""What the Data API does on the PostgreSQL server that holds an add-on's database.

Every call goes through the provider's admin connection (`PostgresProvider.admin_url`),
to the server's admin database or to the add-on's own, so it works wherever the
provider keeps its databases. Names come from `names_for`: the add-on's database `d…`,
its role `u…` (the default credential), and one role `u…_<name>` per named credential.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tenku.addons.postgres import (
    CONNECT_TIMEOUT,
    PostgresProvider,
    login_role,
    names_for,
    scram_verifier,
)
from tenku.addons.provider import ProviderError

log = logging.getLogger("tenku.data_api")
Conn = psycopg.AsyncConnection[tuple[object, ...]]


def credential_role(addon_id: uuid.UUID, name: str) -> str:
    return f"{names_for(addon_id)[1]}_{name}"


@asynccontextmanager
async def connect(provider: PostgresProvider, addon_id: uuid.UUID | None) -> AsyncIterator[Conn]:
    """An admin connection to the add-on's database (None: to the admin database); the
    server's errors become ProviderError (unreachable: `unavailable`)."""
    conninfo = provider.admin_url
    if addon_id is not None:
        conninfo = make_conninfo(conninfo, dbname=names_for(addon_id)[0])
    try:
        conn = await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT
        )
    except psycopg.Error as exc:
        log.warning("PostgreSQL add-on server %s: %s", provider.where, exc)
        raise ProviderError(
            f"The database server ({provider.where}) is not reachable; try again later.",
            unavailable=True,
        ) from exc
    try:
        async with conn:
            yield conn
    except psycopg.Error as exc:
        log.warning("PostgreSQL add-on server %s: %s", provider.where, exc)
        raise ProviderError(f"The database server refused: {_reason(exc)}.") from exc


def _reason(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary or exc).strip().rstrip(".")


async def _one(conn: Conn, query: str, params: Sequence[object] = ()) -> tuple[object, ...]:
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return row


@dataclass(frozen=True)
class Stats:
    version: str
    num_bytes: int
    num_tables: int
    num_connections: int
    num_connections_waiting: int
    connection_limit: int


STATS = """
SELECT current_setting('server_version'),
       pg_database_size(current_database()),
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'
          AND n.nspname NOT LIKE 'pg\\_%%'),
       (SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()),
       (SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND wait_event_type = 'Lock'),
       (SELECT rolconnlimit FROM pg_roles WHERE rolname = %s)
"""


async def stats(provider: PostgresProvider, addon_id: uuid.UUID) -> Stats:
    """What `pg:info` shows, read from the database (admin's own connection not counted)."""
    async with connect(provider, addon_id) as conn:
        row = await _one(conn, STATS, (names_for(addon_id)[1],))
    version, size, tables, connections, waiting, limit = row
    return Stats(
        version=str(version).split()[0],
        num_bytes=int(str(size)),
        num_tables=int(str(tables)),
        num_connections=int(str(connections)),
        num_connections_waiting=int(str(waiting)),
        connection_limit=int(str(limit)) if limit is not None else -1,
    )


async def connections_by_role(provider: PostgresProvider, addon_id: uuid.UUID) -> dict[str, int]:
    async with connect(provider, None) as conn:
        rows = await (
            await conn.execute(
                "SELECT usename, count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() GROUP BY usename",
                (names_for(addon_id)[0],),
            )
        ).fetchall()
    return {str(name): int(str(n)) for name, n in rows}


async def _terminate(conn: Conn, database: str, role: str | None = None) -> int:
    query = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()"
    )
    params: tuple[str, ...] = (database,)
    if role is not None:
        query += " AND usename = %s"
        params += (role,)
    (count,) = await _one(conn, query, params)
    return int(str(count))


async def terminate(provider: PostgresProvider, addon_id: uuid.UUID) -> int:
    """End every connection to the add-on's database (`pg:killall`)."""
    async with connect(provider, None) as conn:
        return await _terminate(conn, names_for(addon_id)[0])


async def set_password(
    provider: PostgresProvider, addon_id: uuid.UUID, role: str, password: str, reset: bool
) -> None:
    """A credential's new password; `reset` ends its open connections too."""
    async with connect(provider, None) as conn:
        exists = await (
            await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        ).fetchone()
        if not exists:
            raise ProviderError("The role of this credential no longer exists.")
        await conn.execute(
            sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(scram_verifier(password))
            )
        )
        if reset:
            await _terminate(conn, names_for(addon_id)[0], role)


async def create_role(
    provider: PostgresProvider, addon_id: uuid.UUID, role: str, password: str, comment: str
) -> None:
    """A named credential: a login role that may CONNECT to the add-on's database and do
    nothing else until the owner grants it more, as on Heroku. The default credential may
    grant it on (ADMIN OPTION), and `public` is not opened to it through PUBLIC."""
    database, owner = names_for(addon_id)
    r, o = sql.Identifier(role), sql.Identifier(owner)
    async with connect(provider, None) as conn:
        found = await (
            await conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (owner,))
        ).fetchone()
        if found is None:
            raise ProviderError("The database of this add-on no longer exists.")
        await login_role(conn, role, password, int(str(found[0])), comment)
        await conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), r)
        )
        await conn.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(r, o))
    async with connect(provider, addon_id) as conn:
        public = await (
            await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'public'")
        ).fetchone()
        if public:
            try:
                await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            except psycopg.errors.InsufficientPrivilege:
                # An admin that is no superuser cannot where the server's bootstrap role
                # owns `public` (PostgreSQL 14 and older): PUBLIC's rights there stay.
                log.warning("could not close schema public of %s to PUBLIC", names_for(addon_id)[0])


async def drop_role(provider: PostgresProvider, addon_id: uuid.UUID, role: str) -> None:
    """A named credential goes; what it owned in the database passes to the default one."""
    database, owner = names_for(addon_id)
    r = sql.Identifier(role)
    async with connect(provider, None) as conn:
        exists = await (
            await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        ).fetchone()
        if not exists:
            return
        await _terminate(conn, database, role)
    async with connect(provider, addon_id) as conn:
        await conn.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(r, sql.Identifier(owner)))
        await conn.execute(sql.SQL("DROP OWNED BY {}").format(r))
    async with connect(provider, None) as conn:
        await conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(sql.Identifier(database), r)
        )
        await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(r))


async def repair_default(
    provider: PostgresProvider, addon_id: uuid.UUID, roles: Sequence[str]
) -> None:
    o = sql.Identifier(names_for(addon_id)[1])
    async with connect(provider, addon_id) as conn:
        for role in roles:
            exists = await (
                await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            ).fetchone()
            if exists:
                r = sql.Identifier(role)
                await conn.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(r, o))
                await conn.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(r, o))


SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'
"""
# Extensions a database owner may make without a superuser (PostgreSQL 13 and later).
TRUSTED = "SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = %s"


async def reset(provider: PostgresProvider, addon_id: uuid.UUID, extensions: Sequence[str]) -> None:
    """Everything in the database goes (`pg:reset`): its connections, every schema and
    large object; `public` comes back empty, owned by the default credential and closed
    to PUBLIC, with the trusted `extensions` asked for made by that credential."""
    database, owner = names_for(addon_id)
    o = sql.Identifier(owner)
    async with connect(provider, None) as conn:
        for name in extensions:
            (trusted,) = await _one(conn, TRUSTED, (name,))
            if trusted is None:
                raise ProviderError(f"The extension {name} is not available on this server.")
            if not trusted:
                raise ProviderError(
                    f"The extension {name} cannot be installed by a database owner."
                )
        await _terminate(conn, database)
    async with connect(provider, addon_id) as conn:
        for (schema,) in await (await conn.execute(SCHEMAS)).fetchall():
            await conn.execute(
                sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(str(schema)))
            )
        await conn.execute("SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
        await conn.execute(sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(o))
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        if extensions:
            # As the add-on's role: only extensions it may make itself (trusted ones).
            await conn.execute(sql.SQL("SET ROLE {}").format(o))
            for name in extensions:
                await conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA public").format(
                        sql.Identifier(name)
                    )
                )
            await conn.execute("RESET ROLE")


# What `pg:settings` shows, as the add-on's database sees them (its own ALTER DATABASE
# values included).
SETTINGS = (
    "log_connections",
    "log_lock_waits",
    "log_min_duration_statement",
    "log_min_error_statement",
    "log_statement",
    "track_functions",
)


@dataclass(frozen=True)
class Setting:
    value: str
    vartype: str
    default: str
    desc: str
    values: tuple[str, ...]


def _texts(values: object) -> tuple[str, ...]:
    return tuple(str(v) for v in values) if isinstance(values, list) else ()


async def settings(provider: PostgresProvider, addon_id: uuid.UUID) -> dict[str, Setting]:
    async with connect(provider, addon_id) as conn:
        rows = await (
            await conn.execute(
                "SELECT name, setting, vartype, boot_val, short_desc, enumvals "
                "FROM pg_settings WHERE name = ANY(%s)",
                (list(SETTINGS),),
            )
        ).fetchall()
    return {
        str(name): Setting(str(value), str(vartype), str(default), str(desc), _texts(enum))
        for name, value, vartype, default, desc, enum in rows
    }


async def set_database_setting(
    provider: PostgresProvider, addon_id: uuid.UUID, name: str, value: str
) -> None:
    async with connect(provider, None) as conn:
        await conn.execute(
            sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(names_for(addon_id)[0]), sql.Identifier(name), sql.Literal(value)
            )
        )

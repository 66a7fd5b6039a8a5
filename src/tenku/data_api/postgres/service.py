"""Heroku Postgres' Data API on the built-in provider's databases.

Answers are read from the database itself (size, tables, connections, version). Changes
reach the server first, so an unreachable or refusing server changes nothing; what Tenku
records follows in the request's transaction, and if that fails the server's change is
undone (a new password is set back, a new role dropped) by the `undo` hook the route
registers to run after the rollback.

A credential is a login role: `default` is the add-on's own role (its URL is the add-on's
config var, so rotating it makes a release on every app it is attached to, which restarts
their dynos); a named one is `<role>_<name>`, which may connect and do nothing else until
the default credential grants it more. Named credentials cannot be attached to apps here
(attachments have no credential namespaces), so `pg:credentials:url` is how to use one.
"""

from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import urlsplit

from sqlalchemy import select

from tenku.addons.postgres import PostgresProvider, names_for
from tenku.data_api import urls
from tenku.data_api.access import Database, Undo, on_server
from tenku.data_api.postgres import server
from tenku.data_api.postgres.schemas import (
    CredentialOut,
    CredentialUser,
    DatabaseOut,
    SettingOut,
    SettingsOut,
    WaitStatus,
)
from tenku.data_api.schemas import InfoItem
from tenku.db.models import PostgresCredential
from tenku.ids import stable_id
from tenku.resources.addon.service import update_config
from tenku.storage.sealing import Sealer
from tenku.web.errors import InvalidParams, NotFound

DEFAULT = "default"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
EXTENSION_RE = re.compile(r"^[a-z0-9_-]{1,63}$")
MAX_CREDENTIALS = 50


def _provider(d: Database) -> PostgresProvider:
    assert isinstance(d.provider, PostgresProvider)
    return d.provider


def _size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{num_bytes} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError


async def info(d: Database) -> DatabaseOut:
    d.require_ready()
    stats = await on_server(server.stats(_provider(d), d.addon.id))
    database, role = names_for(d.addon.id)
    limit = f"/{stats.connection_limit}" if stats.connection_limit >= 0 else ""
    items = [
        ("Plan", d.plan_name),
        ("Status", "Available"),
        ("Connections", f"{stats.num_connections}{limit}"),
        ("PG Version", stats.version),
        ("Created", d.addon.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Data Size", _size(stats.num_bytes)),
        ("Tables", str(stats.num_tables)),
        # The built-in provider keeps one copy of each database: no forks, followers,
        # point-in-time rollback or continuous protection.
        ("Fork/Follow", "Unsupported"),
        ("Rollback", "Unsupported"),
        ("Continuous Protection", "Off"),
    ]
    where = urlsplit(d.url)
    return DatabaseOut(
        addon_id=d.addon.id,
        heroku_resource_id=d.addon.id,
        name=d.addon.name,
        plan=d.plan,
        created_at=d.addon.created_at,
        database_name=database,
        database_user=role,
        port=where.port or 5432,
        postgres_version=stats.version,
        num_bytes=stats.num_bytes,
        num_tables=stats.num_tables,
        num_connections=stats.num_connections,
        num_connections_waiting=stats.num_connections_waiting,
        resource_url=urls.without_credentials(d.url),
        waiting=False,
        standalone=True,
        hot_standby=False,
        info=[InfoItem(name=name, values=[value]) for name, value in items],
    )


def wait_status(d: Database) -> WaitStatus:
    """`pg:wait`: built-in databases are ready once the add-on is provisioned."""
    if d.addon.state == "provisioned":
        return WaitStatus(waiting=False, error=False, message="Available")
    return WaitStatus(waiting=True, error=False, message="Provisioning")


async def _named(d: Database) -> list[PostgresCredential]:
    stmt = (
        select(PostgresCredential)
        .where(PostgresCredential.addon_id == d.addon.id)
        .order_by(PostgresCredential.name)
    )
    return list((await d.db.execute(stmt)).scalars())


async def _find(d: Database, name: str) -> PostgresCredential:
    stmt = select(PostgresCredential).where(
        PostgresCredential.addon_id == d.addon.id, PostgresCredential.name == name
    )
    found = (await d.db.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound("credential", f"Couldn't find the credential {name} on {d.addon.name}.")
    return found


def _out(
    d: Database, uid: uuid.UUID, name: str, user: str, password: str, used: dict[str, int]
) -> CredentialOut:
    where = urlsplit(d.url)
    return CredentialOut(
        uuid=uid,
        name=name,
        state="active",
        database=names_for(d.addon.id)[0],
        host=where.hostname or "",
        port=where.port or 5432,
        credentials=[
            CredentialUser(
                user=user, password=password, state="active", connections=used.get(user, 0)
            )
        ],
    )


def _default_out(d: Database, used: dict[str, int]) -> CredentialOut:
    uid = stable_id("postgres-credential", f"{d.addon.id}:{DEFAULT}")
    return _out(d, uid, DEFAULT, urls.user_of(d.url), urls.password_of(d.url), used)


def _named_out(
    d: Database, cred: PostgresCredential, sealer: Sealer, used: dict[str, int]
) -> CredentialOut:
    password = sealer.unseal(cred.password, cred.id.bytes)
    return _out(d, cred.id, cred.name, cred.role, password, used)


async def credentials(d: Database, sealer: Sealer) -> list[CredentialOut]:
    d.require_ready()
    used = await on_server(server.connections_by_role(_provider(d), d.addon.id))
    named = [_named_out(d, c, sealer, used) for c in await _named(d)]
    return [_default_out(d, used), *named]


async def credential(d: Database, sealer: Sealer, name: str) -> CredentialOut:
    d.require_ready()
    cred = None if name == DEFAULT else await _find(d, name)
    used = await on_server(server.connections_by_role(_provider(d), d.addon.id))
    return _default_out(d, used) if cred is None else _named_out(d, cred, sealer, used)


def _check_plan(d: Database) -> None:
    if d.plan.startswith("essential"):
        raise InvalidParams("You can't create a custom credential on Essential-tier databases.")


async def create_credential(d: Database, sealer: Sealer, name: str, undo: Undo) -> None:
    d.require_ready()
    _check_plan(d)
    if name == DEFAULT or not NAME_RE.match(name):
        raise InvalidParams(
            "Invalid name provided: a credential's name starts with a lowercase letter and "
            "holds only lowercase letters, digits and underscores (48 at most), and is not "
            "`default`."
        )
    named = await _named(d)
    if any(c.name == name for c in named):
        raise InvalidParams(f"The credential {name} already exists on {d.addon.name}.")
    if len(named) >= MAX_CREDENTIALS:
        raise InvalidParams(f"A database has at most {MAX_CREDENTIALS} credentials.")
    provider = _provider(d)
    role = server.credential_role(d.addon.id, name)
    password = secrets.token_hex(32)
    comment = f"tenku add-on {d.addon.id} ({d.addon.name}) credential {name}"
    await on_server(server.create_role(provider, d.addon.id, role, password, comment))
    addon_id = d.addon.id

    async def drop() -> None:
        await server.drop_role(provider, addon_id, role)

    undo(drop)
    cred = PostgresCredential(id=uuid.uuid4(), addon_id=d.addon.id, name=name, role=role)
    cred.password = sealer.seal(password, cred.id.bytes)
    d.db.add(cred)
    await d.db.flush()


async def destroy_credential(d: Database, name: str) -> None:
    d.require_ready()
    if name == DEFAULT:
        raise InvalidParams("Default credential cannot be destroyed.")
    cred = await _find(d, name)
    await on_server(server.drop_role(_provider(d), d.addon.id, cred.role))
    await d.db.delete(cred)
    await d.db.flush()


async def _rotate_one(d: Database, user: str, old: str, forced: bool, undo: Undo) -> str:
    provider, addon_id = _provider(d), d.addon.id
    password = secrets.token_hex(32)
    await on_server(server.set_password(provider, addon_id, user, password, forced))

    async def restore() -> None:
        await server.set_password(provider, addon_id, user, old, False)

    undo(restore)
    return password


async def rotate(d: Database, sealer: Sealer, name: str | None, forced: bool, undo: Undo) -> None:
    """A new password for credential `name` (None: every one). The default credential's
    connections are always ended, as its apps restart with the new URL; a named one's
    only when `forced`."""
    d.require_ready()
    named = await _named(d) if name is None else []
    if name is not None and name != DEFAULT:
        named = [await _find(d, name)]
    for cred in named:
        old = sealer.unseal(cred.password, cred.id.bytes)
        new = await _rotate_one(d, cred.role, old, forced, undo)
        cred.password = sealer.seal(new, cred.id.bytes)
    if name is None or name == DEFAULT:
        user, old = urls.user_of(d.url), urls.password_of(d.url)
        new = await _rotate_one(d, user, old, True, undo)
        new_url = urls.with_credentials(d.url, None, new)
        await update_config(d.db, d.catalog, d.addon, [(d.url_var, new_url)], d.account)
    await d.db.flush()


async def reset(d: Database, extensions: list[str]) -> None:
    """`pg:reset`: the database emptied in place (its credentials stay)."""
    d.require_ready()
    for name in extensions:
        if not EXTENSION_RE.match(name):
            raise InvalidParams(f"Invalid extensions provided: {name!r} is not an extension name.")
    await on_server(server.reset(_provider(d), d.addon.id, sorted(set(extensions))))


async def kill_all(d: Database) -> None:
    d.require_ready()
    await on_server(server.terminate(_provider(d), d.addon.id))


async def repair_default(d: Database) -> None:
    """What named credentials own passes to the default credential, which may again grant
    every one of them on (ADMIN OPTION)."""
    d.require_ready()
    roles = [c.role for c in await _named(d)]
    await on_server(server.repair_default(_provider(d), d.addon.id, roles))


# What `pg:settings:log-statement` and `pg:settings:track-functions` print for a value.
EXPLAINED = {
    "log_statement": {
        "none": "No statements are logged.",
        "ddl": "Data definition statements (CREATE, ALTER, DROP) are logged.",
        "mod": "Data definition and data-modifying statements are logged.",
        "all": "All statements are logged.",
    },
    "track_functions": {
        "none": "No functions are tracked.",
        "pl": "Only procedural-language functions are tracked.",
        "all": "All functions, including SQL and C language functions, are tracked.",
    },
}
# Heroku routes PostgreSQL's log lines to the app's logs; here they stay in the
# operator's server log, so the log settings are shown but not changed per database.
SETTABLE = frozenset({"track_functions"})


def _typed(vartype: str, raw: str) -> bool | int | str:
    if vartype == "bool":
        return raw == "on"
    if vartype == "integer":
        return int(raw)
    return raw


async def settings(d: Database) -> SettingsOut:
    d.require_ready()
    found = await on_server(server.settings(_provider(d), d.addon.id))
    return SettingsOut(
        {
            name: SettingOut(
                value=_typed(s.vartype, s.value),
                default=_typed(s.vartype, s.default),
                desc=s.desc,
                values=EXPLAINED.get(name) or {v: v for v in s.values},
            )
            for name, s in sorted(found.items())
        }
    )


async def change_settings(d: Database, changes: dict[str, object]) -> SettingsOut:
    d.require_ready()
    for name, value in changes.items():
        if name not in SETTABLE:
            raise InvalidParams(
                f"{name} cannot be changed here: PostgreSQL's logs stay on the database "
                "server and do not reach the app's logs."
                if name.startswith("log_")
                else f"{name} is not a setting of this database."
            )
        if value not in EXPLAINED[name]:
            listed = ", ".join(EXPLAINED[name])
            raise InvalidParams(f"Invalid {name} provided: use one of {listed}.")
    for name, value in changes.items():
        await on_server(server.set_database_setting(_provider(d), d.addon.id, name, str(value)))
    return await settings(d)

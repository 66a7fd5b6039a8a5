"""PostgreSQL's client tools as the runtime runs them: which binaries, which connection.

pg_dump and pg_restore are the distribution's, never anything a user supplied, and run as
Tenku's own user. They reach an add-on's database through the provider's admin URL (the
same server, user and TLS settings the provider connects with), its database swapped in.
Everything but the database name goes through libpq's environment variables, so no
password (nor host or user) ever shows on a command line that other users could read.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tenku.addons.postgres import PostgresProvider, names_for

# libpq's connection keywords and the environment variables that stand for them.
ENVIRONMENT = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requiressl": "PGREQUIRESSL",
    "sslcompression": "PGSSLCOMPRESSION",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "channel_binding": "PGCHANNELBINDING",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "require_auth": "PGREQUIREAUTH",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}
# Passed on to the tools from the runtime's own environment, besides libpq's PG* variables.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE")
DISTRIBUTION = Path("/usr/lib/postgresql")


class ToolError(Exception):
    """The tools cannot be run; the message goes to the transfer's log."""


def tool(name: str, configured: Path | None = None) -> str:
    """The path of `name` (pg_dump, pg_restore): in `configured`, else in the newest
    version the distribution installed, else on PATH."""
    if configured is not None:
        found = configured / name
        if not os.access(found, os.X_OK):
            raise ToolError(f"{name} is not in {configured} (TENKU_PG_BIN_DIR).")
        return str(found)
    versions: list[tuple[tuple[int, ...], Path]] = []
    if DISTRIBUTION.is_dir():
        for entry in DISTRIBUTION.iterdir():
            if re.fullmatch(r"\d+(\.\d+)*", entry.name):
                versions.append((tuple(int(p) for p in entry.name.split(".")), entry))
    for _, entry in sorted(versions, reverse=True):
        candidate = entry / "bin" / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which(name)
    if on_path is None:
        raise ToolError(f"{name} is not installed (install PostgreSQL's client tools).")
    return on_path


@dataclass(frozen=True)
class Target:
    """How the tools reach one add-on's database: `--dbname`, libpq's environment, and the
    add-on's role (what restored objects belong to)."""

    dbname: str
    env: dict[str, str]
    role: str


def target(provider: PostgresProvider, addon_id: uuid.UUID) -> Target:
    database, role = names_for(addon_id)
    try:
        params = conninfo_to_dict(provider.admin_url)
    except psycopg.Error as exc:
        raise ToolError("The add-on server's admin URL cannot be read.") from exc
    params.pop("dbname", None)
    if "sslpassword" in params:
        # libpq has no variable for it, and a command line is no place for a secret.
        raise ToolError("The add-on server's admin URL has an sslpassword the tools cannot use.")
    env = {ENVIRONMENT[k]: str(v) for k, v in params.items() if k in ENVIRONMENT and v is not None}
    rest = {k: v for k, v in params.items() if k not in ENVIRONMENT and v is not None}
    dbname = make_conninfo("", dbname=database, **rest) if rest else database
    return Target(dbname, env, role)


def environment(to: Target, marker: str) -> dict[str, str]:
    """A tool's environment: what it needs of the runtime's (libpq's PG* variables
    included, which the provider's own connections read too), the admin URL's settings
    for `to` over them, and `marker` (a restarted runtime finds and kills what its
    predecessor left running by it)."""
    env = {k: v for k, v in os.environ.items() if k in KEPT or k.startswith("PG")}
    env.setdefault("PATH", os.defpath)
    env["LC_MESSAGES"] = "C"
    env["TZ"] = "UTC"
    env["PGAPPNAME"] = "tenku-pg-transfer"
    env.update(to.env)
    name, _, value = marker.partition("=")
    env[name] = value
    return env

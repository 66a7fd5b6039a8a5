"""Heroku Postgres on an operator's PostgreSQL server: a role and a database per add-on.

The role owns its database and nothing else; CONNECT on the database is revoked
from PUBLIC, so other add-ons' roles cannot reach it. Names derive from the
add-on id, which makes every step safe to repeat and a half-made add-on easy to
remove.

Nor may an add-on's role reach the server's other databases: what PUBLIC is granted
cannot be withheld from one role, so before the first add-on of a provider PUBLIC loses
CONNECT and TEMPORARY on every other database, and the login roles that are not add-ons'
keep them through grants of their own (roles made later need a GRANT from the operator).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import uuid
from urllib.parse import quote

import psycopg
from psycopg import sql

from tenku.addons.catalog import PlanSpec, ServiceSpec
from tenku.addons.provider import PlanChangeResult, ProviderError, ProvisionRequest, ProvisionResult
from tenku.addons.servers import Public, postgres_public

log = logging.getLogger("tenku.addons")
CONNECT_TIMEOUT = 5
SCRAM_ITERATIONS = 4096


def names_for(addon_id: uuid.UUID) -> tuple[str, str]:
    """(database, role): `d` and `u` followed by the same 13 characters."""
    digest = hashlib.sha256(b"tenku-postgres:" + addon_id.bytes).digest()
    tail = base64.b32encode(digest).decode().lower()[:13]
    return "d" + tail, "u" + tail


def scram_verifier(password: str) -> str:
    """What PostgreSQL stores for a SCRAM password, so the clear text never reaches its logs."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _connection_limit(plan: PlanSpec) -> int:
    raw = plan.settings.get("connection_limit", -1)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else -1


async def login_role(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    role: str,
    password: str,
    limit: int,
    comment: str,
) -> None:
    """A login role with no attributes but its password and connection limit, made or,
    if it exists, reset to that (so a repeated call is safe)."""
    r = sql.Identifier(role)
    exists = await (
        await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    ).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    await conn.execute(
        sql.SQL(
            "{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "PASSWORD {} CONNECTION LIMIT {}"
        ).format(verb, r, sql.Literal(scram_verifier(password)), sql.Literal(limit))
    )
    await conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(r, sql.Literal(comment)))


ADDON_DATABASE = r"^d[a-z2-7]{13}$"
# An add-on's own role, and the roles of its named credentials (`<role>_<name>`).
ADDON_ROLE = r"^u[a-z2-7]{13}(_[a-z0-9_]+)?$"
# Databases whose ACL still grants PUBLIC CONNECT or TEMPORARY (a NULL ACL is the default).
OPEN_DATABASES = """
SELECT d.datname FROM pg_database d
WHERE d.datallowconn AND d.datname !~ %s
  AND EXISTS (
    SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
    WHERE a.grantee = 0 AND a.privilege_type IN ('CONNECT', 'TEMPORARY')
  )
"""
KEPT_ROLES = """
SELECT rolname FROM pg_roles
WHERE rolcanlogin AND NOT rolsuper AND rolname !~ %s AND rolname !~ '^pg_'
"""


class PostgresProvider:
    """`admin_url` connects to the server as a role that creates roles and databases (a
    managed server's is a unix socket); apps' URLs point at `public` (by default where the
    admin URL does)."""

    def __init__(self, admin_url: str, public: Public | None = None) -> None:
        self.admin_url = admin_url
        self._locked_down = False
        self.public = public or postgres_public(admin_url)
        self.host, self.port = self.public.host, str(self.public.port)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, role: str, password: str, database: str) -> str:
        # Heroku's URLs carry no sslmode: its servers refuse connections without TLS, as
        # managed ones do. Those of an operator's server ask for it if its admin's does.
        tls = "sslmode=require" if self.public.tls else ""
        if self.host.startswith("/"):
            query = "&".join(filter(None, [f"host={quote(self.host, safe='')}", tls]))
            return f"postgres://{role}:{password}@/{database}?{query}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgres://{role}:{password}@{host}:{self.port}/{database}" + (
            f"?{tls}" if tls else ""
        )

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        try:
            return await psycopg.AsyncConnection.connect(
                self.admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
            )
        except psycopg.Error as exc:
            log.warning("PostgreSQL add-on server %s unreachable: %s", self.where, exc)
            raise ProviderError(
                f"The PostgreSQL server for database add-ons ({self.where}) is not reachable. "
                "Nothing was created or changed; try again later.",
                unavailable=True,
            ) from exc

    async def provision(self, spec: ServiceSpec, req: ProvisionRequest) -> ProvisionResult:
        database, role = names_for(req.uuid)
        password = secrets.token_hex(32)
        comment = f"tenku add-on {req.uuid} ({req.name})"
        limit = _connection_limit(req.plan)
        async with await self._connect() as conn:
            await self._lock_down(conn)
            try:
                await self._create(conn, database, role, password, limit, comment)
            except psycopg.Error as exc:
                log.warning("creating database %s failed: %s", database, exc)
                try:
                    await self._drop(conn, database, role)
                except psycopg.Error:
                    log.exception("could not remove half-made database %s", database)
                raise ProviderError(f"Could not create the database: {_reason(exc)}.") from exc
        config = {f"{spec.config_vars_prefix}_URL": self.url(role, password, database)}
        return ProvisionResult(provider_id=database, done=True, config=config)

    async def _lock_down(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        """PUBLIC's CONNECT and TEMPORARY go from the server's other databases (see above)."""
        if self._locked_down:
            return
        try:
            databases = [
                r[0]
                for r in await (await conn.execute(OPEN_DATABASES, (ADDON_DATABASE,))).fetchall()
            ]
            roles = [r[0] for r in await (await conn.execute(KEPT_ROLES, (ADDON_ROLE,))).fetchall()]
            for name in databases:
                d = sql.Identifier(str(name))
                for kept in roles:
                    await conn.execute(
                        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                            d, sql.Identifier(str(kept))
                        )
                    )
                await conn.execute(
                    sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(d)
                )
            if databases:
                log.warning(
                    "PostgreSQL add-on server %s: PUBLIC no longer has CONNECT and TEMPORARY on "
                    "%s (kept for the roles %s)",
                    self.where,
                    ", ".join(map(str, databases)),
                    ", ".join(map(str, roles)) or "none",
                )
            self._locked_down = True
        except psycopg.Error as exc:
            # An admin that does not own those databases cannot; add-ons are still made.
            log.warning(
                "PostgreSQL add-on server %s: could not revoke PUBLIC's access to other "
                "databases: %s",
                self.where,
                exc,
            )

    async def _create(
        self,
        conn: psycopg.AsyncConnection[tuple[object, ...]],
        database: str,
        role: str,
        password: str,
        limit: int,
        comment: str,
    ) -> None:
        r, d = sql.Identifier(role), sql.Identifier(database)
        await login_role(conn, role, password, limit, comment)
        found = await (
            await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        ).fetchone()
        if not found:
            superuser = await (
                await conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).fetchone()
            if not (superuser and superuser[0]):
                # A CREATEROLE admin must be a member of the role it makes an owner.
                await conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(r))
            await conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(d, r))
        await conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(d))
        await conn.execute(sql.SQL("GRANT ALL ON DATABASE {} TO {}").format(d, r))
        await conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(d, sql.Literal(comment)))

    async def _drop(
        self, conn: psycopg.AsyncConnection[tuple[object, ...]], database: str, role: str
    ) -> None:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE (datname = %s OR usename = %s) AND pid <> pg_backend_pid()",
            (database, role),
        )
        force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
        await conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(database), force)
        )
        # The add-on's role and its named credentials' (which own nothing elsewhere).
        found = await (
            await conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = %s OR starts_with(rolname, %s)",
                (role, role + "_"),
            )
        ).fetchall()
        for (name,) in sorted(found, key=lambda r: str(r[0]) == role):
            await conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(str(name))))
            await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(str(name))))

    async def deprovision(self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str) -> None:
        database, role = names_for(addon_id)
        async with await self._connect() as conn:
            try:
                await self._drop(conn, database, role)
            except psycopg.Error as exc:
                raise ProviderError(f"Could not remove the database: {_reason(exc)}.") from exc

    async def change_plan(
        self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str, plan: PlanSpec
    ) -> PlanChangeResult:
        _, role = names_for(addon_id)
        async with await self._connect() as conn:
            exists = await (
                await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            ).fetchone()
            if not exists:
                raise ProviderError("The database of this add-on no longer exists.")
            try:
                await conn.execute(
                    sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
                        sql.Identifier(role), sql.Literal(_connection_limit(plan))
                    )
                )
            except psycopg.Error as exc:
                raise ProviderError(f"Could not change the plan: {_reason(exc)}.") from exc
        return PlanChangeResult()


def _reason(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary or exc).strip().rstrip(".")

"""Heroku Redis on an operator's Redis server: an ACL user per add-on.

Each user may touch only keys and channels that start with its own prefix
(`<user>:`), and none of the commands that see or change the whole server
(KEYS, SCAN, FLUSHALL, CONFIG, INFO...). Where the server has no ACLs (Redis
before 6), each add-on gets a logical database of its own instead.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from tenku.addons.catalog import PlanSpec, ServiceSpec
from tenku.addons.provider import PlanChangeResult, ProviderError, ProvisionRequest, ProvisionResult
from tenku.addons.servers import Public, redis_public

log = logging.getLogger("tenku.addons")
CONNECT_TIMEOUT = 5.0
# Where databases handed out in "database" mode are recorded, in the admin database.
REGISTRY = "tenku:addon-databases"
ACL_RULES = (
    "+@all",
    "-@dangerous",
    "-@admin",
    "-scan",
    "-randomkey",
    "-dbsize",
    "-pubsub",
    "-function",
    "-fcall",
    "-fcall_ro",
    # Invalidation messages would name other users' keys; scripts and memory reports are
    # the server's, not the add-on's.
    "-client|tracking",
    "-script|flush",
    "-script|kill",
    "-memory",
)


async def _command(client: aioredis.Redis, *args: str | int) -> Any:
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


async def _save_acl(client: aioredis.Redis) -> None:
    """Keep the users across restarts where the server has an ACL file (a managed one
    does); one without keeps them until it restarts, as before."""
    try:
        await _command(client, "ACL", "SAVE")
    except ResponseError as exc:
        if "ACL file" not in str(exc):
            log.warning("Redis add-on users could not be saved: %s", exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def user_for(addon_id: uuid.UUID) -> str:
    digest = hashlib.sha256(b"tenku-redis:" + addon_id.bytes).digest()
    return "r" + base64.b32encode(digest).decode().lower()[:13]


class RedisProvider:
    """`admin_url` connects as a user that may manage ACLs (a managed server's is a unix
    socket); apps' URLs point at `public` (by default where the admin URL does)."""

    def __init__(
        self, admin_url: str, isolation: str = "auto", public: Public | None = None
    ) -> None:
        if isolation not in ("auto", "acl", "database"):
            raise ValueError("TENKU_ADDON_REDIS_ISOLATION must be auto, acl or database")
        self.admin_url = admin_url
        self.isolation = isolation
        public = public or redis_public(admin_url)
        self.scheme = "rediss" if public.tls else "redis"
        self.host = public.host
        self.port = public.port
        parts = urlsplit(admin_url)
        self.admin_password = parts.password
        path = parts.path.strip("/")
        db = parse_qs(parts.query).get("db", [""])[0]
        self.admin_db = int(path) if path.isdigit() else int(db) if db.isdigit() else 0

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _url(self, user: str, password: str, db: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else ""
        return f"{self.scheme}://{auth}{host}:{self.port}/{db}"

    @asynccontextmanager
    async def _admin(self) -> AsyncIterator[aioredis.Redis]:
        client = aioredis.Redis.from_url(
            self.admin_url,
            single_connection_client=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=30,
        )
        try:
            try:
                await client.ping()
            except RedisError as exc:
                log.warning("Redis add-on server %s unreachable: %s", self.where, exc)
                raise ProviderError(
                    f"The Redis server for key-value add-ons ({self.where}) is not reachable. "
                    "Nothing was created or changed; try again later.",
                    unavailable=True,
                ) from exc
            yield client
        finally:
            await client.aclose()

    async def _mode(self, client: aioredis.Redis) -> str:
        if self.isolation != "auto":
            return self.isolation
        try:
            await _command(client, "ACL", "WHOAMI")
        except ResponseError:
            return "database"
        return "acl"

    async def provision(self, spec: ServiceSpec, req: ProvisionRequest) -> ProvisionResult:
        prefix = spec.config_vars_prefix
        async with self._admin() as client:
            try:
                if await self._mode(client) == "acl":
                    user = user_for(req.uuid)
                    password = secrets.token_hex(32)
                    await _command(
                        client,
                        "ACL",
                        "SETUSER",
                        user,
                        "reset",
                        "on",
                        f">{password}",
                        f"~{user}:*",
                        "resetchannels",
                        f"&{user}:*",
                        *ACL_RULES,
                    )
                    await _save_acl(client)
                    config = {
                        f"{prefix}_URL": self._url(user, password, self.admin_db),
                        f"{prefix}_KEY_PREFIX": f"{user}:",
                    }
                    return ProvisionResult(provider_id=user, done=True, config=config)
                if not req.may_share_admin:
                    raise ProviderError(
                        "This Redis server has no ACLs, so an add-on would get its admin "
                        "password; with more than one account that is refused (the operator "
                        "can use Redis 6 or later, or set TENKU_ADDON_UNSAFE_ADMIN=1).",
                        unavailable=True,
                    )
                db = await self._claim_database(client, req.uuid)
                url = self._url("", self.admin_password or "", db)
                return ProvisionResult(
                    provider_id=f"db{db}", done=True, config={f"{prefix}_URL": url}
                )
            except ResponseError as exc:
                raise ProviderError(f"Could not create the Redis user: {exc}.") from exc

    async def _databases(self, client: aioredis.Redis) -> int:
        try:
            found = await client.config_get("databases")
            return int(str(found.get("databases") or 16))
        except (ResponseError, ValueError):
            return 16

    async def _claim_database(self, client: aioredis.Redis, addon_id: uuid.UUID) -> int:
        await _command(client, "SELECT", self.admin_db)
        claimed = await client.hgetall(REGISTRY)
        for raw_db, owner in claimed.items():
            if _text(owner) == str(addon_id):
                return int(raw_db)
        for db in range(await self._databases(client)):
            if db == self.admin_db:
                continue
            if await client.hsetnx(REGISTRY, str(db), str(addon_id)):
                await _command(client, "SELECT", db)
                await client.flushdb()
                return db
        raise ProviderError("The Redis server has no free database for another add-on.")

    async def deprovision(self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str) -> None:
        async with self._admin() as client:
            try:
                if await self._mode(client) == "acl":
                    user = user_for(addon_id)
                    # Deleting the user also disconnects its clients.
                    await _command(client, "ACL", "DELUSER", user)
                    await _save_acl(client)
                    await self._delete_keys(client, f"{user}:*")
                else:
                    await self._release_database(client, addon_id)
            except ResponseError as exc:
                raise ProviderError(f"Could not remove the Redis user: {exc}.") from exc

    async def _delete_keys(self, client: aioredis.Redis, pattern: str) -> None:
        # SELECT, MOVE and COPY ... DB let a user put prefixed keys in any database.
        for db in range(await self._databases(client)):
            try:
                await _command(client, "SELECT", db)
            except ResponseError:
                break
            batch: list[bytes] = []
            async for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    await client.unlink(*batch)
                    batch = []
            if batch:
                await client.unlink(*batch)

    async def _release_database(self, client: aioredis.Redis, addon_id: uuid.UUID) -> None:
        await _command(client, "SELECT", self.admin_db)
        claimed = await client.hgetall(REGISTRY)
        for raw_db, owner in claimed.items():
            if _text(owner) == str(addon_id):
                await _command(client, "SELECT", int(raw_db))
                await client.flushdb()
                await _command(client, "SELECT", self.admin_db)
                await client.hdel(REGISTRY, raw_db)

    async def change_plan(
        self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str, plan: PlanSpec
    ) -> PlanChangeResult:
        # Plans differ in price only: a shared server has no per-user memory limit.
        async with self._admin() as client:
            if await self._mode(client) == "acl":
                found = await _command(client, "ACL", "GETUSER", user_for(addon_id))
                if not found:
                    raise ProviderError("The Redis user of this add-on no longer exists.")
        return PlanChangeResult()

    # For the Data API (tenku.data_api.redis), which reads and changes add-ons in place.
    def admin(self) -> AbstractAsyncContextManager[aioredis.Redis]:
        """An admin connection; an unreachable server is a ProviderError (unavailable)."""
        return self._admin()

    async def mode(self, client: aioredis.Redis) -> str:
        """How add-ons are kept apart on this server: "acl" or "database"."""
        return await self._mode(client)

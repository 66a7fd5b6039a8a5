"""What the Data API reads and changes on the Redis server that holds an add-on, through
the provider's admin connection (`RedisProvider.admin_url`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from tenku.addons.provider import ProviderError
from tenku.addons.redis import RedisProvider, _command, user_for

# The server settings `redis:maxmemory`, `redis:timeout` and `redis:keyspace-notifications`
# name, under Redis' own names.
SETTINGS = ("maxmemory-policy", "timeout", "notify-keyspace-events", "appendonly", "save")


@dataclass(frozen=True)
class ServerFacts:
    version: str
    mode: str
    settings: dict[str, str]

    @property
    def persistence(self) -> str:
        if self.settings.get("appendonly") == "yes":
            return "AOF"
        return "RDB" if self.settings.get("save") else "None"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def facts(provider: RedisProvider) -> ServerFacts:
    async with provider.admin() as client:
        try:
            server = await client.info("server")
            found = {k: _text(v) for k, v in (await client.config_get("*")).items()}
            mode = await provider.mode(client)
        except RedisError as exc:
            raise ProviderError(f"The Redis server refused: {exc}.") from exc
    settings = {name: found.get(name, "") for name in SETTINGS}
    return ServerFacts(str(server.get("redis_version", "")), mode, settings)


async def set_password(
    provider: RedisProvider, addon_id: uuid.UUID, password: str, disconnect: bool
) -> None:
    """The add-on's ACL user gets `password` alone; `disconnect` ends its connections."""
    user = user_for(addon_id)
    async with provider.admin() as client:
        try:
            if await provider.mode(client) != "acl":
                raise ProviderError(
                    "This add-on's Redis server has no ACLs: its password is the server's "
                    "and cannot be reset for one add-on."
                )
            if not await _command(client, "ACL", "GETUSER", user):
                raise ProviderError("The Redis user of this add-on no longer exists.")
            await _command(client, "ACL", "SETUSER", user, "resetpass", f">{password}")
            if disconnect:
                await _command(client, "CLIENT", "KILL", "USER", user)
        except RedisError as exc:
            raise ProviderError(f"The Redis server refused: {exc}.") from exc

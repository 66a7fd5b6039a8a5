"""Heroku Data for Redis' Data API on the built-in provider's add-ons (see __init__)."""

from __future__ import annotations

import secrets

from tenku.addons.redis import RedisProvider
from tenku.data_api import urls
from tenku.data_api.access import Database, Undo, on_server
from tenku.data_api.redis import server
from tenku.data_api.redis.schemas import ConfigOut, ConfigUpdate, RedisOut, Setting, WaitOut
from tenku.data_api.schemas import InfoItem
from tenku.resources.addon.service import update_config
from tenku.web.errors import InvalidParams

# Redis' eviction policies, described as `redis:maxmemory` prints them.
POLICIES = {
    "noeviction": "return errors when memory limit is reached",
    "allkeys-lfu": "evict any key, least frequently used first",
    "allkeys-lru": "evict any key, least recently used first",
    "allkeys-random": "evict any key at random",
    "volatile-lfu": "evict keys with an expiry set, least frequently used first",
    "volatile-lru": "evict keys with an expiry set, least recently used first",
    "volatile-random": "evict keys with an expiry set at random",
    "volatile-ttl": "evict keys with an expiry set, shortest time to live first",
}
KEYSPACE_FLAGS = frozenset("KEg$lshzxetdmnA")


def _provider(d: Database) -> RedisProvider:
    assert isinstance(d.provider, RedisProvider)
    return d.provider


def _tls(d: Database) -> bool:
    return d.url.startswith("rediss://")


async def info(d: Database) -> RedisOut:
    d.require_ready()
    facts = await on_server(server.facts(_provider(d)))
    events = facts.settings["notify-keyspace-events"]
    items = [
        ("Plan", d.plan_name),
        ("Status", "available"),
        ("Created", d.addon.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Version", facts.version),
        ("Timeout", facts.settings["timeout"]),
        ("Maxmemory", facts.settings["maxmemory-policy"]),
        ("Maintenance", "not required"),
        ("Persistence", facts.persistence),
        ("Requires TLS", "Yes" if _tls(d) else "No"),
        ("Keyspace Notifications", events or "Disabled"),
        # Shared with the server's other add-ons: its settings are the server's.
        ("Isolation", "ACL user" if facts.mode == "acl" else "logical database"),
    ]
    shown = d.url if await d.may("config") else urls.without_credentials(d.url)
    return RedisOut(
        name=d.addon.name,
        plan=d.plan,
        created_at=d.addon.created_at,
        version=facts.version,
        resource_url=shown,
        prefer_native_tls=_tls(d),
        info=[InfoItem(name=name, values=[value]) for name, value in items],
    )


def wait(d: Database) -> WaitOut:
    if d.addon.state == "provisioned":
        return WaitOut(waiting=False, message="available")
    return WaitOut(waiting=True, message="provisioning")


def _config(settings: dict[str, str]) -> ConfigOut:
    return ConfigOut(
        maxmemory_policy=Setting(value=settings["maxmemory-policy"], values=POLICIES),
        timeout=Setting(value=int(settings["timeout"] or 0)),
        notify_keyspace_events=Setting(value=settings["notify-keyspace-events"]),
    )


def _flags(value: str) -> frozenset[str]:
    return frozenset(value.replace("A", "g$lshzxetd"))


async def update(d: Database, params: ConfigUpdate) -> ConfigOut:
    """A setting is the whole server's: asking for what it already is succeeds, anything
    else is refused (another tenant's add-on would change too)."""
    d.require_ready()
    if params.maxmemory_policy is not None and params.maxmemory_policy not in POLICIES:
        listed = ", ".join(POLICIES)
        raise InvalidParams(f"Invalid maxmemory_policy provided: use one of {listed}.")
    events = params.notify_keyspace_events
    if events is not None and not set(events) <= KEYSPACE_FLAGS:
        raise InvalidParams("Invalid notify_keyspace_events provided: use Redis' flags (KEA...).")
    facts = await on_server(server.facts(_provider(d)))
    now = facts.settings
    flags = None if events is None else _flags(events)
    asked: tuple[tuple[str, object, object], ...] = (
        ("maxmemory_policy", params.maxmemory_policy, now["maxmemory-policy"]),
        ("timeout", params.timeout, int(now["timeout"] or 0)),
        ("notify_keyspace_events", flags, _flags(now["notify-keyspace-events"])),
    )
    for name, value, current in asked:
        if value is not None and value != current:
            raise InvalidParams(
                f"{d.addon.name} shares its Redis server with other add-ons, so its {name} "
                f"is the server's ({now[name.replace('_', '-')]!r}) and cannot be set for "
                "it alone."
            )
    return _config(now)


async def rotate(d: Database, undo: Undo) -> None:
    """`redis:credentials --reset`: a new password for the add-on's user, its connections
    ended, and its apps given the new URL through a release."""
    d.require_ready()
    provider, addon_id = _provider(d), d.addon.id
    old = urls.password_of(d.url)
    password = secrets.token_hex(32)
    await on_server(server.set_password(provider, addon_id, password, disconnect=True))

    async def restore() -> None:
        await server.set_password(provider, addon_id, old, disconnect=False)

    undo(restore)
    new_url = urls.with_credentials(d.url, None, password)
    await update_config(d.db, d.catalog, d.addon, [(d.url_var, new_url)], d.account)

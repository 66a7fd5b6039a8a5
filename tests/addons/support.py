"""Shared by the add-on tests: real-server cleanup, probes, and a fake partner's manifest.

Every PostgreSQL database and role and every Redis user a test makes through a
provider is removed when the test ends, pass or fail: provision calls are
recorded before they run, and the names derive from the add-on id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg import sql

from tenku.addons.catalog import ServiceSpec
from tenku.addons.postgres import PostgresProvider
from tenku.addons.postgres import names_for as pg_names
from tenku.addons.provider import ProvisionRequest
from tenku.addons.redis import REGISTRY, RedisProvider, user_for
from tenku.config import Settings
from tests.addons.fake_partner import FakePartner, Platform
from tests.conftest import ApiClient, User, serving_app

PG_ADMIN = os.environ.get("TENKU_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_ADMIN = os.environ.get("TENKU_TEST_REDIS_ADMIN", "redis://127.0.0.1:6379/0")
# Nothing listens here: providers pointed at it must fail cleanly.
CLOSED_PG = "postgresql://postgres@127.0.0.1:9/postgres"
CLOSED_REDIS = "redis://127.0.0.1:9/0"
PARTNER_PASSWORD = "partner-secret-0123456789abcdef"


def provision_request(
    spec: ServiceSpec, plan: str | None = None, *, may_share_admin: bool = True
) -> ProvisionRequest:
    addon_id = uuid.uuid4()
    return ProvisionRequest(
        uuid=addon_id,
        name=f"test-{addon_id.hex[:6]}",
        plan=spec.plan(plan) if plan else spec.default_plan,  # type: ignore[arg-type]
        region="tenku::local",
        options={},
        callback_url=f"http://127.0.0.1:5000/addons/{addon_id}",
        may_share_admin=may_share_admin,
    )


def pg_exists(addon_id: uuid.UUID) -> tuple[bool, bool]:
    """(database exists, role exists) on the test server."""
    database, role = pg_names(addon_id)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        rl = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return db is not None, rl is not None


def redis_client(db: int = 0) -> redis.Redis:
    return redis.Redis.from_url(REDIS_ADMIN, db=db)


def redis_user_exists(addon_id: uuid.UUID) -> bool:
    with redis_client() as client:
        return client.execute_command("ACL", "GETUSER", user_for(addon_id)) is not None


def drop_pg(addon_id: uuid.UUID) -> None:
    database, role = pg_names(addon_id)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def drop_redis(addon_id: uuid.UUID) -> None:
    user = user_for(addon_id)
    with redis_client() as client:
        client.execute_command("ACL", "DELUSER", user)
        claimed = {k.decode(): v.decode() for k, v in client.hgetall(REGISTRY).items()}
    for db in range(16):
        with redis_client(db) as client:
            keys = list(client.scan_iter(match=f"{user}:*"))
            if keys:
                client.delete(*keys)
            for number, owner in claimed.items():
                if owner == str(addon_id) and int(number) == db:
                    client.flushdb()
    with redis_client() as client:
        for number, owner in claimed.items():
            if owner == str(addon_id):
                client.hdel(REGISTRY, number)


@pytest.fixture(autouse=True)
async def real_resources_cleanup(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Record every add-on the built-in providers are asked to make; remove them all after."""
    made: list[tuple[str, uuid.UUID]] = []
    pg_provision = PostgresProvider.provision
    redis_provision = RedisProvider.provision

    async def record_pg(self: PostgresProvider, spec: Any, req: Any) -> Any:
        made.append(("pg", req.uuid))
        return await pg_provision(self, spec, req)

    async def record_redis(self: RedisProvider, spec: Any, req: Any) -> Any:
        made.append(("redis", req.uuid))
        return await redis_provision(self, spec, req)

    monkeypatch.setattr(PostgresProvider, "provision", record_pg)
    monkeypatch.setattr(RedisProvider, "provision", record_redis)
    yield
    for kind, addon_id in made:
        if kind == "pg":
            drop_pg(addon_id)
        else:
            drop_redis(addon_id)


def manifest(partner: FakePartner, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "fake-partner",
        "name": "Fake Partner",
        "api": {
            "config_vars": ["FAKE_PARTNER_URL", "FAKE_PARTNER_TOKEN"],
            "password": PARTNER_PASSWORD,
            "regions": ["*"],
            "requires": ["attachable", "many_per_app"],
            "production": {
                "base_url": f"{partner.url}/heroku/resources",
                "sso_url": f"{partner.url}/sso/login",
            },
            "version": "3",
        },
        "plans": [
            {"name": "sync", "human_name": "Sync", "default": True},
            {"name": "async", "human_name": "Async"},
            {"name": "bigger", "price": {"cents": 1250, "unit": "month"}},
            {"name": "refuse"},
            {"name": "crash"},
            {"name": "slow"},
            {"name": "hang"},
            {"name": "badconfig"},
            {"name": "asyncfail"},
        ],
    }
    data.update(overrides)
    return data


def install_manifest(data_dir: Path, data: dict[str, Any], name: str = "fake.json") -> Path:
    folder = data_dir / "addons"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def partner() -> Iterator[FakePartner]:
    fake = FakePartner("fake-partner", PARTNER_PASSWORD)
    fake.start()
    try:
        yield fake
    finally:
        # Lets a `hang` provision finish, so its thread does not outlive the test.
        fake.hold.set()
        fake.stop()


def in_process_platform(api: ApiClient) -> Platform:
    """Lets the fake partner (on its own threads) call the in-process API on the test's loop."""
    loop = asyncio.get_running_loop()

    def call(method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        kw: dict[str, Any] = {}
        if isinstance(body, str):
            kw["content"] = body
        elif body is not None:
            kw["json"] = body
        future = asyncio.run_coroutine_threadsafe(
            api.request(method, path, headers=headers, **kw), loop
        )
        response = future.result(timeout=30)
        return response.status_code, response.json() if response.content else None

    return call


async def create_addon(user: User, app: str, plan: Any, **fields: Any) -> dict[str, Any]:
    r = await user.post(f"/apps/{app}/addons", json={"plan": plan, **fields})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def config_of(user: User, app: str) -> dict[str, str]:
    r = await user.get(f"/apps/{app}/config-vars")
    assert r.status_code == 200, r.text
    data: dict[str, str] = r.json()
    return data


async def release_texts(user: User, app: str) -> list[str]:
    r = await user.get(f"/apps/{app}/releases")
    assert r.status_code == 200, r.text
    return [rel["description"] for rel in sorted(r.json(), key=lambda rel: rel["version"])]


def as_user_of(user: User, client: ApiClient) -> User:
    """The same account, talking to another API instance (another settings, same database)."""
    return User(user.id, user.email, user.token, user.password, client)


@contextlib.asynccontextmanager
async def other_api(api: ApiClient, settings: Settings, **changes: Any) -> AsyncIterator[ApiClient]:
    """An API process over the same database whose add-on settings differ (closed ports...)."""
    app = serving_app(replace(settings, **changes), api.database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5000") as http:
        yield ApiClient(http, api.database)
    await app.state.ctx.ratelimiter.close()

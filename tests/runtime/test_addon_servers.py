"""Tenku's own PostgreSQL and Redis for add-ons: made, started, stopped, found after a crash.

Each test runs real servers (the distribution's programs) on ports of its own, confined
as their own uid where the tests run as root, and talks to them as apps do: over TLS,
checked against Tenku's CA, with the credentials the providers hand out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import os
import signal
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError

from tenku.addons.catalog import load_catalog
from tenku.addons.postgres import PostgresProvider
from tenku.addons.redis import RedisProvider
from tenku.addons.servers import (
    AUTO,
    MANAGED,
    OPERATOR_POSTGRES_URL,
    postgres_choice,
    postgres_endpoint,
    redis_endpoint,
)
from tenku.config import Settings
from tenku.runtime.addon_servers import (
    AddonServers,
    ManagedPostgres,
    ManagedRedis,
    ManagedServer,
    leaders,
    providers_in_use,
)
from tenku.runtime.sandbox import reach_of
from tenku.tls import ensure_tls, tls_files
from tests.addons.support import create_addon, provision_request
from tests.conftest import ApiClient, User, uid_base
from tests.ports import free_port

CATALOG = load_catalog()
PG = CATALOG.services["heroku-postgresql"]
REDIS = CATALOG.services["heroku-redis"]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def make_settings(tmp_path: Path, **changes: object) -> Settings:
    data = tmp_path / "d"
    data.mkdir(mode=0o700, exist_ok=True)
    pg_port = free_port()
    redis_port = free_port()
    while redis_port == pg_port:
        redis_port = free_port()
    values: dict[str, object] = {
        "data_dir": data,
        "database_url": "sqlite://",
        "addon_postgres_url": MANAGED,
        "addon_redis_url": MANAGED,
        "addon_postgres_port": pg_port,
        "addon_redis_port": redis_port,
        "sandbox_uid_base": uid_base(),
        **changes,
    }
    settings = Settings(**values)  # type: ignore[arg-type]
    ensure_tls(settings)
    return settings


def runnable(server: ManagedServer) -> None:
    if server.problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(server.problem)
        pytest.skip(server.problem)


@contextlib.asynccontextmanager
async def running(server: ManagedServer) -> AsyncIterator[None]:
    runnable(server)
    assert await asyncio.to_thread(server.start)
    try:
        yield
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[ManagedPostgres]:
    server = ManagedPostgres(make_settings(tmp_path))
    async with running(server):
        yield server


@pytest.fixture
async def kv(tmp_path: Path) -> AsyncIterator[ManagedRedis]:
    server = ManagedRedis(make_settings(tmp_path))
    async with running(server):
        yield server


def pg_provider(settings: Settings) -> PostgresProvider:
    endpoint = postgres_endpoint(settings)
    assert endpoint.managed
    return PostgresProvider(endpoint.admin_url, endpoint.public)


def redis_provider(settings: Settings) -> RedisProvider:
    endpoint = redis_endpoint(settings)
    assert endpoint.managed
    return RedisProvider(endpoint.admin_url, public=endpoint.public)


def ca_of(settings: Settings) -> str:
    return str(tls_files(settings.data_dir).ca_cert)


async def test_postgres_add_ons_take_tls_and_their_password_only(
    postgres: ManagedPostgres,
) -> None:
    settings = postgres.settings
    provider = pg_provider(settings)
    req = provision_request(PG)
    result = await provider.provision(PG, req)
    url = result.config["HEROKU_POSTGRESQL_URL"]
    parts = urlsplit(url)
    assert (parts.hostname, parts.port) == ("127.0.0.1", settings.addon_postgres_port)

    # The certificate is Tenku's CA's and names the host in the URL.
    with psycopg.connect(url, sslmode="verify-full", sslrootcert=ca_of(settings)) as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert row == (True,)
        conn.execute("CREATE TABLE visits (n int)")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(url, sslmode="disable")
    assert parts.password
    wrong = url.replace(f":{parts.password}@", ":not-the-password@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, sslmode="require")
    # The superuser never comes in over TCP, password or not.
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        psycopg.connect(
            host="127.0.0.1",
            port=settings.addon_postgres_port,
            user="postgres",
            dbname="postgres",
            sslmode="require",
        )

    # The admin's socket is in a directory only the server's user (and root) may enter.
    run = postgres.files.run.stat()
    assert stat.S_IMODE(run.st_mode) == 0o700
    assert run.st_uid == postgres.jail.uid
    if postgres.jail.confined:
        assert postgres.jail.uid not in (0, os.geteuid())
        data = postgres.files.data.stat()
        assert data.st_uid == postgres.jail.uid

    await provider.deprovision(PG, req.uuid, result.provider_id)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url)


async def test_postgres_keeps_its_databases_across_restarts_and_a_stale_pid_file(
    postgres: ManagedPostgres,
) -> None:
    settings = postgres.settings
    result = await pg_provider(settings).provision(PG, provision_request(PG))
    url = result.config["HEROKU_POSTGRESQL_URL"]
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (42)")

    await asyncio.to_thread(postgres.stop)
    # What a crash leaves: a pid file naming a process that lives (but is no postgres).
    pid_file = postgres.files.data / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{postgres.files.data}\n")
    assert await asyncio.to_thread(postgres.start)
    assert pid_file.read_text().split("\n", 1)[0] != str(os.getpid())

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(42,)]
    # Once made, `auto` means this server.
    assert postgres_choice(dataclasses.replace(settings, addon_postgres_url=AUTO)) == MANAGED


async def test_a_server_left_running_is_stopped_and_replaced(postgres: ManagedPostgres) -> None:
    old = leaders(postgres._holders())
    assert old
    # The Tenku that started it died, and its lock with it; the server ran on.
    assert postgres._lock is not None
    fcntl.flock(postgres._lock, fcntl.LOCK_UN)
    postgres._lock.close()
    postgres._lock = None

    successor = ManagedPostgres(postgres.settings)
    assert await asyncio.to_thread(successor.start)
    try:
        new = leaders(successor._holders())
        assert new
        assert not set(new) & set(old)
        assert successor.ready()
    finally:
        await asyncio.to_thread(successor.stop)


def test_a_crashed_server_is_started_again(postgres: ManagedPostgres) -> None:
    first = leaders(postgres._holders())
    assert first
    os.kill(first[0], signal.SIGKILL)

    def replaced() -> bool:
        now = leaders(postgres._holders())
        return bool(now) and now != first and postgres.ready()

    wait_for(replaced, "a new postgres")
    assert postgres._supervisor is not None
    assert postgres._supervisor.restarts >= 1


async def test_redis_add_ons_are_tls_only_and_apart(kv: ManagedRedis) -> None:
    settings = kv.settings
    provider = redis_provider(settings)
    first = await provider.provision(REDIS, provision_request(REDIS))
    second = await provider.provision(REDIS, provision_request(REDIS))
    url = first.config["REDIS_URL"]
    assert url.startswith("rediss://")
    parts = urlsplit(url)
    assert (parts.hostname, parts.port) == ("127.0.0.1", settings.addon_redis_port)
    mine, theirs = first.config["REDIS_KEY_PREFIX"], second.config["REDIS_KEY_PREFIX"]

    tls = {"ssl_ca_certs": ca_of(settings), "ssl_cert_reqs": "required"}
    async with aioredis.Redis.from_url(url, ssl_check_hostname=True, **tls) as client:
        await client.set(f"{mine}greeting", "hello")
        assert await client.get(f"{mine}greeting") == b"hello"
        with pytest.raises(NoPermissionError):
            await client.get(f"{theirs}greeting")
        with pytest.raises(NoPermissionError):
            await client.keys("*")
    # Without credentials nobody gets in, and there is no plain-text port.
    anonymous = f"rediss://127.0.0.1:{settings.addon_redis_port}/0"
    async with aioredis.Redis.from_url(anonymous, **tls) as client:
        with pytest.raises(AuthenticationError):
            await client.get(f"{mine}greeting")
    plain = url.replace("rediss://", "redis://")
    async with aioredis.Redis.from_url(plain, socket_timeout=5) as client:
        with pytest.raises(RedisConnectionError):
            await client.ping()
    assert stat.S_IMODE(kv.files.run.stat().st_mode) == 0o700


async def test_redis_keeps_its_users_and_data_across_restarts(kv: ManagedRedis) -> None:
    settings = kv.settings
    made = await redis_provider(settings).provision(REDIS, provision_request(REDIS))
    url, prefix = made.config["REDIS_URL"], made.config["REDIS_KEY_PREFIX"]
    tls = {"ssl_ca_certs": ca_of(settings), "ssl_cert_reqs": "required"}
    async with aioredis.Redis.from_url(url, **tls) as client:
        await client.set(f"{prefix}kept", "yes")

    await asyncio.to_thread(kv.stop)
    assert await asyncio.to_thread(kv.start)

    async with aioredis.Redis.from_url(url, **tls) as client:
        assert await client.get(f"{prefix}kept") == b"yes"


def test_auto_runs_managed_servers_unless_add_ons_live_on_the_operators(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, addon_postgres_url=AUTO, addon_redis_url=AUTO)
    for server in (ManagedPostgres(settings), ManagedRedis(settings)):
        runnable(server)
    # Nothing made yet: the settings still name the operator's server.
    assert postgres_choice(settings) == OPERATOR_POSTGRES_URL

    fresh = AddonServers.choose(settings, set())
    assert [server.name for server in fresh.servers] == ["postgres", "redis"]
    assert fresh.env == {"TENKU_ADDON_POSTGRES_URL": MANAGED, "TENKU_ADDON_REDIS_URL": MANAGED}

    existing = AddonServers.choose(settings, {"postgresql"})
    assert [server.name for server in existing.servers] == ["redis"]
    assert existing.env["TENKU_ADDON_POSTGRES_URL"] == OPERATOR_POSTGRES_URL

    explicit = Settings(
        data_dir=settings.data_dir,
        database_url="sqlite://",
        addon_postgres_url="postgresql://ops@db.internal/postgres",
        addon_redis_url=MANAGED,
    )
    chosen = AddonServers.choose(explicit, {"redis"})
    assert [server.name for server in chosen.servers] == ["redis"]
    assert chosen.env["TENKU_ADDON_POSTGRES_URL"] == "postgresql://ops@db.internal/postgres"


def test_dynos_may_reach_the_managed_servers_tls_ports_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    services = set(reach_of(settings).services)
    assert ("127.0.0.1", settings.addon_postgres_port) in services
    assert ("127.0.0.1", settings.addon_redis_port) in services
    assert ("127.0.0.1", 5432) not in services


async def test_the_providers_in_use_come_from_the_add_ons(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    async def in_use() -> set[str]:
        async with api.database.session(write=False) as db:
            return await providers_in_use(db, settings)

    assert await in_use() == set()
    await alice.create_app("cache")
    addon = await create_addon(alice, "cache", "heroku-redis")
    assert await in_use() == {"redis"}
    r = await alice.client.request("DELETE", f"/apps/cache/addons/{addon['id']}", token=alice.token)
    assert r.status_code == 200, r.text
    # Nothing is in use any more: a Tenku started now may choose its own servers.
    assert await in_use() == set()

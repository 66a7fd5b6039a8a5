"""The providers on their own, against the machine's PostgreSQL and Redis and a fake partner."""

from __future__ import annotations

import psycopg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from tenku.addons.catalog import load_catalog, parse_manifest
from tenku.addons.partner import PartnerProvider
from tenku.addons.postgres import PostgresProvider, names_for, scram_verifier
from tenku.addons.provider import ProviderError
from tenku.addons.redis import RedisProvider, user_for
from tenku.egress import EgressPolicy
from tests.addons.fake_partner import FakePartner
from tests.addons.support import (
    CLOSED_PG,
    CLOSED_REDIS,
    PG_ADMIN,
    REDIS_ADMIN,
    manifest,
    pg_exists,
    provision_request,
    redis_user_exists,
)
from tests.conftest import LOOPBACK

CATALOG = load_catalog()
PG = CATALOG.services["heroku-postgresql"]
REDIS = CATALOG.services["heroku-redis"]


def test_scram_verifier_shape() -> None:
    verifier = scram_verifier("secret")
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert verifier != scram_verifier("secret")  # salted


async def test_postgres_provision_is_repeatable_and_removable() -> None:
    provider = PostgresProvider(PG_ADMIN)
    req = provision_request(PG)
    first = await provider.provision(PG, req)
    again = await provider.provision(PG, req)
    assert first.provider_id == again.provider_id == names_for(req.uuid)[0]
    assert first.done
    assert first.config.keys() == {"HEROKU_POSTGRESQL_URL"}
    url = again.config["HEROKU_POSTGRESQL_URL"]
    async with await psycopg.AsyncConnection.connect(url) as conn:
        owner = await (
            await conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
            )
        ).fetchone()
        assert owner == (names_for(req.uuid)[1],)
    with psycopg.connect(PG_ADMIN) as conn:
        acl = conn.execute(
            "SELECT datacl::text FROM pg_database WHERE datname = %s", (first.provider_id,)
        ).fetchone()
    assert acl is not None
    assert "=c" not in acl[0].replace(f"{names_for(req.uuid)[1]}=", "")
    await provider.change_plan(PG, req.uuid, first.provider_id, PG.plan("premium-0"))  # type: ignore[arg-type]
    await provider.deprovision(PG, req.uuid, first.provider_id)
    await provider.deprovision(PG, req.uuid, first.provider_id)
    assert pg_exists(req.uuid) == (False, False)
    with pytest.raises(ProviderError, match="no longer exists"):
        await provider.change_plan(PG, req.uuid, first.provider_id, PG.default_plan)


async def test_postgres_addon_roles_reach_no_other_database() -> None:
    provider = PostgresProvider(PG_ADMIN)
    req = provision_request(PG)
    result = await provider.provision(PG, req)
    url = result.config["HEROKU_POSTGRESQL_URL"]
    other = provision_request(PG)
    neighbour = (await provider.provision(PG, other)).config["HEROKU_POSTGRESQL_URL"]
    try:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)
        # The server's own databases and another add-on's are out of reach.
        for target in ("postgres", "template1", names_for(other.uuid)[0]):
            elsewhere = url.rsplit("/", 1)[0] + "/" + target
            with pytest.raises(psycopg.OperationalError, match="permission denied"):
                await psycopg.AsyncConnection.connect(elsewhere)
        with psycopg.connect(PG_ADMIN) as conn:
            open_to_public = conn.execute(
                "SELECT datname FROM pg_database d WHERE datallowconn AND EXISTS ("
                "SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
                "WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')"
            ).fetchall()
        assert open_to_public == []
        assert neighbour != url
    finally:
        await provider.deprovision(PG, req.uuid, result.provider_id)
        await provider.deprovision(PG, other.uuid, names_for(other.uuid)[0])


async def test_postgres_unreachable() -> None:
    provider = PostgresProvider(CLOSED_PG)
    with pytest.raises(ProviderError) as caught:
        await provider.provision(PG, provision_request(PG))
    assert caught.value.unavailable
    assert "127.0.0.1:9" in caught.value.message


async def test_redis_acl_user() -> None:
    provider = RedisProvider(REDIS_ADMIN)
    req = provision_request(REDIS)
    result = await provider.provision(REDIS, req)
    user = user_for(req.uuid)
    assert result.provider_id == user
    assert result.config["REDIS_KEY_PREFIX"] == f"{user}:"
    async with aioredis.Redis.from_url(result.config["REDIS_URL"]) as client:
        await client.set(f"{user}:a", "1")
        await client.publish(f"{user}:channel", "hi")
        with pytest.raises(NoPermissionError):
            await client.publish("elsewhere", "hi")
        for command in (
            ("KEYS", "*"),
            ("CLIENT", "TRACKING", "on", "BCAST"),
            ("SCRIPT", "FLUSH"),
            ("SCRIPT", "KILL"),
            ("MEMORY", "STATS"),
            ("MEMORY", "USAGE", f"{user}:a"),
        ):
            with pytest.raises(NoPermissionError):
                await client.execute_command(*command)  # type: ignore[no-untyped-call]
    await provider.change_plan(REDIS, req.uuid, user, REDIS.plan("premium-0"))  # type: ignore[arg-type]
    await provider.deprovision(REDIS, req.uuid, user)
    await provider.deprovision(REDIS, req.uuid, user)
    assert not redis_user_exists(req.uuid)
    async with aioredis.Redis.from_url(REDIS_ADMIN) as admin:
        assert await admin.exists(f"{user}:a") == 0


async def test_redis_database_mode_is_refused_where_the_admin_password_is_not_to_share() -> None:
    provider = RedisProvider(REDIS_ADMIN, isolation="database")
    with pytest.raises(ProviderError, match="no ACLs") as caught:
        await provider.provision(REDIS, provision_request(REDIS, may_share_admin=False))
    assert caught.value.unavailable


async def test_redis_database_mode() -> None:
    provider = RedisProvider(REDIS_ADMIN, isolation="database")
    one, two = provision_request(REDIS), provision_request(REDIS)
    a = await provider.provision(REDIS, one)
    b = await provider.provision(REDIS, two)
    assert a.provider_id != b.provider_id
    assert a.config["REDIS_URL"] != b.config["REDIS_URL"]
    async with aioredis.Redis.from_url(a.config["REDIS_URL"]) as client:
        await client.set("k", "a")
    async with aioredis.Redis.from_url(b.config["REDIS_URL"]) as client:
        assert await client.get("k") is None
    await provider.deprovision(REDIS, one.uuid, a.provider_id)
    await provider.deprovision(REDIS, two.uuid, b.provider_id)
    async with aioredis.Redis.from_url(a.config["REDIS_URL"]) as client:
        assert await client.get("k") is None
    with pytest.raises(ValueError, match="must be auto, acl or database"):
        RedisProvider(REDIS_ADMIN, isolation="sharding")


async def test_redis_unreachable() -> None:
    with pytest.raises(ProviderError) as caught:
        await RedisProvider(CLOSED_REDIS).provision(REDIS, provision_request(REDIS))
    assert caught.value.unavailable


async def test_partner_adapter(partner: FakePartner) -> None:
    spec = parse_manifest(manifest(partner), "test")
    provider = PartnerProvider(timeout=5, egress=EgressPolicy.parse(LOOPBACK))
    req = provision_request(spec, "async")
    pending = await provider.provision(spec, req)
    assert (pending.done, pending.config) == (False, {})
    assert pending.message == "Your resource is being prepared."
    req = provision_request(spec)
    done = await provider.provision(spec, req)
    assert done.done
    assert done.provider_id == f"res-{req.uuid}"
    changed = await provider.change_plan(spec, req.uuid, done.provider_id, spec.plan("bigger"))  # type: ignore[arg-type]
    assert changed.config is not None
    assert changed.message == "Plan changed."
    with pytest.raises(ProviderError, match="cannot be reached") as caught:
        await provider.change_plan(spec, req.uuid, done.provider_id, spec.plan("refuse"))  # type: ignore[arg-type]
    assert not caught.value.unavailable
    await provider.deprovision(spec, req.uuid, done.provider_id)
    await provider.deprovision(spec, req.uuid, done.provider_id)  # gone is fine
    wrong = parse_manifest(
        manifest(partner, api={**manifest(partner)["api"], "password": "x"}), "t"
    )
    with pytest.raises(ProviderError, match="Could not communicate with vendor") as caught:
        await provider.provision(wrong, provision_request(wrong))
    assert caught.value.unavailable

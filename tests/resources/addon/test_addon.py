"""Add-ons through the API, provisioned on the machine's real PostgreSQL and Redis."""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from sqlalchemy import func, select

from tenku.addons.naming import COLORS
from tenku.addons.postgres import PostgresProvider
from tenku.db.models import Addon, AddonAttachment
from tests.addons.support import (
    CLOSED_PG,
    CLOSED_REDIS,
    as_user_of,
    config_of,
    create_addon,
    other_api,
    pg_exists,
    redis_user_exists,
    release_texts,
)
from tests.conftest import ApiClient, User

COLOR_URL = re.compile(r"^HEROKU_POSTGRESQL_([A-Z]+)_URL$")


async def _rows(api: ApiClient) -> tuple[int, int]:
    async with api.database.session(write=False) as db:
        addons = (await db.execute(select(func.count()).select_from(Addon))).scalar_one()
        atts = (await db.execute(select(func.count()).select_from(AddonAttachment))).scalar_one()
    return addons, atts


async def test_postgres_add_on_is_a_real_database(alice: User) -> None:
    await alice.create_app("shop")
    r = await alice.post(
        "/apps/shop/addons",
        json={"plan": {"name": "heroku-postgresql:hobby-dev"}, "attachment": {}, "config": {}},
        headers={"Accept-Expansion": "plan", "X-Heroku-Legacy-Provider-Messages": "true"},
    )
    assert r.status_code == 201, r.text
    addon = r.json()
    assert addon["state"] == "provisioned"
    assert re.fullmatch(r"postgresql-[a-z]+-\d{5}", addon["name"])
    assert addon["addon_service"]["name"] == "heroku-postgresql"
    assert addon["plan"]["name"] == "heroku-postgresql:hobby-dev"
    assert addon["plan"]["price"] == {
        "cents": 0,
        "unit": "month",
        "contract": False,
        "metered": False,
    }
    assert addon["billed_price"] == {"cents": 0, "contract": False, "unit": "month"}
    assert addon["app"]["name"] == "shop"
    assert addon["provider_id"].startswith("d")
    database_url, alias = addon["config_vars"]
    assert database_url == "DATABASE_URL"
    color = COLOR_URL.match(alias)
    assert color is not None
    assert color.group(1) in COLORS

    config = await config_of(alice, "shop")
    assert config["DATABASE_URL"] == config[alias]
    assert config["DATABASE_URL"].startswith("postgres://")
    async with await psycopg.AsyncConnection.connect(config["DATABASE_URL"]) as conn:
        await conn.execute("CREATE TABLE orders (id int)")
        await conn.execute("INSERT INTO orders VALUES (42)")
        await conn.commit()
        rows = await (await conn.execute("SELECT id FROM orders")).fetchall()
    assert rows == [(42,)]
    assert pg_exists(uuid.UUID(addon["id"])) == (True, True)

    texts = await release_texts(alice, "shop")
    assert texts == ["Initial release", f"Attach DATABASE (@ref:{addon['name']})"]
    v2 = (await alice.get("/apps/shop/releases/2")).json()
    assert v2["addon_plan_names"] == ["heroku-postgresql:hobby-dev"]
    snapshot = (await alice.get("/apps/shop/releases/2/config-vars")).json()
    assert snapshot["DATABASE_URL"] == config["DATABASE_URL"]


async def test_a_second_database_cannot_reach_the_first(alice: User) -> None:
    await alice.create_app("shop")
    first = await create_addon(alice, "shop", "heroku-postgresql")
    second = await create_addon(alice, "shop", "heroku-postgresql:standard-0")
    [alias] = second["config_vars"]
    assert COLOR_URL.match(alias)
    assert alias not in first["config_vars"]
    config = await config_of(alice, "shop")
    async with await psycopg.AsyncConnection.connect(config["DATABASE_URL"]) as conn:
        await conn.execute("CREATE TABLE secrets (v text)")
        await conn.execute("INSERT INTO secrets VALUES ('first')")
        await conn.commit()
    first_db = config["DATABASE_URL"].rsplit("/", 1)[1]
    intruder = config[alias].rsplit("/", 1)[0] + "/" + first_db
    with pytest.raises(psycopg.OperationalError, match="CONNECT privilege"):
        await psycopg.AsyncConnection.connect(intruder)
    async with await psycopg.AsyncConnection.connect(config[alias]) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            await conn.execute("SELECT * FROM secrets")


async def test_destroy_drops_the_database_and_role(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    addon_id = uuid.UUID(addon["id"])
    await alice.patch("/apps/shop/config-vars", json={"KEEP": "me"})
    r = await alice.delete(
        f"/apps/shop/addons/{addon['id']}",
        json={"force": False},
        headers={"Accept-Expansion": "plan"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "deprovisioned"
    assert pg_exists(addon_id) == (False, False)
    assert await config_of(alice, "shop") == {"KEEP": "me"}
    assert (await release_texts(alice, "shop"))[-1] == f"Detach DATABASE (@ref:{addon['name']})"
    assert (await alice.get(f"/apps/shop/addons/{addon['id']}")).status_code == 404
    assert (await alice.get("/apps/shop/addons")).json() == []


async def test_redis_user_sees_only_its_own_keys(alice: User) -> None:
    await alice.create_app("shop")
    first = await create_addon(alice, "shop", "heroku-redis")
    second = await create_addon(alice, "shop", "heroku-redis:premium-0")
    assert first["config_vars"] == ["REDIS_KEY_PREFIX", "REDIS_URL"]
    [other_prefix, other_url] = second["config_vars"]
    assert re.fullmatch(r"HEROKU_REDIS_[A-Z]+_KEY_PREFIX", other_prefix)
    config = await config_of(alice, "shop")
    mine, theirs = config["REDIS_KEY_PREFIX"], config[other_prefix]
    async with aioredis.Redis.from_url(config["REDIS_URL"]) as client:
        await client.set(f"{mine}greeting", "hello")
        assert await client.get(f"{mine}greeting") == b"hello"
        with pytest.raises(NoPermissionError):
            await client.set("unprefixed", "x")
        for command in (("KEYS", "*"), ("SCAN", "0"), ("FLUSHALL",), ("CONFIG", "GET", "*")):
            with pytest.raises(ResponseError):
                await client.execute_command(*command)
    async with aioredis.Redis.from_url(config[other_url]) as client:
        with pytest.raises(NoPermissionError):
            await client.get(f"{mine}greeting")
        await client.set(f"{theirs}k", "v")

    r = await alice.delete(f"/apps/shop/addons/{first['name']}")
    assert r.status_code == 200, r.text
    assert not redis_user_exists(uuid.UUID(first["id"]))
    async with aioredis.Redis.from_url("redis://127.0.0.1:6379/0") as admin:
        assert [k async for k in admin.scan_iter(match=f"{mine}*")] == []
        assert await admin.get(f"{theirs}k") == b"v"
    with pytest.raises(AuthenticationError):
        async with aioredis.Redis.from_url(config["REDIS_URL"]) as client:
            await client.ping()


async def test_redis_logical_databases_where_acls_are_off(
    api: ApiClient, alice: User, settings: Any
) -> None:
    async with other_api(api, settings, addon_redis_isolation="database") as client:
        me = as_user_of(alice, client)
        await me.create_app("shop")
        addon = await create_addon(me, "shop", "heroku-redis")
        assert addon["config_vars"] == ["REDIS_URL"]
        url = (await config_of(me, "shop"))["REDIS_URL"]
        number = int(url.rsplit("/", 1)[1])
        assert number != 0
        async with aioredis.Redis.from_url(url) as conn:
            await conn.set("plain-key", "1")
        r = await me.delete(f"/apps/shop/addons/{addon['name']}")
        assert r.status_code == 200, r.text
        async with aioredis.Redis.from_url(url) as conn:
            assert await conn.get("plain-key") is None


async def test_plan_change_goes_through_the_provider(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    r = await alice.patch(
        f"/apps/shop/addons/{addon['name']}",
        json={"plan": {"name": "heroku-postgresql:standard-0"}},
        headers={"Accept-Expansion": "plan"},
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["plan"]["name"] == "heroku-postgresql:standard-0"
    assert changed["plan"]["price"]["cents"] == 5000
    assert changed["billed_price"]["cents"] == 5000
    role = (await config_of(alice, "shop"))["DATABASE_URL"].split("//")[1].split(":")[0]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        limit = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (role,))
        assert limit.fetchone() == (120,)
    # A bare plan slug means a plan of the add-on's own service.
    r = await alice.patch(f"/apps/shop/addons/{addon['name']}", json={"plan": "premium-0"})
    assert r.json()["plan"]["name"] == "heroku-postgresql:premium-0"

    r = await alice.patch(f"/apps/shop/addons/{addon['name']}", json={"plan": "nope"})
    assert r.status_code == 422
    assert r.json()["message"].startswith("Couldn't find either the add-on")
    r = await alice.patch(
        f"/apps/shop/addons/{addon['name']}", json={"plan": "heroku-redis:premium-0"}
    )
    assert r.status_code == 422
    assert (await alice.get(f"/apps/shop/addons/{addon['name']}")).json()["plan"][
        "name"
    ] == "heroku-postgresql:premium-0"


async def test_rename(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    other = await create_addon(alice, "shop", "heroku-redis")
    r = await alice.patch(f"/apps/{addon['app']['id']}/addons/{addon['id']}", json={"name": "db1"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "db1"
    r = await alice.patch(f"/apps/shop/addons/{other['id']}", json={"name": "db1"})
    assert r.status_code == 422
    r = await alice.patch("/apps/shop/addons/db1", json={"attachment": {"name": "X"}})
    assert r.status_code == 422
    assert "attachment:name" in r.json()["message"]


@pytest.mark.parametrize(
    ("setting", "value", "plan"),
    [
        ("addon_postgres_url", CLOSED_PG, "heroku-postgresql"),
        ("addon_redis_url", CLOSED_REDIS, "heroku-redis"),
    ],
)
async def test_unreachable_server_stores_nothing(
    api: ApiClient, alice: User, settings: Any, setting: str, value: str, plan: str
) -> None:
    await alice.create_app("shop")
    async with other_api(api, settings, **{setting: value}) as client:
        me = as_user_of(alice, client)
        r = await me.post("/apps/shop/addons", json={"plan": plan})
    assert r.status_code == 503, r.text
    assert r.json()["id"] == "service_unavailable"
    assert "127.0.0.1:9" in r.json()["message"]
    assert "not reachable" in r.json()["message"]
    assert await _rows(api) == (0, 0)
    assert await config_of(alice, "shop") == {}
    assert await release_texts(alice, "shop") == ["Initial release"]


async def test_failure_midway_leaves_no_database_or_role(
    api: ApiClient, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    create = PostgresProvider._create

    async def create_then_fail(self: PostgresProvider, conn: Any, database: str, *a: Any) -> None:
        await create(self, conn, database, *a)
        made.append(database)
        raise psycopg.errors.DiskFull("no space left on device")

    monkeypatch.setattr(PostgresProvider, "_create", create_then_fail)
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/addons", json={"plan": "heroku-postgresql"})
    assert r.status_code == 422, r.text
    assert "no space left on device" in r.json()["message"]
    assert await _rows(api) == (0, 0)
    [database] = made
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        role = conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = %s", ("u" + database[1:],)
        ).fetchone()
    assert found == (0,)
    assert role == (0,)


async def test_create_validation(alice: User) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/addons", json={"plan": "nosuch:plan"})
    assert r.status_code == 422
    assert r.json()["message"] == (
        'Couldn\'t find either the add-on service or the add-on plan of "nosuch:plan".'
    )
    assert (await alice.post("/apps/shop/addons", json={})).status_code == 422
    r = await alice.post(
        "/apps/shop/addons", json={"plan": "heroku-redis", "attachment": {"name": "bad-name"}}
    )
    assert r.status_code == 422
    r = await alice.post("/apps/shop/addons", json={"plan": "heroku-redis", "name": "9lives"})
    assert r.status_code == 422
    await create_addon(alice, "shop", "heroku-redis", name="cache")
    r = await alice.post("/apps/shop/addons", json={"plan": "heroku-redis", "name": "cache"})
    assert (r.status_code, r.json()["message"]) == (422, "Name is already taken")


async def test_chosen_name_and_attachment_name(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(
        alice, "shop", "heroku-postgresql", name="orders-db", attachment={"name": "orders_db"}
    )
    assert addon["name"] == "orders-db"
    assert addon["config_vars"] == ["ORDERS_DB_URL"]
    assert set(await config_of(alice, "shop")) == {"ORDERS_DB_URL"}
    assert (await release_texts(alice, "shop"))[-1] == "Attach ORDERS_DB (@ref:orders-db)"


async def test_attachment_vars_are_not_set_through_config_vars(alice: User) -> None:
    await alice.create_app("shop")
    await create_addon(alice, "shop", "heroku-postgresql")
    url = (await config_of(alice, "shop"))["DATABASE_URL"]
    r = await alice.patch("/apps/shop/config-vars", json={"DATABASE_URL": "postgres://elsewhere"})
    assert r.status_code == 422
    assert r.json()["message"].startswith("Cannot overwrite attachment values DATABASE_URL")
    r = await alice.patch("/apps/shop/config-vars", json={"DATABASE_URL": None})
    assert r.status_code == 422
    assert r.json()["message"].startswith("Cannot remove attachment values DATABASE_URL")
    r = await alice.patch("/apps/shop/config-vars", json={"FOO": "bar"})
    assert r.status_code == 200
    assert r.json()["DATABASE_URL"] == url
    assert r.json()["FOO"] == "bar"
    latest = (await alice.get("/apps/shop/releases/3/config-vars")).json()
    assert latest["DATABASE_URL"] == url
    assert latest["FOO"] == "bar"


async def test_overwriting_an_own_var_needs_confirmation(alice: User) -> None:
    await alice.create_app("shop")
    await alice.patch("/apps/shop/config-vars", json={"REDIS_URL": "redis://mine"})
    r = await alice.post("/apps/shop/addons", json={"plan": "heroku-redis"})
    assert r.status_code == 423
    assert r.json()["id"] == "confirmation_required"
    assert r.headers["X-Confirmation-Required"] == "shop"
    assert "REDIS_URL" in r.json()["message"]
    addon = await create_addon(alice, "shop", "heroku-redis", confirm="shop")
    assert (await config_of(alice, "shop"))["REDIS_URL"] != "redis://mine"
    await alice.delete(f"/apps/shop/addons/{addon['name']}")
    # The overwritten value does not come back.
    assert "REDIS_URL" not in await config_of(alice, "shop")


async def test_rollback_restores_own_vars_and_keeps_add_on_vars(alice: User) -> None:
    await alice.create_app("shop")
    await alice.patch("/apps/shop/config-vars", json={"FOO": "1"})  # v2
    addon = await create_addon(alice, "shop", "heroku-postgresql")  # v3
    await alice.patch("/apps/shop/config-vars", json={"FOO": "2"})  # v4
    url = (await config_of(alice, "shop"))["DATABASE_URL"]
    r = await alice.post("/apps/shop/releases", json={"release": "2"})
    assert r.status_code == 201, r.text
    assert r.json()["addon_plan_names"] == ["heroku-postgresql:hobby-dev"]
    config = await config_of(alice, "shop")
    assert config["FOO"] == "1"
    assert config["DATABASE_URL"] == url
    await alice.delete(f"/apps/shop/addons/{addon['name']}")  # v6
    r = await alice.post("/apps/shop/releases", json={"release": "4"})
    assert r.status_code == 201
    assert await config_of(alice, "shop") == {"FOO": "2"}


async def test_info_by_every_identifier(alice: User) -> None:
    app = await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    for ident in (addon["id"], addon["name"], "DATABASE", "database", "heroku-postgresql"):
        r = await alice.get(f"/apps/shop/addons/{ident}")
        assert r.status_code == 200, (ident, r.text)
        assert r.json()["id"] == addon["id"]
    for ident in (addon["id"], addon["name"], "shop::DATABASE", f"{app['id']}::database"):
        r = await alice.get(f"/addons/{ident}")
        assert r.status_code == 200, (ident, r.text)
        assert r.json()["id"] == addon["id"]
    r = await alice.get("/apps/shop/addons/nothing")
    assert r.status_code == 404
    assert r.json()["resource"] == "add_on"
    await create_addon(alice, "shop", "heroku-postgresql")
    r = await alice.get("/apps/shop/addons/heroku-postgresql")
    assert r.status_code == 422
    assert r.json()["id"] == "multiple_matches"


async def test_lists_with_expansion(alice: User) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    pg = await create_addon(alice, "shop", "heroku-postgresql")
    rd = await create_addon(alice, "blog", "heroku-redis")
    r = await alice.get("/apps/shop/addons", headers={"Accept-Expansion": "addon_service,plan"})
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "id, name"
    [listed] = r.json()
    assert listed["id"] == pg["id"]
    assert listed["addon_service"]["human_name"] == "Heroku Postgres"
    assert listed["plan"]["price"]["cents"] == 0
    everything = (await alice.get("/addons")).json()
    assert {a["id"] for a in everything} == {pg["id"], rd["id"]}
    assert set(everything[0]["plan"]) == {"id", "name"}


async def test_resolve(alice: User) -> None:
    await alice.create_app("shop")
    pg = await create_addon(alice, "shop", "heroku-postgresql")
    headers = {"Accept-Expansion": "addon_service,plan"}
    for ident in (pg["name"], pg["id"], "DATABASE", "database", "heroku-postgresql"):
        r = await alice.post(
            "/actions/addons/resolve", json={"addon": ident, "app": "shop"}, headers=headers
        )
        assert r.status_code == 200, (ident, r.text)
        [found] = r.json()
        assert found["id"] == pg["id"]
        assert found["addon_service"]["name"] == "heroku-postgresql"
        assert "price" in found["plan"]
    for ident in (pg["name"], "shop::DATABASE"):
        r = await alice.post("/actions/addons/resolve", json={"addon": ident, "app": None})
        assert [a["id"] for a in r.json()] == [pg["id"]]
    r = await alice.post(
        "/actions/addons/resolve",
        json={"addon": "DATABASE", "app": "shop", "addon_service": "heroku-redis"},
    )
    assert r.status_code == 404
    r = await alice.post("/actions/addons/resolve", json={"addon": "DATABASE", "app": None})
    assert r.status_code == 404
    assert r.json() == {
        "id": "not_found",
        "message": "Couldn't find that add-on.",
        "resource": "add_on",
    }
    r = await alice.post("/actions/addons/resolve", json={"addon": "x", "app": "missing-app"})
    assert (r.status_code, r.json()["resource"]) == (404, "app")
    second = await create_addon(alice, "shop", "heroku-postgresql")
    r = await alice.post(
        "/actions/addons/resolve", json={"addon": "heroku-postgresql", "app": "shop"}
    )
    assert r.status_code == 422
    body = r.json()
    assert body["id"] == "multiple_matches"
    assert pg["name"] in body["message"]
    assert second["name"] in body["message"]


async def test_other_users_cannot_see_or_touch_add_ons(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    await bob.create_app("bobs")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    ident = addon["name"]
    assert (await bob.get("/apps/shop/addons")).status_code == 403
    assert (await bob.get(f"/apps/shop/addons/{ident}")).status_code == 403
    assert (await bob.post("/apps/shop/addons", json={"plan": "heroku-redis"})).status_code == 403
    assert (await bob.patch(f"/apps/shop/addons/{ident}", json={"plan": "x"})).status_code == 403
    assert (await bob.delete(f"/apps/shop/addons/{ident}")).status_code == 403
    for path in (f"/addons/{ident}", f"/addons/{addon['id']}", "/addons/shop::DATABASE"):
        r = await bob.get(path)
        assert (r.status_code, r.json()["resource"]) == (404, "add_on"), path
    assert (await bob.get("/addons")).json() == []
    r = await bob.post("/actions/addons/resolve", json={"addon": ident, "app": None})
    assert (r.status_code, r.json()["resource"]) == (404, "add_on")
    r = await bob.post("/actions/addons/resolve", json={"addon": ident, "app": "shop"})
    assert r.status_code == 403
    r = await bob.post("/addon-attachments", json={"addon": ident, "app": "bobs"})
    assert r.status_code == 404
    assert (await bob.get(f"/addons/{ident}/config")).status_code == 404
    assert (await bob.get(f"/addons/{ident}/addon-attachments")).status_code == 404
    assert await config_of(bob, "bobs") == {}


async def test_scopes(api: ApiClient, alice: User) -> None:
    await alice.create_app("shop")
    reader = await api.token_for(alice, ["read"])
    r = await reader.post("/apps/shop/addons", json={"plan": "heroku-postgresql"})
    assert r.status_code == 403
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    assert (await reader.get("/apps/shop/addons")).status_code == 200
    assert (await reader.get(f"/addons/{addon['name']}")).status_code == 200
    assert (await reader.delete(f"/apps/shop/addons/{addon['name']}")).status_code == 403
    assert (
        await reader.patch(f"/apps/shop/addons/{addon['name']}", json={"name": "x1"})
    ).status_code == 403
    writer = await api.token_for(alice, ["write"])
    r = await writer.delete(f"/apps/shop/addons/{addon['name']}")
    assert r.status_code == 200, r.text


async def test_partner_actions_are_not_for_users(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-redis")
    for action in ("provision", "deprovision"):
        r = await alice.post(f"/addons/{addon['id']}/actions/{action}")
        assert r.status_code == 403, r.text


async def test_unreachable_server_changes_nothing_on_destroy_or_plan_change(
    api: ApiClient, alice: User, settings: Any
) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    before = await config_of(alice, "shop")
    async with other_api(api, settings, addon_postgres_url=CLOSED_PG) as client:
        me = as_user_of(alice, client)
        r = await me.delete(f"/apps/shop/addons/{addon['name']}")
        assert r.status_code == 503, r.text
        r = await me.patch(f"/apps/shop/addons/{addon['name']}", json={"plan": "standard-0"})
        assert r.status_code == 503, r.text
    held = (await alice.get(f"/apps/shop/addons/{addon['name']}")).json()
    assert (held["state"], held["plan"]["name"]) == ("provisioned", "heroku-postgresql:hobby-dev")
    assert await config_of(alice, "shop") == before
    assert pg_exists(uuid.UUID(addon["id"])) == (True, True)
    assert len(await release_texts(alice, "shop")) == 2


@pytest.mark.parametrize("plan", ["heroku-postgresql", "heroku-redis"])
async def test_a_passwordless_admin_server_is_not_shared_between_accounts(
    api: ApiClient, alice: User, settings: Any, plan: str, real_resources_cleanup: None
) -> None:
    """The machine's servers trust local connections (no password in the admin URL): fine
    for one account, refused once another account could be served from them too."""
    await alice.create_app("alone")
    async with other_api(api, settings, addon_unsafe_admin=False) as client:
        me = as_user_of(alice, client)
        r = await me.post("/apps/alone/addons", json={"plan": plan})
        assert r.status_code == 201, r.text
        await api.user("bob@example.com")
        r = await me.post("/apps/alone/addons", json={"plan": plan, "confirm": "alone"})
    assert r.status_code == 503, r.text
    assert "without a password" in r.json()["message"]
    assert "TENKU_ADDON_UNSAFE_ADMIN" in r.json()["message"]
    assert len((await alice.get("/apps/alone/addons")).json()) == 1

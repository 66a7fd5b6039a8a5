"""The provider-facing config of an add-on: read with secrets, changed into a release."""

from __future__ import annotations

import psycopg

from tests.addons.support import config_of, create_addon, release_texts
from tests.conftest import ApiClient, User


async def test_read_and_update(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    r = await alice.get(f"/addons/{addon['name']}/config")
    assert r.status_code == 200
    [item] = r.json()
    assert item["name"] == "HEROKU_POSTGRESQL_URL"
    assert item["value"] == (await config_of(alice, "shop"))["DATABASE_URL"]
    moved = item["value"].replace("127.0.0.1", "localhost")
    r = await alice.patch(
        f"/addons/{addon['id']}/config",
        json={"config": [{"name": "HEROKU_POSTGRESQL_URL", "value": moved}]},
    )
    assert r.status_code == 200, r.text
    assert r.json() == [{"name": "HEROKU_POSTGRESQL_URL", "value": moved}]
    config = await config_of(alice, "shop")
    assert config["DATABASE_URL"] == moved == config[addon["config_vars"][1]]
    async with await psycopg.AsyncConnection.connect(moved) as conn:
        assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
    assert (await release_texts(alice, "shop"))[-1] == "Update DATABASE by heroku-postgresql"
    r = await alice.patch(
        f"/addons/{addon['id']}/config",
        json={"config": [{"name": "SOMETHING_ELSE", "value": "x"}]},
    )
    assert r.status_code == 422
    r = await alice.patch(f"/addons/{addon['id']}/config", json={"config": "nope"})
    assert r.status_code == 422


async def test_config_needs_the_protected_scopes(api: ApiClient, alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-redis")
    path = f"/addons/{addon['name']}/config"
    change = {"config": [{"name": "REDIS_KEY_PREFIX", "value": "x:"}]}
    for scopes in (["read"], ["write"]):
        user = await api.token_for(alice, scopes)
        assert (await user.get(path)).status_code == 403
        assert (await user.patch(path, json=change)).status_code == 403
    protected = await api.token_for(alice, ["read-protected"])
    assert (await protected.get(path)).status_code == 200
    assert (await protected.patch(path, json=change)).status_code == 403
    writer = await api.token_for(alice, ["write-protected"])
    assert (await writer.patch(path, json=change)).status_code == 200


async def test_other_users_get_nothing(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-redis")
    for ident in (addon["name"], addon["id"]):
        r = await bob.get(f"/addons/{ident}/config")
        assert (r.status_code, r.json()["resource"]) == (404, "add_on")
        r = await bob.patch(f"/addons/{ident}/config", json={"config": []})
        assert r.status_code == 404

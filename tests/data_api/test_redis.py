"""The Redis Data API through HTTP, against the machine's Redis (the add-on server)."""

from __future__ import annotations

import uuid

import pytest
import redis

from tenku.addons.redis import user_for
from tests.addons.support import config_of, redis_client, release_texts
from tests.conftest import ApiClient, User
from tests.data_api.support import Setup, team_viewer, with_addon

PLAN = "heroku-redis:hobby-dev"


@pytest.fixture
async def setup(alice: User) -> Setup:
    return await with_addon(alice, PLAN)


def _info(body: dict[str, object]) -> dict[str, str]:
    items = body["info"]
    assert isinstance(items, list)
    return {item["name"]: item["values"][0] for item in items}


async def test_info_is_the_servers(setup: Setup) -> None:
    r = await setup.owner.get(f"/redis/v0/databases/{setup.name}")
    assert r.status_code == 200, r.text
    body = r.json()
    info = _info(body)
    with redis_client() as admin:
        server = admin.info("server")
        config = admin.config_get("*")
    assert info["Version"] == server["redis_version"] == body["version"]
    assert info["Maxmemory"] == config["maxmemory-policy"]
    assert info["Timeout"] == config["timeout"]
    assert info["Plan"] == "Hobby Dev"
    assert body["plan"] == "hobby-dev"
    assert body["prefer_native_tls"] is False
    # The owner may see the config vars: the URL with its password.
    assert body["resource_url"] == (await config_of(setup.owner, setup.app))["REDIS_URL"]
    by_id = await setup.owner.get(f"/redis/v0/databases/{setup.id}")
    assert by_id.json()["name"] == setup.name


async def test_wait(setup: Setup) -> None:
    r = await setup.owner.get(f"/redis/v0/databases/{setup.name}/wait")
    assert r.status_code == 200, r.text
    assert r.json() == {"waiting?": False, "message": "available"}


async def test_a_setting_is_the_servers(setup: Setup) -> None:
    with redis_client() as admin:
        config = admin.config_get("*")
    path = f"/redis/v0/databases/{setup.name}/config"
    same = await setup.owner.patch(path, json={"maxmemory_policy": config["maxmemory-policy"]})
    assert same.status_code == 200, same.text
    body = same.json()
    assert body["maxmemory_policy"]["value"] == config["maxmemory-policy"]
    assert body["maxmemory_policy"]["values"][config["maxmemory-policy"]]
    assert body["timeout"]["value"] == int(config["timeout"])
    other = "allkeys-lru" if config["maxmemory-policy"] != "allkeys-lru" else "noeviction"
    r = await setup.owner.patch(path, json={"maxmemory_policy": other})
    assert r.status_code == 422, r.text
    assert "shares its Redis server" in r.json()["message"]
    r = await setup.owner.patch(path, json={"timeout": int(config["timeout"]) + 17})
    assert r.status_code == 422
    assert (await setup.owner.patch(path, json={"maxmemory_policy": "bogus"})).status_code == 422
    r = await setup.owner.patch(path, json={"notify_keyspace_events": "#"})
    assert r.status_code == 422
    with redis_client() as admin:
        assert admin.config_get("*") == config


async def test_credentials_rotation(setup: Setup) -> None:
    old = (await config_of(setup.owner, setup.app))["REDIS_URL"]
    r = await setup.owner.post(f"/redis/v0/databases/{setup.name}/credentials_rotation", json={})
    assert r.status_code == 200, r.text
    new = (await config_of(setup.owner, setup.app))["REDIS_URL"]
    assert new != old
    user = user_for(uuid.UUID(setup.id))
    with redis.Redis.from_url(new) as client:
        client.set(f"{user}:k", "v")
        assert client.get(f"{user}:k") == b"v"
    with pytest.raises(redis.AuthenticationError), redis.Redis.from_url(old) as client:
        client.ping()
    assert (await release_texts(setup.owner, setup.app))[-1] == "Update REDIS by heroku-redis"


async def test_rights(api: ApiClient, setup: Setup) -> None:
    outsider = await api.user()
    assert (await outsider.get(f"/redis/v0/databases/{setup.name}")).status_code == 404
    viewer = await team_viewer(api, setup)
    r = await viewer.get(f"/redis/v0/databases/{setup.name}")
    assert r.status_code == 200, r.text
    # Where the server is, not its password.
    assert "@" not in r.json()["resource_url"]
    r = await viewer.post(f"/redis/v0/databases/{setup.name}/credentials_rotation", json={})
    assert r.status_code == 403
    r = await viewer.patch(f"/redis/v0/databases/{setup.name}/config", json={"timeout": 0})
    assert r.status_code == 403


async def test_postgres_is_not_redis(alice: User) -> None:
    pg = await with_addon(alice, "heroku-postgresql:hobby-dev")
    assert (await alice.get(f"/redis/v0/databases/{pg.name}")).status_code == 404

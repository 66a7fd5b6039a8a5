"""The add-on catalogue: built-in services, and services the operator registers."""

from __future__ import annotations

from typing import Any

from tests.addons.fake_partner import FakePartner
from tests.addons.support import install_manifest, manifest
from tests.conftest import ApiClient, User


async def test_built_in_services(alice: User) -> None:
    r = await alice.get("/addon-services")
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "id, name"
    by_name = {s["name"]: s for s in r.json()}
    assert {"heroku-postgresql", "heroku-redis"} <= set(by_name)
    pg = by_name["heroku-postgresql"]
    assert pg["human_name"] == "Heroku Postgres"
    assert pg["state"] == "ga"
    assert pg["supports_multiple_installations"] is True
    assert pg["supports_sharing"] is True
    assert pg["cli_plugin_name"] is None
    for ident in (pg["id"], "heroku-postgresql"):
        r = await alice.get(f"/addon-services/{ident}")
        assert r.json() == pg
    r = await alice.get("/addon-services/nope")
    assert (r.status_code, r.json()["resource"]) == (404, "addon-service")


async def test_anyone_may_browse_the_catalogue(api: ApiClient) -> None:
    r = await api.request("GET", "/addon-services/heroku-redis")
    assert r.status_code == 200
    r = await api.request("GET", "/addon-services/heroku-redis/plans")
    assert r.status_code == 200


async def test_operator_registers_a_partner_service(
    alice: User, settings: Any, partner: FakePartner
) -> None:
    install_manifest(settings.data_dir, manifest(partner, state="beta", cli_plugin_name="fake-cli"))
    found = (await alice.get("/addon-services/fake-partner")).json()
    assert found["human_name"] == "Fake Partner"
    assert found["state"] == "beta"
    assert found["cli_plugin_name"] == "fake-cli"
    assert found["supports_sharing"] is True
    # Replacing a built-in: the operator's manifest wins.
    install_manifest(
        settings.data_dir,
        {
            "id": "heroku-redis",
            "name": "Office Redis",
            "provider": "redis",
            "api": {"config_vars_prefix": "REDIS", "config_vars": ["REDIS_URL"]},
            "plans": [{"name": "only", "price": {"cents": 100, "unit": "month"}}],
        },
        "redis.json",
    )
    assert (await alice.get("/addon-services/heroku-redis")).json()["human_name"] == "Office Redis"
    [plan] = (await alice.get("/addon-services/heroku-redis/plans")).json()
    assert (plan["name"], plan["default"]) == ("heroku-redis:only", True)


async def test_a_broken_catalogue_is_reported(alice: User, settings: Any) -> None:
    install_manifest(settings.data_dir, {"id": "Bad Name!"}, "bad.json")
    r = await alice.get("/addon-services")
    assert r.status_code == 503
    assert "bad.json" in r.json()["message"]

from __future__ import annotations

from typing import Any

import pytest

from tenku.ids import stable_id
from tests.conftest import ApiClient, User
from tests.resources.organization.support import add_member, grant, make_team, team_app

REDIS = {"name": "heroku-redis:hobby-dev"}


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


async def _listed(user: User, team: str = "acme") -> list[str]:
    r = await user.get(f"/teams/{team}/whitelisted-addon-services")
    assert r.status_code == 200, r.text
    return sorted(e["addon_service"]["name"] for e in r.json())


async def test_admins_list_services_members_read_the_list(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    await add_member(alice, "acme", bob, "collaborator")
    assert await _listed(bob) == []
    r = await alice.post(
        "/organizations/acme/whitelisted-addon-services", json={"addon_service": "heroku-redis"}
    )
    assert r.status_code == 201, r.text
    [entry] = r.json()
    assert entry["added_by"] == {"email": alice.email, "id": str(alice.id)}
    assert entry["addon_service"] == {
        "human_name": "Heroku Redis",
        "id": str(stable_id("addon-service", "heroku-redis")),
        "name": "heroku-redis",
    }
    assert entry["added_at"].endswith("Z")
    r = await bob.get("/organizations/acme/whitelisted-addon-services")
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "id"
    assert r.json() == [entry]
    r = await bob.post(
        "/teams/acme/whitelisted-addon-services", json={"addon_service": "heroku-postgresql"}
    )
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    assert (
        await bob.delete("/teams/acme/whitelisted-addon-services/heroku-redis")
    ).status_code == 403
    assert await _listed(alice) == ["heroku-redis"]


async def test_services_must_exist_and_be_listed_once(alice: User) -> None:
    await make_team(alice, "acme")
    path = "/teams/acme/whitelisted-addon-services"
    r = await alice.post(path, json={"addon_service": "no-such-service"})
    assert r.status_code == 404
    assert r.json()["id"] == "not_found"
    assert (await alice.post(path, json={})).status_code == 422
    service_id = str(stable_id("addon-service", "heroku-postgresql"))
    assert (await alice.post(path, json={"addon_service": service_id})).status_code == 201
    r = await alice.post(path, json={"addon_service": "heroku-postgresql"})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert await _listed(alice) == ["heroku-postgresql"]


async def test_entries_are_removed_by_id_or_service(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    path = "/teams/acme/whitelisted-addon-services"
    [redis] = (await alice.post(path, json={"addon_service": "heroku-redis"})).json()
    await alice.post(path, json={"addon_service": "heroku-postgresql"})
    r = await alice.delete(f"/organizations/acme/whitelisted-addon-services/{redis['id']}")
    assert r.status_code == 200
    assert r.json() == redis
    r = await alice.delete(f"{path}/{stable_id('addon-service', 'heroku-postgresql')}")
    assert r.status_code == 200
    assert r.json()["addon_service"]["name"] == "heroku-postgresql"
    assert await _listed(alice) == []
    r = await alice.delete(f"{path}/heroku-redis")
    assert r.status_code == 404
    assert r.json()["id"] == "not_found"
    await make_team(bob, "globex")
    assert (await bob.get("/teams/acme/whitelisted-addon-services")).status_code == 404


async def _restricted_team(alice: User, bob: User) -> None:
    """acme restricts add-ons to its list; bob is a member who may deploy acme-web."""
    await make_team(alice, "acme")
    await team_app(alice, "acme", "acme-web")
    await add_member(alice, "acme", bob, "member")
    await grant(bob, "acme-web", ["view", "deploy"])
    r = await alice.patch("/teams/acme/preferences", json={"whitelisting-enabled": True})
    assert r.status_code == 200


async def _create(user: User, app: str, plan: dict[str, Any]) -> Any:
    return await user.post(f"/apps/{app}/addons", json={"plan": plan})


async def test_a_restricted_team_refuses_add_ons_off_its_list(alice: User, bob: User) -> None:
    await _restricted_team(alice, bob)
    r = await _create(bob, "acme-web", REDIS)
    assert r.status_code == 403, r.text
    assert r.json()["id"] == "forbidden"
    assert "heroku-redis" in r.json()["message"]
    assert (await bob.get("/apps/acme-web/addons")).json() == []

    r = await alice.post(
        "/teams/acme/whitelisted-addon-services", json={"addon_service": "heroku-redis"}
    )
    assert r.status_code == 201
    r = await _create(bob, "acme-web", REDIS)
    assert r.status_code == 201, r.text
    assert r.json()["addon_service"]["name"] == "heroku-redis"

    # Off the list again, and the restriction lifted: allowed.
    assert (await alice.delete("/teams/acme/whitelisted-addon-services/heroku-redis")).is_success
    r = await _create(bob, "acme-web", REDIS)
    assert r.status_code == 403
    r = await alice.patch("/teams/acme/preferences", json={"whitelisting-enabled": False})
    assert r.status_code == 200
    r = await _create(bob, "acme-web", REDIS)
    assert r.status_code == 201, r.text


async def test_admins_may_install_add_ons_off_the_list(alice: User, bob: User) -> None:
    await _restricted_team(alice, bob)
    r = await _create(alice, "acme-web", REDIS)
    assert r.status_code == 201, r.text


async def test_personal_apps_are_not_restricted(alice: User, bob: User) -> None:
    await _restricted_team(alice, bob)
    await bob.create_app("bobs")
    r = await _create(bob, "bobs", REDIS)
    assert r.status_code == 201, r.text

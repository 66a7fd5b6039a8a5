from __future__ import annotations

import pytest

from tests.conftest import ApiClient, User
from tests.resources.organization.support import add_member, make_team, set_app, team_app

REDIS = {"plan": {"name": "heroku-redis:hobby-dev"}}


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


async def _names(user: User, path: str) -> list[tuple[str, str]]:
    r = await user.get(path)
    assert r.status_code == 200, r.text
    return sorted((a["app"]["name"], a["addon_service"]["name"]) for a in r.json())


async def test_the_add_ons_of_the_teams_apps(alice: User, bob: User, carol: User) -> None:
    await make_team(alice, "acme")
    for name in ("acme-web", "acme-api"):
        await team_app(alice, "acme", name)
        r = await alice.post(f"/apps/{name}/addons", json=REDIS)
        assert r.status_code == 201, r.text
    await add_member(alice, "acme", bob, "member")
    # Someone else's app, and an app of another of alice's teams, stay out of it.
    await carol.create_app("carols")
    assert (await carol.post("/apps/carols/addons", json=REDIS)).status_code == 201
    both = [("acme-api", "heroku-redis"), ("acme-web", "heroku-redis")]
    for path in ("/teams/acme/addons", "/organizations/acme/addons"):
        assert await _names(alice, path) == both
        assert await _names(bob, path) == both
    r = await alice.get("/teams/acme/addons")
    assert r.headers["Accept-Ranges"] == "id, name"
    assert {a["state"] for a in r.json()} == {"provisioned"}

    # A locked app is its admins' (and its collaborators') only.
    await set_app(alice, "acme-api", locked=True)
    assert await _names(alice, "/teams/acme/addons") == both
    assert await _names(bob, "/teams/acme/addons") == [("acme-web", "heroku-redis")]

    assert (await carol.get("/teams/acme/addons")).status_code == 404
    await make_team(carol, "globex")
    assert await _names(carol, "/teams/globex/addons") == []

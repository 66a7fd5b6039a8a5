from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tenku.db.models import Invitation, Team, TeamAddonService, TeamMember
from tenku.resources.organization.access import TEAM
from tests.conftest import ApiClient, User
from tests.resources.organization.support import add_member, make_team, team_app


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


async def test_create_makes_the_caller_its_admin(alice: User) -> None:
    team = await make_team(alice, "acme")
    assert team["name"] == "acme"
    assert team["role"] == "admin"
    assert team["default"] is False
    # Today's team body, as the CLI reads it: a plain team.
    assert team["type"] == "team"
    assert team["enterprise_account"] is None
    assert team["identity_provider"] is None
    assert team["membership_limit"] is None
    assert team["credit_card_collections"] is False
    assert team["provisioned_licenses"] is False
    for path in ("/teams/acme", f"/teams/{team['id']}", "/organizations/acme"):
        r = await alice.get(path)
        assert r.status_code == 200, r.text
        assert r.json() == team


async def test_lists_show_the_callers_teams_with_their_role(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    await make_team(alice, "globex")
    await make_team(bob, "initech")
    await add_member(alice, "acme", bob, "viewer")
    for prefix in ("/teams", "/organizations"):
        r = await bob.get(prefix)
        assert r.status_code == 200
        assert r.headers["Accept-Ranges"] == "id, name"
        assert sorted((t["name"], t["role"]) for t in r.json()) == [
            ("acme", "viewer"),
            ("initech", "admin"),
        ]
    r = await alice.get("/teams", headers={"Range": "name ..; max=1"})
    assert r.status_code == 206
    assert [t["name"] for t in r.json()] == ["acme"]
    r = await alice.get("/teams", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert [t["name"] for t in r.json()] == ["globex"]


async def test_a_team_is_not_found_by_outsiders(alice: User, bob: User) -> None:
    team = await make_team(alice, "acme")
    for path in ("/teams/acme", f"/teams/{team['id']}", "/organizations/acme"):
        r = await bob.get(path)
        assert r.status_code == 404
        assert r.json()["id"] == "not_found"
        assert r.json()["resource"] == "team"
    missing = await bob.get("/teams/no-such-team")
    assert missing.json() == (await bob.get("/teams/acme")).json()
    for method in ("PATCH", "DELETE"):
        r = await bob.client.request(method, "/teams/acme", token=bob.token, json={})
        assert r.status_code == 404


@pytest.mark.parametrize("name", ["Acme", "ab", "9lives", "a_b", "x" * 31, "apps", "invitations"])
async def test_team_names_follow_app_name_rules(alice: User, name: str) -> None:
    r = await alice.post("/teams", json={"name": name})
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"


async def test_team_names_are_unique(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    r = await bob.post("/teams", json={"name": "acme"})
    assert r.status_code == 422
    assert r.json()["message"] == "Name is already taken"
    assert (await bob.post("/teams", json={})).status_code == 422


async def test_one_default_team_per_account(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    await make_team(alice, "globex")
    await add_member(alice, "acme", bob)

    async def defaults(user: User) -> list[str]:
        return sorted(t["name"] for t in (await user.get("/teams")).json() if t["default"])

    r = await alice.patch("/teams/acme", json={"default": True})
    assert r.status_code == 200
    assert r.json()["default"] is True
    assert await defaults(alice) == ["acme"]
    r = await alice.patch("/organizations/globex", json={"default": True})
    assert r.json()["default"] is True
    assert await defaults(alice) == ["globex"]
    account = (await alice.get("/account")).json()
    globex = {"id": account["default_team"]["id"], "name": "globex"}
    assert account["default_team"] == account["default_organization"] == globex
    # Each member's own choice: bob's default is his alone.
    assert (await bob.patch("/teams/acme", json={"default": True})).status_code == 200
    assert await defaults(bob) == ["acme"]
    assert await defaults(alice) == ["globex"]
    r = await alice.patch("/teams/globex", json={"default": False})
    assert r.json()["default"] is False
    assert await defaults(alice) == []
    account = (await alice.get("/account")).json()
    assert account["default_team"] is None
    assert account["default_organization"] is None
    assert (await alice.patch("/teams/acme", json={"default": "yes"})).status_code == 422


async def test_only_admins_rename(alice: User, bob: User) -> None:
    team = await make_team(alice, "acme")
    await add_member(alice, "acme", bob)
    r = await bob.patch("/teams/acme", json={"name": "acme-two"})
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    await make_team(alice, "globex")
    assert (await alice.patch("/teams/acme", json={"name": "globex"})).status_code == 422
    r = await alice.patch("/teams/acme", json={"name": "acme-two"})
    assert r.status_code == 200
    assert r.json()["name"] == "acme-two"
    assert (await alice.get(f"/teams/{team['id']}")).json()["name"] == "acme-two"
    assert (await alice.get("/teams/acme")).status_code == 404


async def test_delete_is_for_admins_of_teams_without_apps(
    api: ApiClient, alice: User, bob: User
) -> None:
    team = await make_team(alice, "acme")
    await add_member(alice, "acme", bob)
    await alice.post(
        "/teams/acme/whitelisted-addon-services", json={"addon_service": "heroku-redis"}
    )
    async with api.database.session(write=True) as db:
        db.add(
            Invitation(token_hash="0" * 64, email="dan@example.com", team_id=uuid.UUID(team["id"]))
        )
        await db.commit()
    await team_app(alice, "acme", "acme-web")

    r = await bob.delete("/teams/acme")
    assert r.status_code == 403
    r = await alice.delete("/teams/acme")
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert "acme-web" in r.json()["message"]

    assert (await alice.delete("/apps/acme-web")).status_code == 200
    r = await alice.delete("/teams/acme")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "acme"
    assert r.json()["role"] == "admin"
    assert (await alice.get("/teams/acme")).status_code == 404
    assert (await bob.get("/teams")).json() == []
    team_id = uuid.UUID(team["id"])
    async with api.database.session(write=False) as db:
        for model in (Team, TeamMember, TeamAddonService, Invitation):
            column = model.id if model is Team else model.team_id
            count = select(func.count()).select_from(model).where(column == team_id)
            assert (await db.execute(count)).scalar_one() == 0, model


async def test_a_read_token_cannot_create_or_change_teams(api: ApiClient, alice: User) -> None:
    await make_team(alice, "acme")
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get("/teams/acme")).status_code == 200
    assert (await reader.post("/teams", json={"name": "globex"})).status_code == 403
    assert (await reader.patch("/teams/acme", json={"default": True})).status_code == 403


async def test_team_routes_leave_other_resources_words_alone() -> None:
    """`/teams/apps` and the like belong to other resources, whichever router comes first."""

    async def team(request: Request) -> PlainTextResponse:
        return PlainTextResponse("team " + request.path_params["team_name_or_id"])

    async def other(request: Request) -> PlainTextResponse:
        return PlainTextResponse("other")

    app = Starlette(
        routes=[
            Route(TEAM, team),
            Route(TEAM + "/members", team),
            Route("/teams/apps", other),
            Route("/teams/permissions", other),
            Route("/teams/apps/{app}/members", other),
        ]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/teams/acme")).text == "team acme"
        assert (await client.get("/teams/apps-team")).text == "team apps-team"
        assert (await client.get("/teams/acme/members")).text == "team acme"
        assert (await client.get("/teams/apps")).text == "other"
        assert (await client.get("/teams/permissions")).text == "other"
        assert (await client.get("/teams/apps/members")).status_code == 404
        assert (await client.get("/teams/apps/x/members")).text == "other"


async def test_a_teams_only_admin_cannot_delete_their_account(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    await add_member(alice, "acme", bob)
    r = await alice.delete("/account")
    assert r.status_code == 422
    assert "only admin of acme" in r.json()["message"]
    assert (await alice.get("/account")).status_code == 200
    # With another admin, the account may go; the team keeps its admin.
    await add_member(alice, "acme", bob, "admin")
    assert (await alice.delete("/account")).status_code == 200
    members = (await bob.get("/teams/acme/members")).json()
    assert [(m["email"], m["role"]) for m in members] == [(bob.email, "admin")]

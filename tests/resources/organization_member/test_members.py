from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from tenku.db.models import App, Collaborator
from tests.conftest import ApiClient, User
from tests.resources.organization.support import add_member, grant, make_team, team_app


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


async def _roles(user: User, team: str = "acme") -> dict[str, str]:
    r = await user.get(f"/teams/{team}/members")
    assert r.status_code == 200, r.text
    return {m["email"]: m["role"] for m in r.json()}


async def test_put_adds_then_changes_a_member(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    r = await alice.put("/teams/acme/members", json={"email": "Bob@Example.com", "role": "member"})
    assert r.status_code == 201, r.text
    added: dict[str, Any] = r.json()
    assert added["email"] == bob.email
    assert added["role"] == "member"
    assert added["user"] == {"email": bob.email, "id": str(bob.id), "name": None}
    assert added["federated"] is False
    assert added["two_factor_authentication"] is False
    assert added["identity_provider"] is None
    r = await alice.put("/organizations/acme/members", json={"email": bob.email, "role": "viewer"})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "viewer"
    assert r.json()["id"] == added["id"]
    assert await _roles(alice) == {alice.email: "admin", bob.email: "viewer"}
    r = await bob.get("/organizations/acme/members")
    assert r.status_code == 200
    assert {m["email"]: m["role"] for m in r.json()} == await _roles(alice)
    assert (await bob.get("/teams/acme")).json()["role"] == "viewer"


@pytest.mark.parametrize("role", ["admin", "member", "viewer", "collaborator"])
async def test_every_team_role_is_accepted(alice: User, bob: User, role: str) -> None:
    await make_team(alice, "acme")
    r = await alice.put("/teams/acme/members", json={"email": bob.email, "role": role})
    assert r.status_code == 201
    assert r.json()["role"] == role


@pytest.mark.parametrize("role", ["owner", "boss", ""])
async def test_other_roles_are_refused(alice: User, bob: User, role: str) -> None:
    await make_team(alice, "acme")
    r = await alice.put("/teams/acme/members", json={"email": bob.email, "role": role})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert await _roles(alice) == {alice.email: "admin"}


async def test_an_unknown_email_is_not_found(alice: User) -> None:
    await make_team(alice, "acme")
    r = await alice.put(
        "/teams/acme/members", json={"email": "nobody@example.com", "role": "member"}
    )
    assert r.status_code == 404
    assert r.json()["id"] == "not_found"
    assert r.json()["resource"] == "user"
    assert (await alice.put("/teams/acme/members", json={"role": "member"})).status_code == 422


async def test_a_role_left_out_is_the_teams_default_permission(
    alice: User, bob: User, carol: User
) -> None:
    await make_team(alice, "acme")
    r = await alice.put("/teams/acme/members", json={"email": bob.email})
    assert r.status_code == 201
    assert r.json()["role"] == "member"
    r = await alice.patch("/teams/acme/preferences", json={"default-permission": "viewer"})
    assert r.status_code == 200
    r = await alice.put("/teams/acme/members", json={"email": carol.email, "role": None})
    assert r.json()["role"] == "viewer"
    # An existing member keeps their role when none is given.
    r = await alice.put("/teams/acme/members", json={"email": bob.email})
    assert r.status_code == 200
    assert r.json()["role"] == "member"


async def test_patch_changes_only_existing_members(alice: User, bob: User, carol: User) -> None:
    await make_team(alice, "acme")
    await add_member(alice, "acme", bob)
    r = await alice.patch("/teams/acme/members", json={"email": bob.email, "role": "admin"})
    assert r.status_code == 200
    assert r.json()["role"] == "admin"
    r = await alice.patch("/teams/acme/members", json={"email": carol.email, "role": "admin"})
    assert r.status_code == 404
    assert r.json()["resource"] == "team_member"
    assert carol.email not in await _roles(alice)


async def test_only_admins_add_change_or_remove_others(alice: User, bob: User, carol: User) -> None:
    await make_team(alice, "acme")
    await add_member(alice, "acme", bob, "member")
    await add_member(alice, "acme", carol, "member")
    for body in ({"email": "dan@example.com", "role": "member"}, {"email": carol.email}):
        r = await bob.put("/teams/acme/members", json=body)
        assert r.status_code == 403
        assert r.json()["id"] == "forbidden"
    r = await bob.patch("/teams/acme/members", json={"email": bob.email, "role": "admin"})
    assert r.status_code == 403
    assert (await bob.delete(f"/teams/acme/members/{carol.email}")).status_code == 403
    assert (await bob.delete(f"/teams/acme/members/{alice.email}")).status_code == 403
    assert await _roles(alice) == {alice.email: "admin", bob.email: "member", carol.email: "member"}
    # Anyone may leave.
    r = await bob.delete(f"/teams/acme/members/{quote(bob.email)}")
    assert r.status_code == 200, r.text
    assert r.json()["email"] == bob.email
    assert (await bob.get("/teams/acme")).status_code == 404
    assert await _roles(alice) == {alice.email: "admin", carol.email: "member"}


async def test_members_are_named_by_email_member_id_or_user_id(
    alice: User, bob: User, carol: User
) -> None:
    await make_team(alice, "acme")
    bobs = (await add_member(alice, "acme", bob)).json()
    await add_member(alice, "acme", carol)
    r = await alice.delete(f"/organizations/acme/members/{bobs['id']}")
    assert r.status_code == 200
    assert r.json()["email"] == bob.email
    r = await alice.delete(f"/teams/acme/members/{carol.id}")
    assert r.status_code == 200
    assert r.json()["email"] == carol.email
    r = await alice.delete(f"/teams/acme/members/{carol.email}")
    assert r.status_code == 404
    assert r.json()["resource"] == "team_member"


async def test_the_last_admin_stays(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    await add_member(alice, "acme", bob, "member")
    r = await alice.put("/teams/acme/members", json={"email": alice.email, "role": "member"})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert "admin" in r.json()["message"]
    r = await alice.delete(f"/teams/acme/members/{alice.email}")
    assert r.status_code == 422
    assert await _roles(alice) == {alice.email: "admin", bob.email: "member"}
    await add_member(alice, "acme", bob, "admin")
    r = await alice.put("/teams/acme/members", json={"email": alice.email, "role": "member"})
    assert r.status_code == 200
    r = await bob.delete(f"/teams/acme/members/{bob.email}")
    assert r.status_code == 422
    assert (await bob.delete(f"/teams/acme/members/{alice.email}")).status_code == 200
    assert await _roles(bob) == {bob.email: "admin"}


async def test_removing_a_member_ends_their_access_to_every_team_app(
    api: ApiClient, alice: User, bob: User, carol: User
) -> None:
    await make_team(alice, "acme")
    for name in ("acme-web", "acme-api"):
        await team_app(alice, "acme", name)
        await grant(bob, name, ["view", "deploy"])
    await add_member(alice, "acme", bob, "collaborator")
    # Bob's access to an app outside the team is not the team's to take.
    await carol.create_app("carols")
    assert (await carol.post("/apps/carols/collaborators", json={"user": bob.email})).is_success
    for name in ("acme-web", "acme-api", "carols"):
        assert (await bob.get(f"/apps/{name}")).status_code == 200, name
        assert (await bob.get(f"/apps/{name}/config-vars")).status_code == 200, name

    r = await alice.delete(f"/teams/acme/members/{bob.email}")
    assert r.status_code == 200, r.text

    for name in ("acme-web", "acme-api"):
        r = await bob.get(f"/apps/{name}")
        assert r.status_code == 403, name
        assert (await bob.get(f"/apps/{name}/config-vars")).status_code == 403, name
    assert (await bob.get("/apps/carols")).status_code == 200
    assert [a["name"] for a in (await bob.get("/apps")).json()] == ["carols"]
    async with api.database.session(write=False) as db:
        left = (
            select(func.count())
            .select_from(Collaborator)
            .join(App)
            .where(Collaborator.account_id == bob.id, App.organization_id.is_not(None))
        )
        assert (await db.execute(left)).scalar_one() == 0


async def test_collaborators_do_not_see_the_member_list(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    await add_member(alice, "acme", bob, "collaborator")
    assert (await bob.get("/teams/acme")).status_code == 200
    r = await bob.get("/teams/acme/members")
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"


async def test_members_page_by_email_and_id(api: ApiClient, alice: User) -> None:
    await make_team(alice, "acme")
    for n in range(3):
        other = await api.user(f"m{n}@example.com")
        await add_member(alice, "acme", other)
    r = await alice.get("/teams/acme/members", headers={"Range": "email ..; max=2"})
    assert r.status_code == 206
    assert r.headers["Accept-Ranges"] == "email, id"
    first = [m["email"] for m in r.json()]
    r = await alice.get("/teams/acme/members", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    rest = [m["email"] for m in r.json()]
    assert first + rest == sorted(
        [alice.email, "m0@example.com", "m1@example.com", "m2@example.com"]
    )
    by_id = await alice.get("/organizations/acme/members", headers={"Range": "id ..; order=desc"})
    ids = [m["id"] for m in by_id.json()]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 4

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import ApiClient, User
from tests.resources.organization_app.teams import make_team, role_of, rows_of


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


@pytest.fixture
async def dave(api: ApiClient) -> User:
    return await api.user("dave@example.com")


@pytest.fixture
async def acme(api: ApiClient, alice: User, bob: User) -> uuid.UUID:
    """alice admin and bob member of acme, which holds the app widgets."""
    team = await make_team(api, "acme", [(alice, "admin"), (bob, "member")])
    r = await alice.post("/teams/apps", json={"team": "acme", "name": "widgets"})
    assert r.status_code == 201, r.text
    return team


def _names(permissions: list[dict[str, Any]]) -> list[str]:
    return [p["name"] for p in permissions]


async def test_add_outsider_with_permissions_makes_them_a_team_collaborator(
    alice: User, carol: User, acme: uuid.UUID
) -> None:
    assert (await carol.get("/apps/widgets")).status_code == 403
    r = await alice.post(
        "/teams/apps/widgets/collaborators",
        json={"user": carol.email, "permissions": ["deploy", "view"], "silent": True},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["role"] == "collaborator"
    assert created["user"] == {"email": carol.email, "federated": False, "id": str(carol.id)}
    assert created["app"]["name"] == "widgets"
    assert _names(created["permissions"]) == ["deploy", "view"]
    assert all(p["description"] for p in created["permissions"])
    assert await role_of(alice.client, acme, carol) == "collaborator"
    # What the permissions allow: deploy edits config, but only manage changes access.
    assert (await carol.patch("/apps/widgets/config-vars", json={"A": "1"})).status_code == 200
    r = await carol.post("/teams/apps/widgets/collaborators", json={"user": "dave@example.com"})
    assert r.status_code == 403
    assert await _list(carol, "/teams/acme/apps") == ["widgets"]


async def _list(user: User, path: str) -> list[str]:
    r = await user.get(path)
    assert r.status_code == 200, r.text
    return sorted(a["name"] for a in r.json())


async def test_view_only_then_deploy(alice: User, carol: User, acme: uuid.UUID) -> None:
    r = await alice.post(
        "/organizations/apps/widgets/collaborators", json={"user": carol.email, "permissions": []}
    )
    assert r.status_code == 201, r.text
    assert _names(r.json()["permissions"]) == ["view"]
    assert (await carol.get("/apps/widgets/config-vars")).status_code == 403
    r = await carol.patch("/apps/widgets/config-vars", json={"A": "1"})
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    r = await alice.patch(
        f"/teams/apps/widgets/collaborators/{carol.email}", json={"permissions": ["deploy"]}
    )
    assert r.status_code == 200, r.text
    assert _names(r.json()["permissions"]) == ["deploy", "view"]
    assert (await carol.patch("/apps/widgets/config-vars", json={"A": "1"})).status_code == 200
    r = await alice.patch(
        f"/organizations/apps/widgets/collaborators/{carol.id}",
        json={"permissions": ["view"]},
    )
    assert r.status_code == 200, r.text
    assert (await carol.patch("/apps/widgets/config-vars", json={"B": "1"})).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"user": "carol@example.com", "permissions": ["admin"]},
        {"user": "carol@example.com", "permissions": "deploy"},
        {"user": "carol@example.com", "permissions": [7]},
        {"user": ""},
        {},
    ],
)
async def test_bad_create_bodies_are_422(
    alice: User, carol: User, acme: uuid.UUID, body: dict[str, Any]
) -> None:
    r = await alice.post("/teams/apps/widgets/collaborators", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"
    assert await rows_of(alice.client, await _app_id(alice)) == {}


async def _app_id(user: User, name: str = "widgets") -> str:
    app_id: str = (await user.get(f"/apps/{name}")).json()["id"]
    return app_id


async def test_bad_update_bodies_are_422(alice: User, carol: User, acme: uuid.UUID) -> None:
    await alice.post("/teams/apps/widgets/collaborators", json={"user": carol.email})
    for body in ({}, {"permissions": ["fly"]}, {"permissions": None}):
        r = await alice.patch(f"/teams/apps/widgets/collaborators/{carol.email}", json=body)
        assert r.status_code == 422, body
    r = await alice.patch(
        "/teams/apps/widgets/collaborators/ghost@example.com", json={"permissions": ["view"]}
    )
    assert r.status_code == 404
    assert r.json()["resource"] == "collaborator"


async def test_unknown_user_and_duplicates(alice: User, carol: User, acme: uuid.UUID) -> None:
    r = await alice.post("/teams/apps/widgets/collaborators", json={"user": "ghost@example.com"})
    assert r.status_code == 404
    assert r.json()["resource"] == "user"
    r = await alice.post("/teams/apps/widgets/collaborators", json={"user": carol.email})
    assert r.status_code == 201
    r = await alice.post("/teams/apps/widgets/collaborators", json={"user": str(carol.id)})
    assert r.status_code == 422


async def test_member_without_manage_cannot_add_others_but_may_join(
    api: ApiClient, alice: User, bob: User, carol: User, acme: uuid.UUID
) -> None:
    r = await bob.post("/teams/apps/widgets/collaborators", json={"user": carol.email})
    assert r.status_code == 403
    assert "manage" in r.json()["message"]
    # Joining with more than members hold is adding permissions: refused.
    r = await bob.post(
        "/teams/apps/widgets/collaborators", json={"user": bob.email, "permissions": ["deploy"]}
    )
    assert r.status_code == 403
    # `heroku apps:join`: the member joins with the team's member permissions.
    r = await bob.post("/teams/apps/widgets/collaborators", json={"user": bob.email})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "member"
    assert _names(r.json()["permissions"]) == ["view"]
    assert (await bob.get("/teams/apps/widgets")).json()["joined"] is True
    # A joined member keeps the app once it is locked.
    assert (await alice.patch("/teams/apps/widgets", json={"locked": True})).status_code == 200
    assert (await bob.get("/apps/widgets")).status_code == 200


async def test_members_cannot_join_locked_apps(
    api: ApiClient, alice: User, bob: User, acme: uuid.UUID
) -> None:
    await alice.patch("/teams/apps/widgets", json={"locked": True})
    r = await bob.post("/teams/apps/widgets/collaborators", json={"user": "~"})
    assert r.status_code == 403
    assert await rows_of(api, await _app_id(alice)) == {}


async def test_member_default_permissions_follow_the_team(
    api: ApiClient, alice: User, bob: User, carol: User
) -> None:
    await make_team(
        api,
        "acme",
        [(alice, "admin"), (bob, "member"), (carol, "viewer")],
        member_permissions=["view", "deploy"],
    )
    await alice.post("/teams/apps", json={"team": "acme", "name": "widgets"})
    r = await alice.post("/teams/apps/widgets/collaborators", json={"user": carol.email})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "viewer"
    assert _names(r.json()["permissions"]) == ["deploy", "view"]
    r = await bob.post(
        "/teams/apps/widgets/collaborators", json={"user": bob.email, "permissions": ["deploy"]}
    )
    assert r.status_code == 201, r.text


async def test_list_info_and_roles(alice: User, bob: User, carol: User, acme: uuid.UUID) -> None:
    await alice.post(
        "/teams/apps/widgets/collaborators", json={"user": carol.email, "permissions": ["operate"]}
    )
    await bob.post("/teams/apps/widgets/collaborators", json={"user": bob.email})
    for path in (
        "/teams/apps/widgets/collaborators",
        "/organizations/apps/widgets/collaborators",
        "/apps/widgets/collaborators",
    ):
        r = await bob.get(path)
        assert r.status_code == 200, r.text
        assert r.headers["Accept-Ranges"] == "email, id"
        got = {c["user"]["email"]: (c["role"], _names(c["permissions"])) for c in r.json()}
        assert got == {
            bob.email: ("member", ["view"]),
            carol.email: ("collaborator", ["operate", "view"]),
        }, path
    for ident in (carol.email, str(carol.id)):
        r = await bob.get(f"/organizations/apps/widgets/collaborators/{ident}")
        assert r.status_code == 200
        assert r.json()["role"] == "collaborator"
    r = await bob.get(f"/teams/apps/widgets/collaborators/{alice.email}")
    assert r.status_code == 404


async def test_outsider_sees_nothing(alice: User, carol: User, dave: User, acme: uuid.UUID) -> None:
    await alice.post("/teams/apps/widgets/collaborators", json={"user": carol.email})
    for r in (
        await dave.get("/teams/apps/widgets/collaborators"),
        await dave.get(f"/teams/apps/widgets/collaborators/{carol.email}"),
        await dave.post("/teams/apps/widgets/collaborators", json={"user": dave.email}),
        await dave.patch(
            f"/teams/apps/widgets/collaborators/{carol.email}", json={"permissions": ["deploy"]}
        ),
        await dave.delete(f"/teams/apps/widgets/collaborators/{carol.email}"),
    ):
        assert r.status_code == 403
        assert r.json()["id"] == "forbidden"


async def test_delete_and_leave(
    api: ApiClient, alice: User, bob: User, carol: User, dave: User, acme: uuid.UUID
) -> None:
    app_id = await _app_id(alice)
    await alice.post("/teams/apps/widgets/collaborators", json={"user": carol.email})
    await alice.post("/teams/apps/widgets/collaborators", json={"user": dave.email})
    await bob.post("/teams/apps/widgets/collaborators", json={"user": bob.email})
    # bob (view only) may leave but not remove carol.
    r = await bob.delete(f"/teams/apps/widgets/collaborators/{carol.email}")
    assert r.status_code == 403
    r = await bob.delete(f"/apps/widgets/collaborators/{bob.email}")
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "member"
    assert await role_of(api, acme, bob) == "member"
    r = await alice.delete(f"/organizations/apps/widgets/collaborators/{carol.email}")
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == carol.email
    # carol held nothing else of the team's: she is no longer in it.
    assert await role_of(api, acme, carol) is None
    assert (await carol.get("/teams/acme/apps")).status_code == 403
    r = await dave.delete(f"/teams/apps/widgets/collaborators/{dave.email}")
    assert r.status_code == 200
    assert await rows_of(api, app_id) == {}
    r = await alice.delete(f"/teams/apps/widgets/collaborators/{dave.email}")
    assert r.status_code == 404


async def test_plain_collaborator_route_on_a_team_app(
    api: ApiClient, alice: User, carol: User, acme: uuid.UUID
) -> None:
    r = await alice.post("/apps/widgets/collaborators", json={"user": carol.email})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "collaborator"
    assert _names(r.json()["permissions"]) == ["deploy", "operate", "view"]
    assert await role_of(api, acme, carol) == "collaborator"
    assert (await carol.patch("/apps/widgets/config-vars", json={"A": "1"})).status_code == 200
    assert (await carol.delete("/apps/widgets")).status_code == 403


async def test_personal_apps_have_no_team_collaborators(alice: User, bob: User) -> None:
    await alice.create_app("solo")
    await alice.post("/apps/solo/collaborators", json={"user": bob.email})
    r = await alice.post("/teams/apps/solo/collaborators", json={"user": "carol@example.com"})
    assert r.status_code == 422
    r = await alice.patch(
        f"/teams/apps/solo/collaborators/{bob.email}", json={"permissions": ["deploy"]}
    )
    assert r.status_code == 422
    # Reading works on any app, with the personal roles.
    r = await alice.get("/teams/apps/solo/collaborators")
    roles = {c["user"]["email"]: (c["role"], c["permissions"]) for c in r.json()}
    assert roles == {alice.email: ("owner", []), bob.email: ("collaborator", [])}


async def test_team_permissions_list(api: ApiClient, alice: User) -> None:
    r = await alice.get("/teams/permissions")
    assert r.status_code == 200, r.text
    assert [p["name"] for p in r.json()] == ["deploy", "manage", "operate", "view"]
    assert all(p["description"] for p in r.json())
    assert (await api.request("GET", "/teams/permissions")).status_code == 401

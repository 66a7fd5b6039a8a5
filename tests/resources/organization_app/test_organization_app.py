from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import ApiClient, User
from tests.resources.organization_app.teams import add_member, make_team, role_of, rows_of

ALL = ["view", "deploy", "operate", "manage"]


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


@pytest.fixture
async def dave(api: ApiClient) -> User:
    return await api.user("dave@example.com")


@pytest.fixture
async def erin(api: ApiClient) -> User:
    return await api.user("erin@example.com")


@pytest.fixture
async def acme(api: ApiClient, alice: User, bob: User, carol: User, dave: User) -> uuid.UUID:
    """alice admin, bob member, carol viewer, dave collaborator of the team acme."""
    return await make_team(
        api, "acme", [(alice, "admin"), (bob, "member"), (carol, "viewer"), (dave, "collaborator")]
    )


async def _create(user: User, path: str = "/teams/apps", **body: Any) -> dict[str, Any]:
    r = await user.post(path, json={"team": "acme", **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _names(user: User, path: str) -> list[str]:
    r = await user.get(path)
    assert r.status_code == 200, r.text
    return sorted(a["name"] for a in r.json())


async def test_admin_creates_team_app(alice: User, acme: uuid.UUID) -> None:
    app = await _create(alice, name="widgets", region="eu")
    assert app["name"] == "widgets"
    assert app["team"] == {"id": str(acme), "name": "acme"}
    assert app["organization"] == app["team"]
    assert app["owner"] == {"email": "acme@herokumanager.com", "id": str(acme)}
    assert app["region"]["name"] == "eu"
    assert app["locked"] is False
    assert app["joined"] is False
    assert app["space"] is None
    # An admin needs no collaborator row: the team role gives everything.
    assert await rows_of(alice.client, app["id"]) == {}
    info = (await alice.get("/apps/widgets")).json()
    assert info["owner"] == app["owner"]
    assert info["team"] == {"id": str(acme), "name": "acme"}
    releases = (await alice.get("/apps/widgets/releases")).json()
    assert [(r["version"], r["user"]["email"]) for r in releases] == [(1, alice.email)]


async def test_member_creates_and_may_do_anything_to_it(
    alice: User, bob: User, acme: uuid.UUID
) -> None:
    app = await _create(bob, "/organizations/apps", name="gadgets", organization="acme")
    assert app["joined"] is True
    assert app["organization"]["name"] == "acme"
    assert await rows_of(bob.client, app["id"]) == {bob.id: ("collaborator", ALL)}
    r = await bob.patch("/apps/gadgets/config-vars", json={"A": "1"})
    assert r.status_code == 200, r.text
    r = await bob.patch("/teams/apps/gadgets", json={"locked": True})
    assert r.status_code == 200, r.text
    assert r.json()["locked"] is True
    assert (await bob.delete("/apps/gadgets")).status_code == 200


@pytest.mark.parametrize("who", ["carol", "dave", "erin"])
async def test_viewers_collaborators_and_outsiders_cannot_create(
    alice: User, carol: User, dave: User, erin: User, acme: uuid.UUID, who: str
) -> None:
    user = {"carol": carol, "dave": dave, "erin": erin}[who]
    for path, body in (
        ("/teams/apps", {"team": "acme", "name": "nope"}),
        ("/organizations/apps", {"organization": str(acme), "name": "nope"}),
    ):
        r = await user.post(path, json=body)
        assert r.status_code == 403, (who, r.text)
        assert r.json()["id"] == "forbidden"
    assert (await alice.get("/apps/nope")).status_code == 404


async def test_create_refuses_what_tenku_cannot_do(alice: User, acme: uuid.UUID) -> None:
    cases = [
        ({"team": "acme", "space": "nasa"}, 422),
        ({"team": "acme", "personal": True}, 422),
        ({"personal": True, "locked": True}, 422),
        ({"team": "acme", "name": "Bad_Name"}, 422),
        ({"team": "acme", "locked": "yes"}, 422),
        ({"team": "nosuchteam"}, 404),
        ({"team": ""}, 422),
    ]
    for body, status in cases:
        r = await alice.post("/teams/apps", json=body)
        assert r.status_code == status, (body, r.text)
    assert await _names(alice, "/apps") == []


async def test_locked_at_creation(alice: User, bob: User, acme: uuid.UUID) -> None:
    app = await _create(alice, name="vault", locked=True)
    assert app["locked"] is True
    assert (await bob.get("/apps/vault")).status_code == 403


async def test_default_team_and_personal(api: ApiClient, alice: User, bob: User) -> None:
    await make_team(api, "acme", [(alice, "admin"), (bob, "member")], default_for=(bob,))
    r = await bob.post("/organizations/apps", json={"name": "in-default"})
    assert r.status_code == 201, r.text
    assert r.json()["organization"]["name"] == "acme"
    r = await bob.post("/organizations/apps", json={"name": "mine", "personal": True})
    assert r.status_code == 201, r.text
    assert r.json()["organization"] is None
    assert r.json()["owner"] == {"email": bob.email, "id": str(bob.id)}
    assert r.json()["joined"] is True
    # alice has no default team: her app is personal.
    r = await alice.post("/organizations/apps", json={"name": "alices"})
    assert r.status_code == 201, r.text
    assert r.json()["owner"]["email"] == alice.email
    assert await _names(bob, "/organizations/apps") == ["in-default"]
    assert await _names(alice, "/organizations/apps") == ["alices"]
    # POST /apps stays personal whatever the default team.
    created = await bob.create_app("plain")
    assert created["team"] is None


async def test_team_listing_follows_access(
    api: ApiClient, alice: User, bob: User, carol: User, dave: User, erin: User, acme: uuid.UUID
) -> None:
    await _create(alice, name="open-one")
    await _create(alice, name="locked-one", locked=True)
    await _create(bob, name="bobs-one")
    other = await make_team(api, "other", [(erin, "admin")])
    r = await erin.post("/teams/apps", json={"team": "other", "name": "elsewhere"})
    assert r.status_code == 201
    everything = ["bobs-one", "locked-one", "open-one"]
    assert await _names(alice, "/teams/acme/apps") == everything
    assert await _names(alice, f"/organizations/{acme}/apps") == everything
    assert await _names(alice, "/organizations/acme/apps") == everything
    # Members and viewers see the unlocked apps, and the locked ones they joined.
    assert await _names(bob, "/teams/acme/apps") == ["bobs-one", "open-one"]
    assert await _names(carol, "/teams/acme/apps") == ["bobs-one", "open-one"]
    # A team collaborator sees only the apps they were added to.
    assert await _names(dave, "/teams/acme/apps") == []
    r = await erin.get("/teams/acme/apps")
    assert r.status_code == 403
    assert (await alice.get("/teams/nosuch/apps")).status_code == 404
    assert await _names(erin, f"/teams/{other}/apps") == ["elsewhere"]
    joined = {a["name"]: a["joined"] for a in (await bob.get("/teams/acme/apps")).json()}
    assert joined == {"bobs-one": True, "open-one": False}


async def test_heroku_apps_lists_personal_apps_and_all_lists_team_apps(
    alice: User, bob: User, acme: uuid.UUID
) -> None:
    await _create(alice, name="team-app")
    await bob.create_app("bobs-own")
    assert await _names(bob, "/users/~/apps") == ["bobs-own"]
    assert await _names(bob, "/apps") == ["bobs-own", "team-app"]
    assert await _names(alice, "/users/~/apps") == []
    assert await _names(alice, "/apps") == ["team-app"]


async def test_info_for_member_and_outsider(
    alice: User, bob: User, erin: User, acme: uuid.UUID
) -> None:
    created = await _create(alice, name="widgets")
    for path in ("/teams/apps/widgets", "/organizations/apps/widgets"):
        r = await bob.get(path)
        assert r.status_code == 200, r.text
        assert r.json() == created
        r = await erin.get(path)
        assert r.status_code == 403
        assert r.json()["id"] == "forbidden"
    assert (await bob.get(f"/teams/apps/{created['id']}")).json()["name"] == "widgets"
    assert (await bob.get("/teams/apps/nosuch")).status_code == 404


async def test_lock_shuts_out_members_but_not_collaborators(
    alice: User, bob: User, carol: User, acme: uuid.UUID
) -> None:
    await _create(alice, name="widgets")
    r = await alice.post(
        "/teams/apps/widgets/collaborators", json={"user": carol.email, "permissions": []}
    )
    assert r.status_code == 201, r.text
    r = await bob.patch("/teams/apps/widgets", json={"locked": True})
    assert r.status_code == 403
    assert "manage" in r.json()["message"]
    r = await alice.patch("/teams/apps/widgets", json={"locked": True})
    assert r.status_code == 200, r.text
    assert r.json()["locked"] is True
    assert (await bob.get("/apps/widgets")).status_code == 403
    assert (await bob.get("/teams/apps/widgets")).status_code == 403
    assert await _names(bob, "/teams/acme/apps") == []
    assert (await carol.get("/apps/widgets")).status_code == 200
    assert await _names(carol, "/teams/acme/apps") == ["widgets"]
    r = await alice.patch("/organizations/apps/widgets", json={"locked": False})
    assert r.status_code == 200
    assert r.json()["locked"] is False
    assert (await bob.get("/apps/widgets")).status_code == 200


async def test_patch_needs_something_and_only_team_apps_lock(alice: User) -> None:
    await alice.create_app("solo")
    r = await alice.patch("/teams/apps/solo", json={})
    assert r.status_code == 422
    r = await alice.patch("/teams/apps/solo", json={"locked": True})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert (await alice.get("/apps/solo")).json()["locked"] is False


async def test_transfer_team_app_to_a_member(
    alice: User, bob: User, carol: User, dave: User, erin: User, acme: uuid.UUID
) -> None:
    app = await _create(alice, name="widgets", locked=True)
    await alice.post("/teams/apps/widgets/collaborators", json={"user": dave.email})
    # Only who may manage the app transfers it; only to a member of the team.
    r = await carol.patch("/teams/apps/widgets", json={"owner": carol.email})
    assert r.status_code == 403
    r = await alice.patch("/teams/apps/widgets", json={"owner": erin.email})
    assert r.status_code == 422
    r = await alice.patch("/teams/apps/widgets", json={"owner": dave.email})
    assert r.status_code == 422
    r = await alice.patch("/teams/apps/widgets", json={"owner": "ghost@example.com"})
    assert r.status_code == 404
    r = await alice.patch("/organizations/apps/widgets", json={"owner": str(bob.id)})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["owner"] == {"email": bob.email, "id": str(bob.id)}
    assert moved["organization"] is None
    assert moved["team"] is None
    assert moved["locked"] is False
    assert moved["joined"] is False
    # bob owns it alone: the team's grants and collaborators are gone.
    assert await rows_of(alice.client, app["id"]) == {bob.id: ("owner", [])}
    assert (await alice.get("/apps/widgets")).status_code == 403
    assert (await dave.get("/apps/widgets")).status_code == 403
    assert await role_of(alice.client, acme, dave) is None
    assert await _names(bob, "/users/~/apps") == ["widgets"]
    assert (await bob.delete("/apps/widgets")).status_code == 200


async def test_transfer_to_self_with_tilde(alice: User, acme: uuid.UUID) -> None:
    app = await _create(alice, name="widgets")
    r = await alice.patch("/teams/apps/widgets", json={"owner": "~"})
    assert r.status_code == 200, r.text
    assert r.json()["owner"]["email"] == alice.email
    assert await rows_of(alice.client, app["id"]) == {alice.id: ("owner", [])}


async def test_transfer_personal_app_into_a_team(
    alice: User, bob: User, erin: User, acme: uuid.UUID
) -> None:
    app = await bob.create_app("bobs")
    await bob.post("/apps/bobs/collaborators", json={"user": erin.email})
    # A collaborator cannot move it; nor can its owner into a team they are not in.
    r = await erin.patch("/teams/apps/bobs", json={"owner": "acme"})
    assert r.status_code == 403
    await make_team(alice.client, "beta", [(alice, "admin")])
    r = await bob.patch("/teams/apps/bobs", json={"owner": "beta"})
    assert r.status_code == 403
    r = await bob.patch("/teams/apps/bobs", json={"owner": "nosuch"})
    assert r.status_code == 404
    r = await bob.patch("/teams/apps/bobs", json={"owner": "acme"})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["team"]["name"] == "acme"
    assert moved["owner"]["email"] == "acme@herokumanager.com"
    assert moved["joined"] is True
    assert await rows_of(bob.client, app["id"]) == {
        bob.id: ("collaborator", ["view", "deploy", "operate", "manage"]),
        erin.id: ("collaborator", ["view", "deploy", "operate"]),
    }
    assert await role_of(bob.client, acme, erin) == "collaborator"
    # erin may still deploy but no longer manage; alice (admin) now may do anything.
    assert (await erin.patch("/apps/bobs/config-vars", json={"A": "1"})).status_code == 200
    assert (await erin.delete("/apps/bobs")).status_code == 403
    assert (await alice.patch("/teams/apps/bobs", json={"locked": True})).status_code == 200


async def test_transfer_between_teams(
    api: ApiClient, alice: User, bob: User, dave: User, erin: User, acme: uuid.UUID
) -> None:
    app = await _create(alice, name="widgets")
    await alice.post(
        "/teams/apps/widgets/collaborators", json={"user": dave.email, "permissions": ["deploy"]}
    )
    beta = await make_team(api, "beta", [(erin, "admin"), (alice, "viewer"), (bob, "member")])
    # A viewer of the target team cannot move an app in, nor can anyone without manage on
    # the app (bob, an acme member); nor anyone into a team they are not in.
    assert (await alice.patch("/teams/apps/widgets", json={"owner": "beta"})).status_code == 403
    assert (await bob.patch("/teams/apps/widgets", json={"owner": "beta"})).status_code == 403
    gamma = await make_team(api, "gamma", [(erin, "admin")])
    assert (await alice.patch("/teams/apps/widgets", json={"owner": "gamma"})).status_code == 403
    await add_member(api, gamma, alice, "member")
    r = await alice.patch("/teams/apps/widgets", json={"owner": str(gamma)})
    assert r.status_code == 200, r.text
    assert r.json()["team"] == {"id": str(gamma), "name": "gamma"}
    assert r.json()["owner"]["email"] == "gamma@herokumanager.com"
    # dave keeps his grant and joins gamma as a collaborator, leaving acme.
    assert await rows_of(api, app["id"]) == {dave.id: ("collaborator", ["view", "deploy"])}
    assert await role_of(api, gamma, dave) == "collaborator"
    assert await role_of(api, acme, dave) is None
    # alice is now a plain member: she sees it, but may not delete it; gamma's admin may.
    assert (await alice.get("/apps/widgets")).status_code == 200
    assert (await alice.delete("/apps/widgets")).status_code == 403
    assert await _names(erin, "/teams/gamma/apps") == ["widgets"]
    assert await _names(alice, "/teams/acme/apps") == []
    assert await _names(bob, f"/teams/{beta}/apps") == []


async def test_transfer_and_lock_in_one_request(alice: User, bob: User) -> None:
    await make_team(alice.client, "acme", [(alice, "admin")])
    await make_team(alice.client, "beta", [(alice, "admin"), (bob, "member")])
    await _create(alice, name="widgets")
    r = await alice.patch("/teams/apps/widgets", json={"owner": "beta", "locked": True})
    assert r.status_code == 200, r.text
    assert (r.json()["team"]["name"], r.json()["locked"]) == ("beta", True)
    assert (await bob.get("/apps/widgets")).status_code == 403


async def test_read_scope_cannot_create_or_change(
    api: ApiClient, alice: User, acme: uuid.UUID
) -> None:
    await _create(alice, name="widgets")
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get("/teams/apps/widgets")).status_code == 200
    assert (await reader.post("/teams/apps", json={"team": "acme"})).status_code == 403
    r = await reader.patch("/teams/apps/widgets", json={"locked": True})
    assert r.status_code == 403
    assert (await alice.get("/apps/widgets")).json()["locked"] is False


async def test_app_lists_give_each_app_as_its_info_does(
    alice: User, bob: User, acme: uuid.UUID
) -> None:
    """/apps and /users/~/apps write their bodies from raw rows (tenku.web.wire), GET
    /apps/{app} through AppOut: the two must agree on every kind of app."""
    await _create(alice, name="team-app")
    await bob.create_app("bobs-own")
    await bob.create_app("bobs-busy")
    assert (await bob.patch("/apps/bobs-busy", json={"maintenance": True})).status_code == 200
    assert (await bob.patch("/apps/bobs-busy/config-vars", json={"K": "v"})).status_code == 200
    await alice.create_app("alices-shared")
    r = await alice.post("/apps/alices-shared/collaborators", json={"user": bob.email})
    assert r.status_code == 201, r.text
    for path in ("/apps", "/users/~/apps"):
        listed = (await bob.get(path)).json()
        assert listed, path
        for body in listed:
            info = await bob.get(f"/apps/{body['name']}")
            assert info.status_code == 200
            assert list(body.items()) == list(info.json().items()), (path, body["name"])
    names = {body["name"] for body in (await bob.get("/apps")).json()}
    assert names == {"team-app", "bobs-own", "bobs-busy", "alices-shared"}

from __future__ import annotations

import uuid

import pytest

from tests.conftest import ApiClient, User
from tests.resources.organization_app.teams import make_team
from tests.resources.pipeline.support import couple, make_pipeline

PIPELINES = "application/vnd.heroku+json; version=3.pipelines"


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


async def _names(user: User, path: str = "/pipelines") -> list[str]:
    r = await user.get(path)
    assert r.status_code == 200, r.text
    return sorted(p["name"] for p in r.json())


async def test_create_info_list_rename_delete(alice: User) -> None:
    r = await alice.post(
        "/pipelines",
        # As `pipelines:create` sends it.
        json={"name": "shop", "owner": {"id": str(alice.id), "type": "user"}, "generation": {}},
        headers={"Accept": PIPELINES},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "shop"
    assert created["owner"] == {"id": str(alice.id), "type": "user"}
    assert created["created_at"].endswith("Z")

    for ident in ("shop", created["id"]):
        r = await alice.get(f"/pipelines/{ident}")
        assert r.status_code == 200, r.text
        assert r.json() == created

    await make_pipeline(alice, "blog")
    r = await alice.get("/pipelines")
    assert r.headers["Accept-Ranges"] == "id, name"
    assert sorted(p["name"] for p in r.json()) == ["blog", "shop"]
    r = await alice.get("/pipelines?eq[name]=shop", headers={"Accept": PIPELINES})
    assert [p["id"] for p in r.json()] == [created["id"]]
    assert (await alice.get("/pipelines?eq[name]=nothing")).json() == []

    r = await alice.patch(f"/pipelines/{created['id']}", json={"name": "store"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "store"
    assert (await alice.get("/pipelines/store")).json()["id"] == created["id"]
    assert (await alice.get("/pipelines/shop")).status_code == 404

    # `pipelines:destroy` sends the name in a body too.
    r = await alice.client.request(
        "DELETE", f"/pipelines/{created['id']}", token=alice.token, json={"name": "store"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "store"
    assert (await alice.get(f"/pipelines/{created['id']}")).status_code == 404
    assert await _names(alice) == ["blog"]


async def test_the_owner_defaults_to_the_caller_and_names_are_checked(alice: User) -> None:
    assert (await make_pipeline(alice, "shop"))["owner"] == {"id": str(alice.id), "type": "user"}
    r = await alice.post("/pipelines", json={"name": "x", "owner": {"id": "~", "type": "user"}})
    assert r.status_code == 422
    for body in (
        {},
        {"name": "Shop"},
        {"name": "1shop"},
        {"name": "a" * 31},
        {"name": "shop_x"},
        {"name": "shop", "owner": {"id": str(alice.id), "type": "space"}},
    ):
        r = await alice.post("/pipelines", json=body)
        assert r.status_code == 422, body
        assert r.json()["id"] == "invalid_params"
    r = await alice.post("/pipelines", json={"name": "mine", "owner": {"id": "~", "type": "user"}})
    assert r.status_code == 201
    # One owner's pipelines have names of their own.
    r = await alice.post("/pipelines", json={"name": "shop"})
    assert r.status_code == 422
    assert "already taken" in r.json()["message"]
    mine = (await alice.get("/pipelines/mine")).json()
    r = await alice.patch(f"/pipelines/{mine['id']}", json={"name": "shop"})
    assert r.status_code == 422
    r = await alice.patch(f"/pipelines/{mine['id']}", json={"name": "Nope"})
    assert r.status_code == 422
    assert (await alice.patch(f"/pipelines/{mine['id']}", json={})).json()["name"] == "mine"
    assert (await alice.patch("/pipelines/mine", json={"name": "other"})).status_code == 404


async def test_another_user_neither_sees_nor_changes_a_pipeline(alice: User, bob: User) -> None:
    pipeline = await make_pipeline(alice, "shop")
    assert await _names(bob) == []
    for path in ("/pipelines/shop", f"/pipelines/{pipeline['id']}"):
        r = await bob.get(path)
        assert r.status_code == 404
        assert r.json()["resource"] == "pipeline"
    r = await bob.patch(f"/pipelines/{pipeline['id']}", json={"name": "bobs"})
    assert r.status_code == 404
    assert (await bob.delete(f"/pipelines/{pipeline['id']}")).status_code == 404
    r = await bob.post(
        "/pipelines", json={"name": "bobs", "owner": {"id": str(alice.id), "type": "user"}}
    )
    assert r.status_code == 403
    assert (await alice.get("/pipelines/shop")).status_code == 200
    # The same name for another owner is fine.
    await make_pipeline(bob, "shop")
    assert await _names(bob) == ["shop"]
    assert await _names(alice) == ["shop"]


async def test_a_collaborator_on_a_coupled_app_sees_the_pipeline_only(
    alice: User, bob: User
) -> None:
    pipeline = await make_pipeline(alice, "shop")
    await alice.create_app("shop-staging")
    await couple(alice, "shop-staging", pipeline["id"], "staging")
    assert (await bob.get("/pipelines/shop")).status_code == 404
    r = await alice.post("/apps/shop-staging/collaborators", json={"user": bob.email})
    assert r.status_code == 201
    assert (await bob.get("/pipelines/shop")).json()["id"] == pipeline["id"]
    assert await _names(bob) == ["shop"]
    r = await bob.patch(f"/pipelines/{pipeline['id']}", json={"name": "bobs"})
    assert r.status_code == 403
    assert "Only its owner" in r.json()["message"]
    assert (await bob.delete(f"/pipelines/{pipeline['id']}")).status_code == 403
    # Two visible pipelines of one name: the name names neither.
    await make_pipeline(bob, "shop")
    r = await bob.get("/pipelines/shop")
    assert r.status_code == 422
    assert "More than one pipeline" in r.json()["message"]
    assert len((await bob.get("/pipelines?eq[name]=shop")).json()) == 2


async def test_team_pipelines_follow_team_roles(
    api: ApiClient, alice: User, bob: User, carol: User
) -> None:
    dave = await api.user("dave@example.com")
    team = await make_team(
        api, "acme", [(alice, "admin"), (bob, "member"), (carol, "viewer"), (dave, "collaborator")]
    )
    created = await make_pipeline(alice, "acme-web", owner={"id": str(team), "type": "team"})
    assert created["owner"] == {"id": str(team), "type": "team"}
    # By the team's name too.
    other = await make_pipeline(bob, "acme-api", owner={"id": "acme", "type": "team"})
    assert other["owner"] == {"id": str(team), "type": "team"}
    for user in (alice, bob, carol):
        assert await _names(user) == ["acme-api", "acme-web"]
    assert await _names(dave) == []
    assert (await dave.get("/pipelines/acme-web")).status_code == 404

    r = await bob.patch(f"/pipelines/{created['id']}", json={"name": "acme-www"})
    assert r.status_code == 200
    r = await carol.patch(f"/pipelines/{created['id']}", json={"name": "acme-x"})
    assert r.status_code == 403
    assert "team's admins and members" in r.json()["message"]
    r = await carol.post(
        "/pipelines", json={"name": "carols", "owner": {"id": "acme", "type": "team"}}
    )
    assert r.status_code == 403
    for user in (dave, await api.user("eve@example.com")):
        r = await user.post(
            "/pipelines", json={"name": "x-y", "owner": {"id": "acme", "type": "team"}}
        )
        assert r.status_code == 404
        assert r.json()["resource"] == "team"
    r = await alice.post(
        "/pipelines", json={"name": "acme-api", "owner": {"id": str(team), "type": "team"}}
    )
    assert r.status_code == 422
    assert (await carol.delete(f"/pipelines/{created['id']}")).status_code == 403
    assert (await bob.delete(f"/pipelines/{created['id']}")).status_code == 200
    assert await _names(alice) == ["acme-api"]


async def test_deleting_a_pipeline_uncouples_its_apps(alice: User) -> None:
    pipeline = await make_pipeline(alice, "shop")
    await alice.create_app("shop-prod")
    await couple(alice, "shop-prod", pipeline["id"], "production")
    assert (await alice.get("/apps/shop-prod/pipeline-couplings")).status_code == 200
    assert (await alice.delete(f"/pipelines/{pipeline['id']}")).status_code == 200
    assert (await alice.get("/apps/shop-prod/pipeline-couplings")).status_code == 404
    assert (await alice.get("/pipeline-couplings")).json() == []
    assert (await alice.get("/apps/shop-prod")).status_code == 200


async def test_read_tokens_list_and_write_tokens_change(api: ApiClient, alice: User) -> None:
    await make_pipeline(alice, "shop")
    reader = await api.token_for(alice, ["read"])
    assert await _names(reader) == ["shop"]
    r = await reader.post("/pipelines", json={"name": "more"})
    assert r.status_code == 403
    assert (await api.request("GET", "/pipelines")).status_code == 401


async def test_unknown_ids_are_404(alice: User) -> None:
    await make_pipeline(alice, "shop")
    for ident in (str(uuid.uuid4()), "no-such", "x" * 300, "a%00b", "Shop"):
        assert (await alice.get(f"/pipelines/{ident}")).status_code == 404
    # A name no pipeline can have (PostgreSQL refuses NUL in text) finds none.
    for name in ("%00", "Shop", "x" * 5000):
        r = await alice.get(f"/pipelines?eq[name]={name}")
        assert r.status_code == 200
        assert r.json() == []
    assert (await alice.patch(f"/pipelines/{uuid.uuid4()}", json={})).status_code == 404
    assert (await alice.delete("/pipelines/not-an-id")).status_code == 404

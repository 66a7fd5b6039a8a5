from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import ApiClient, User
from tests.resources.organization.support import grant, make_team, team_app
from tests.resources.pipeline.support import couple, make_pipeline

SDK = "application/vnd.heroku+json; version=3.sdk"


@pytest.fixture
async def shop(alice: User) -> dict[str, Any]:
    """alice's pipeline `shop` with her apps shop-staging and shop-prod, not yet coupled."""
    await alice.create_app("shop-staging")
    await alice.create_app("shop-prod")
    return await make_pipeline(alice, "shop")


async def test_couple_read_move_and_remove(alice: User, shop: dict[str, Any]) -> None:
    staging = await alice.get("/apps/shop-staging")
    created = await couple(alice, "shop-staging", shop["id"], "staging")
    assert created["app"] == {"id": staging.json()["id"]}
    assert created["pipeline"] == {"id": shop["id"], "name": "shop"}
    assert created["stage"] == "staging"
    # By the app's id and the pipeline's name as well.
    prod = await couple(alice, (await alice.get("/apps/shop-prod")).json()["id"], "shop", "test")
    assert prod["stage"] == "test"

    r = await alice.get(f"/pipeline-couplings/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    r = await alice.get("/apps/shop-staging/pipeline-couplings", headers={"Accept": SDK})
    assert r.json() == created
    r = await alice.get(f"/pipelines/{shop['id']}/pipeline-couplings", headers={"Accept": SDK})
    assert r.headers["Accept-Ranges"] == "id"
    assert sorted(c["id"] for c in r.json()) == sorted([created["id"], prod["id"]])
    first = await alice.get("/pipeline-couplings", headers={"Range": "id ..; max=1"})
    assert first.status_code == 206
    rest = await alice.get("/pipeline-couplings", headers={"Range": first.headers["Next-Range"]})
    assert rest.status_code == 200
    assert sorted(c["id"] for c in first.json() + rest.json()) == sorted(
        [created["id"], prod["id"]]
    )

    r = await alice.patch(f"/pipeline-couplings/{prod['id']}", json={"stage": "production"})
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "production"
    assert (await alice.get("/apps/shop-prod/pipeline-couplings")).json()["stage"] == "production"
    r = await alice.patch(f"/pipeline-couplings/{prod['id']}", json={"stage": "qa"})
    assert r.status_code == 422

    r = await alice.delete(f"/pipeline-couplings/{created['id']}")
    assert r.status_code == 200
    assert r.json()["id"] == created["id"]
    r = await alice.get("/apps/shop-staging/pipeline-couplings")
    assert r.status_code == 404
    assert r.json()["message"] == "shop-staging is not in a pipeline."
    assert (await alice.get(f"/pipeline-couplings/{created['id']}")).status_code == 404
    assert [c["id"] for c in (await alice.get("/pipeline-couplings")).json()] == [prod["id"]]


async def test_stages_and_bodies_are_checked(alice: User, shop: dict[str, Any]) -> None:
    for body in (
        {"app": "shop-staging", "pipeline": shop["id"]},
        {"app": "shop-staging", "pipeline": shop["id"], "stage": "qa"},
        {"app": "shop-staging", "stage": "staging"},
        {"pipeline": shop["id"], "stage": "staging"},
    ):
        r = await alice.post("/pipeline-couplings", json=body)
        assert r.status_code == 422, body
    r = await alice.post(
        "/pipeline-couplings", json={"app": "nope", "pipeline": shop["id"], "stage": "review"}
    )
    assert r.status_code == 404
    assert r.json()["resource"] == "app"
    r = await alice.post(
        "/pipeline-couplings",
        json={"app": "shop-staging", "pipeline": str(uuid.uuid4()), "stage": "review"},
    )
    assert r.status_code == 404
    assert r.json()["resource"] == "pipeline"
    for stage in ("review", "development", "staging", "production", "test"):
        created = await couple(alice, "shop-staging", shop["id"], stage)
        assert (await alice.delete(f"/pipeline-couplings/{created['id']}")).status_code == 200


async def test_an_app_is_in_one_pipeline_at_most(alice: User, shop: dict[str, Any]) -> None:
    await couple(alice, "shop-staging", shop["id"], "staging")
    other = await make_pipeline(alice, "other")
    for pipeline in (shop["id"], other["id"]):
        r = await alice.post(
            "/pipeline-couplings",
            json={"app": "shop-staging", "pipeline": pipeline, "stage": "staging"},
        )
        assert r.status_code == 422
        assert "already in the shop pipeline" in r.json()["message"]


async def test_coupling_needs_the_pipeline_and_the_right_to_deploy(
    api: ApiClient, alice: User, bob: User, shop: dict[str, Any]
) -> None:
    # Not bob's pipeline: he does not see it.
    await bob.create_app("bobs-app")
    r = await bob.post(
        "/pipeline-couplings", json={"app": "bobs-app", "pipeline": shop["id"], "stage": "review"}
    )
    assert r.status_code == 404
    # Not bob's app.
    bobs = await make_pipeline(bob, "bobs")
    r = await bob.post(
        "/pipeline-couplings", json={"app": "shop-prod", "pipeline": bobs["id"], "stage": "review"}
    )
    assert r.status_code == 403

    # A team pipeline: carol, a member whose team grants view only, may not couple a team
    # app (no deploy), though she may change the pipeline; with deploy she may.
    await make_team(alice, "acme")
    carol = await api.user("carol@example.com")
    r = await alice.put("/teams/acme/members", json={"email": carol.email, "role": "member"})
    assert r.status_code in (200, 201)
    await team_app(alice, "acme", "acme-web")
    team_pipeline = await make_pipeline(alice, "acme", owner={"id": "acme", "type": "team"})
    body = {"app": "acme-web", "pipeline": team_pipeline["id"], "stage": "staging"}
    r = await carol.post("/pipeline-couplings", json=body)
    assert r.status_code == 403
    assert "deploy permission" in r.json()["message"]
    await grant(carol, "acme-web", ["view", "deploy"])
    r = await carol.post("/pipeline-couplings", json=body)
    assert r.status_code == 201, r.text


async def test_moving_or_removing_an_app_needs_the_right_to_deploy_to_it(
    api: ApiClient, alice: User, bob: User, shop: dict[str, Any]
) -> None:
    await make_team(alice, "acme")
    r = await alice.put("/teams/acme/members", json={"email": bob.email, "role": "member"})
    assert r.status_code in (200, 201)
    app = await team_app(alice, "acme", "acme-web")
    pipeline = await make_pipeline(alice, "acme", owner={"id": "acme", "type": "team"})
    coupling = await couple(alice, "acme-web", pipeline["id"], "staging")
    # bob sees the team's pipeline and the coupling, but may only view the app.
    assert (await bob.get(f"/pipeline-couplings/{coupling['id']}")).status_code == 200
    assert (await bob.get("/apps/acme-web/pipeline-couplings")).json()["app"]["id"] == app["id"]
    r = await bob.patch(f"/pipeline-couplings/{coupling['id']}", json={"stage": "production"})
    assert r.status_code == 403
    assert (await bob.delete(f"/pipeline-couplings/{coupling['id']}")).status_code == 403
    # Someone outside sees nothing of it.
    eve = await api.user("eve@example.com")
    assert (await eve.get(f"/pipeline-couplings/{coupling['id']}")).status_code == 404
    assert (await eve.delete(f"/pipeline-couplings/{coupling['id']}")).status_code == 404
    assert (await eve.get("/pipeline-couplings")).json() == []
    assert (await eve.get(f"/pipelines/{pipeline['id']}/pipeline-couplings")).status_code == 404
    assert (await eve.get("/apps/acme-web/pipeline-couplings")).status_code == 403
    await grant(bob, "acme-web", ["view", "deploy"])
    r = await bob.patch(f"/pipeline-couplings/{coupling['id']}", json={"stage": "production"})
    assert r.status_code == 200
    assert (await bob.delete(f"/pipeline-couplings/{coupling['id']}")).status_code == 200


async def test_deleting_an_app_removes_its_coupling(alice: User, shop: dict[str, Any]) -> None:
    coupling = await couple(alice, "shop-staging", shop["id"], "staging")
    assert (await alice.delete("/apps/shop-staging")).status_code == 200
    assert (await alice.get(f"/pipeline-couplings/{coupling['id']}")).status_code == 404
    assert (await alice.get(f"/pipelines/{shop['id']}/pipeline-couplings")).json() == []


async def test_unknown_couplings_are_404(alice: User) -> None:
    for ident in (str(uuid.uuid4()), "nope"):
        r = await alice.get(f"/pipeline-couplings/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "pipeline_coupling"
        assert (await alice.patch(f"/pipeline-couplings/{ident}", json={})).status_code == 404
        assert (await alice.delete(f"/pipeline-couplings/{ident}")).status_code == 404

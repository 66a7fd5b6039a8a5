"""Promotions through HTTP; the runtime's part (`Promoter`) is run by hand, on the same
database, so that each step can be looked at between requests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tenku.db.models import PipelinePromotion
from tenku.resources.pipeline_promotion.service import pending_targets
from tenku.runtime.promotions import Promoter
from tests.conftest import ApiClient, User
from tests.resources.organization.support import grant, make_team, team_app
from tests.resources.pipeline.support import couple, make_pipeline, release_slug


@pytest.fixture
async def shop(alice: User) -> dict[str, Any]:
    """alice's pipeline with shop-staging (a slug released) and two production apps."""
    pipeline = await make_pipeline(alice, "shop")
    ids = {}
    for name, stage in (
        ("shop-staging", "staging"),
        ("shop-eu", "production"),
        ("shop-us", "production"),
    ):
        ids[name] = (await alice.create_app(name))["id"]
        await couple(alice, name, pipeline["id"], stage)
    release = await release_slug(alice, "shop-staging")
    return {"pipeline": pipeline, "ids": ids, "release": release}


def body(shop: dict[str, Any], source: str, *targets: str) -> dict[str, Any]:
    ids = shop["ids"]
    return {
        "pipeline": {"id": shop["pipeline"]["id"]},
        "source": {"app": {"id": ids.get(source, source)}},
        "targets": [{"app": {"id": ids.get(t, t)}} for t in targets],
    }


async def promote(user: User, shop: dict[str, Any], *targets: str) -> dict[str, Any]:
    r = await user.post("/pipeline-promotions", json=body(shop, "shop-staging", *targets))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def targets(user: User, promotion: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The promotion's targets by app id."""
    r = await user.get(f"/pipeline-promotions/{promotion['id']}/promotion-targets")
    assert r.status_code == 200, r.text
    return {t["app"]["id"]: t for t in r.json()}


async def carry_out(api: ApiClient, runner: str = "runtime-a") -> int:
    return await Promoter(api.database, runner, 60).sweep()


async def test_a_promotion_is_pending_until_the_runtime_releases_every_target(
    api: ApiClient, alice: User, shop: dict[str, Any]
) -> None:
    ids = shop["ids"]
    for app, value in (("shop-eu", "eu"), ("shop-us", "us")):
        r = await alice.patch(f"/apps/{app}/config-vars", json={"REGION": value})
        assert r.status_code == 200
    created = await promote(alice, shop, "shop-eu", "shop-us")
    assert created["status"] == "pending"
    assert created["pipeline"] == {"id": shop["pipeline"]["id"]}
    assert created["source"] == {
        "app": {"id": ids["shop-staging"]},
        "release": {"id": shop["release"]["id"]},
    }
    assert (await alice.get(f"/pipeline-promotions/{created['id']}")).json() == created
    pending = await targets(alice, created)
    assert set(pending) == {ids["shop-eu"], ids["shop-us"]}
    for target in pending.values():
        assert target["status"] == "pending"
        assert target["release"] is None
        assert target["error_message"] is None
        assert target["pipeline_promotion"] == {"id": created["id"]}

    assert await carry_out(api) == 1
    done = await targets(alice, created)
    assert (await alice.get(f"/pipeline-promotions/{created['id']}")).json()["status"] == (
        "completed"
    )
    source_slug = (
        await alice.get(f"/apps/shop-staging/slugs/{shop['release']['slug']['id']}")
    ).json()
    for app, value in (("shop-eu", "eu"), ("shop-us", "us")):
        target = done[ids[app]]
        assert target["status"] == "succeeded", target
        assert target["error_message"] is None
        release = (await alice.get(f"/apps/{app}/releases/{target['release']['id']}")).json()
        assert release["description"] == f"Promote shop-staging v{shop['release']['version']}"
        assert release["current"] is True
        assert release["user"]["email"] == alice.email
        # The target's own config, and its own copy of the source's slug.
        config = (await alice.get(f"/apps/{app}/releases/{release['version']}/config-vars")).json()
        assert config["REGION"] == value
        slug = (await alice.get(f"/apps/{app}/slugs/{release['slug']['id']}")).json()
        assert slug["id"] != source_slug["id"]
        assert slug["checksum"] == source_slug["checksum"]
        assert slug["process_types"] == source_slug["process_types"]
        formation = (await alice.get(f"/apps/{app}/formation")).json()
        assert {f["type"] for f in formation} == set(source_slug["process_types"])
    # Nothing is left to do, and nothing is done twice.
    assert await carry_out(api) == 0
    releases = (await alice.get("/apps/shop-eu/releases")).json()
    assert [r["description"] for r in releases].count(releases[-1]["description"]) == 1


async def test_promotion_requests_are_checked(
    api: ApiClient, alice: User, bob: User, shop: dict[str, Any]
) -> None:
    async def refused(data: dict[str, Any], status: int, user: User = alice) -> str:
        r = await user.post("/pipeline-promotions", json=data)
        assert r.status_code == status, r.text
        message: str = r.json()["message"]
        return message

    loner = (await alice.create_app("loner"))["id"]
    message = await refused(body(shop, loner, "shop-eu"), 422)
    assert message == "loner is not in the shop pipeline."
    message = await refused(body(shop, "shop-staging", "shop-staging"), 422)
    assert message.startswith("Cannot promote from an app to itself: shop-staging.")
    message = await refused(body(shop, "shop-staging", loner), 422)
    assert message == f"Couldn't find app {loner} in the shop pipeline."
    await refused(body(shop, "shop-staging"), 422)
    await refused({"pipeline": {"id": "x"}, "source": {"app": {"id": "y"}}, "targets": []}, 422)
    # A source with no code released yet.
    message = await refused(body(shop, "shop-eu", "shop-us"), 422)
    assert message == "shop-eu has no release with code to promote: deploy to it first."
    gone = body(shop, "shop-staging", "shop-eu")
    gone["pipeline"]["id"] = str(uuid.uuid4())
    assert "pipeline" in await refused(gone, 404)
    # bob sees neither the pipeline nor the apps.
    await refused(body(shop, "shop-staging", "shop-eu"), 404, bob)
    assert (await alice.get(f"/pipeline-promotions/{uuid.uuid4()}")).status_code == 404
    assert (await alice.get("/pipeline-promotions/nope/promotion-targets")).status_code == 404


async def test_only_who_sees_the_pipeline_sees_its_promotions(
    api: ApiClient, alice: User, bob: User, shop: dict[str, Any]
) -> None:
    created = await promote(alice, shop, "shop-eu")
    for path in (
        f"/pipeline-promotions/{created['id']}",
        f"/pipeline-promotions/{created['id']}/promotion-targets",
    ):
        r = await bob.get(path)
        assert r.status_code == 404
        assert r.json()["resource"] == "pipeline_promotion"
    await alice.post("/apps/shop-eu/collaborators", json={"user": bob.email})
    assert (await bob.get(f"/pipeline-promotions/{created['id']}")).status_code == 200


async def test_promoting_needs_the_right_to_deploy_to_each_app(
    api: ApiClient, alice: User, bob: User
) -> None:
    """In a team pipeline, bob (a member whose team grants view) may deploy to the source
    and to one target: the other target fails with the reason, and the first goes ahead."""
    await make_team(alice, "acme")
    r = await alice.put("/teams/acme/members", json={"email": bob.email, "role": "member"})
    assert r.status_code in (200, 201)
    pipeline = await make_pipeline(alice, "acme", owner={"id": "acme", "type": "team"})
    ids = {}
    for name, stage in (
        ("acme-stg", "staging"),
        ("acme-eu", "production"),
        ("acme-us", "production"),
    ):
        ids[name] = (await team_app(alice, "acme", name))["id"]
        await couple(alice, name, pipeline["id"], stage)
    await release_slug(alice, "acme-stg")
    shop = {"pipeline": pipeline, "ids": ids}
    data = body(shop, "acme-stg", "acme-eu", "acme-us")
    r = await bob.post("/pipeline-promotions", json=data)
    assert r.status_code == 403
    assert "deploy permission" in r.json()["message"]
    await grant(bob, "acme-stg", ["view", "deploy"])
    await grant(bob, "acme-eu", ["view", "deploy"])
    r = await bob.post("/pipeline-promotions", json=data)
    assert r.status_code == 201, r.text
    created = r.json()
    assert await carry_out(api) == 1
    done = await targets(bob, created)
    assert done[ids["acme-eu"]]["status"] == "succeeded"
    refused = done[ids["acme-us"]]
    assert refused["status"] == "failed"
    assert refused["release"] is None
    assert refused["error_message"] == (
        "You do not have permission to push code to acme-us. "
        "You need to have the deploy permission on this app."
    )
    assert len((await alice.get("/apps/acme-us/releases")).json()) == 1


async def test_targets_fail_with_their_reason_and_the_others_go_ahead(
    api: ApiClient, alice: User, bob: User, shop: dict[str, Any]
) -> None:
    ids = shop["ids"]
    # A target on another stack than the slug's, and one whose access went.
    await alice.create_app("shop-old", stack="heroku-22")
    await couple(alice, "shop-old", shop["pipeline"]["id"], "production")
    ids["shop-old"] = (await alice.get("/apps/shop-old")).json()["id"]
    bobs = (await bob.create_app("shop-bob"))["id"]
    await bob.post("/apps/shop-bob/collaborators", json={"user": alice.email})
    await couple(alice, "shop-bob", shop["pipeline"]["id"], "production")
    ids["shop-bob"] = bobs
    created = await promote(alice, shop, "shop-eu", "shop-old", "shop-bob")
    assert (await bob.delete(f"/apps/shop-bob/collaborators/{alice.email}")).status_code == 200
    assert await carry_out(api) == 1
    done = await targets(alice, created)
    assert done[ids["shop-eu"]]["status"] == "succeeded"
    old = done[ids["shop-old"]]
    assert old["status"] == "failed"
    assert old["error_message"] == (
        "shop-staging v2 was built for the heroku-24 stack, but shop-old runs on heroku-22."
    )
    assert done[ids["shop-bob"]]["error_message"] == "User does not have access to that app"
    assert (await alice.get(f"/pipeline-promotions/{created['id']}")).json()["status"] == (
        "completed"
    )


async def test_a_target_taken_out_of_the_pipeline_meanwhile_fails(
    api: ApiClient, alice: User, shop: dict[str, Any]
) -> None:
    created = await promote(alice, shop, "shop-eu", "shop-us")
    coupling = (await alice.get("/apps/shop-us/pipeline-couplings")).json()
    assert (await alice.delete(f"/pipeline-couplings/{coupling['id']}")).status_code == 200
    await carry_out(api)
    done = await targets(alice, created)
    assert done[shop["ids"]["shop-us"]]["error_message"] == "shop-us is no longer in the pipeline."
    assert done[shop["ids"]["shop-eu"]]["status"] == "succeeded"


async def test_a_promotion_a_dead_runtime_left_is_resumed_not_redone(
    api: ApiClient, alice: User, shop: dict[str, Any]
) -> None:
    created = await promote(alice, shop, "shop-eu", "shop-us")
    first = Promoter(api.database, "runtime-a", 60)
    # runtime-a claims it and settles one target, then dies before the other.
    original = first.promote

    async def one_target_then_die(promotion_id: uuid.UUID) -> bool:
        async with api.database.session(write=False) as db:
            pending = await pending_targets(db, promotion_id)
        await first._target(pending[0])
        raise SystemExit("runtime-a died")

    first.promote = one_target_then_die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await first.sweep()
    first.promote = original  # type: ignore[method-assign]
    half = await targets(alice, created)
    assert sorted(t["status"] for t in half.values()) == ["pending", "succeeded"]
    assert (await alice.get(f"/pipeline-promotions/{created['id']}")).json()["status"] == "pending"
    async with api.database.session(write=False) as db:
        row = await db.get(PipelinePromotion, uuid.UUID(created["id"]))
        assert row is not None
        assert row.runner == "runtime-a"

    # Another runtime leaves a promotion claimed by a live one alone...
    assert await carry_out(api, "runtime-b") == 0
    # ...and takes over, once it starts as the data directory's runtime, what a dead one left.
    second = Promoter(api.database, "runtime-b", 60)
    assert await second.recover() == 1
    assert await second.sweep() == 1
    done = await targets(alice, created)
    assert {t["status"] for t in done.values()} == {"succeeded"}
    assert (await alice.get(f"/pipeline-promotions/{created['id']}")).json()["status"] == (
        "completed"
    )
    description = f"Promote shop-staging v{shop['release']['version']}"
    for app in ("shop-eu", "shop-us"):
        releases = (await alice.get(f"/apps/{app}/releases")).json()
        assert [r["description"] for r in releases].count(description) == 1
    async with api.database.session(write=False) as db:
        runners = (await db.execute(select(PipelinePromotion.runner))).scalars().all()
        assert runners == ["runtime-b"]

"""Sharing add-ons between apps through attachments, and the attachment resolver."""

from __future__ import annotations

import re

import psycopg

from tests.addons.support import config_of, create_addon, release_texts
from tests.conftest import ApiClient, User


async def test_attach_to_another_app_under_its_own_name(alice: User) -> None:
    await alice.create_app("shop")
    blog = await alice.create_app("blog")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    r = await alice.post(
        "/addon-attachments",
        json={"addon": {"name": addon["name"]}, "app": {"name": "blog"}, "name": "shared_db"},
    )
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["name"] == "SHARED_DB"
    assert att["app"] == {"id": blog["id"], "name": "blog"}
    assert att["addon"]["app"]["name"] == "shop"
    assert att["addon"]["plan"]["name"] == "heroku-postgresql:hobby-dev"
    assert att["config_vars"] == ["SHARED_DB_URL"]
    assert att["namespace"] is None
    blog_config = await config_of(alice, "blog")
    assert blog_config == {"SHARED_DB_URL": (await config_of(alice, "shop"))["DATABASE_URL"]}
    async with await psycopg.AsyncConnection.connect(blog_config["SHARED_DB_URL"]) as conn:
        assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
    ref = f"@ref:{addon['name']}"
    assert (await release_texts(alice, "blog"))[-1] == f"Attach SHARED_DB ({ref})"
    assert (await alice.get("/apps/blog/releases/2")).json()["addon_plan_names"] == [
        "heroku-postgresql:hobby-dev"
    ]

    # The add-on shows in the other app's list, billed to its own app.
    [listed] = (await alice.get("/apps/blog/addons")).json()
    assert (listed["id"], listed["app"]["name"]) == (addon["id"], "shop")
    by_app = (await alice.get("/apps/blog/addon-attachments")).json()
    assert [a["id"] for a in by_app] == [att["id"]]
    by_addon = (await alice.get(f"/addons/{addon['id']}/addon-attachments")).json()
    assert {a["name"] for a in by_addon} == {"DATABASE", "SHARED_DB"} | {
        n for n in (a["name"] for a in by_addon) if n.startswith("HEROKU_POSTGRESQL_")
    }
    assert len(by_addon) == 3
    everywhere = (await alice.get("/addon-attachments")).json()
    assert len(everywhere) == 3
    for path in (f"/addon-attachments/{att['id']}", "/apps/blog/addon-attachments/shared_db"):
        r = await alice.get(path)
        assert (r.status_code, r.json()["id"]) == (200, att["id"]), path

    r = await alice.delete(f"/addon-attachments/{att['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "SHARED_DB"
    assert await config_of(alice, "blog") == {}
    assert (await release_texts(alice, "blog"))[-1] == f"Detach SHARED_DB ({ref})"
    assert (await alice.get(f"/addon-attachments/{att['id']}")).status_code == 404


async def test_attach_without_a_name_gets_a_colour_alias(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    r = await alice.post("/addon-attachments", json={"addon": addon["id"], "app": "shop"})
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    assert re.fullmatch(r"HEROKU_POSTGRESQL_[A-Z]+", name)
    assert len(set(await config_of(alice, "shop"))) == 3


async def test_taking_over_a_name_needs_confirmation(alice: User) -> None:
    """pg:promote: attach another database as DATABASE, replacing the current one."""
    await alice.create_app("shop")
    old = await create_addon(alice, "shop", "heroku-postgresql")
    new = await create_addon(alice, "shop", "heroku-postgresql")
    body = {"name": "DATABASE", "app": {"name": "shop"}, "addon": {"name": new["name"]}}
    r = await alice.post("/addon-attachments", json={**body, "namespace": None})
    assert r.status_code == 423
    assert r.json()["id"] == "confirmation_required"
    assert r.headers["X-Confirmation-Required"] == "shop"
    r = await alice.post("/addon-attachments", json={**body, "confirm": "shop"})
    assert r.status_code == 201, r.text
    config = await config_of(alice, "shop")
    [new_alias] = new["config_vars"]
    assert config["DATABASE_URL"] == config[new_alias]
    assert (await release_texts(alice, "shop"))[-2:] == [
        f"Detach DATABASE (@ref:{old['name']})",
        f"Attach DATABASE (@ref:{new['name']})",
    ]


async def test_the_billing_app_keeps_its_last_attachment(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-redis")
    [att] = (await alice.get("/apps/shop/addon-attachments")).json()
    r = await alice.delete(f"/addon-attachments/{att['id']}")
    assert r.status_code == 422
    assert f"addons:destroy {addon['name']}" in r.json()["message"]


async def test_destroying_a_shared_add_on_needs_force(alice: User) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    addon = await create_addon(alice, "shop", "heroku-redis")
    r = await alice.post("/addon-attachments", json={"addon": addon["name"], "app": "blog"})
    assert r.status_code == 201
    assert r.json()["name"].startswith("HEROKU_REDIS_")
    r = await alice.delete(f"/apps/shop/addons/{addon['name']}", json={"force": False})
    assert r.status_code == 422
    assert "blog" in r.json()["message"]
    r = await alice.delete(f"/apps/blog/addons/{addon['name']}", json={"force": True})
    assert r.status_code == 422  # billed to shop
    r = await alice.delete(f"/apps/shop/addons/{addon['name']}", json={"force": True})
    assert r.status_code == 200, r.text
    assert await config_of(alice, "shop") == {}
    assert await config_of(alice, "blog") == {}
    assert (await release_texts(alice, "blog"))[-1].startswith("Detach HEROKU_REDIS_")


async def test_attaching_needs_rights_on_both_apps(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    await bob.create_app("bobs")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    r = await alice.post("/addon-attachments", json={"addon": addon["name"], "app": "bobs"})
    assert r.status_code == 403
    r = await bob.post("/addon-attachments", json={"addon": addon["name"], "app": "bobs"})
    assert (r.status_code, r.json()["resource"]) == (404, "add_on")
    # Made a collaborator on another of alice's apps, bob sees the shared add-on there
    # but still cannot take it anywhere else.
    await alice.create_app("blog")
    await alice.post("/apps/blog/collaborators", json={"user": bob.email})
    r = await alice.post("/addon-attachments", json={"addon": addon["name"], "app": "blog"})
    assert r.status_code == 201
    shared = r.json()
    assert (await bob.get(f"/addons/{addon['name']}")).status_code == 200
    r = await bob.post("/addon-attachments", json={"addon": addon["name"], "app": "bobs"})
    assert r.status_code == 403
    seen = (await bob.get(f"/addons/{addon['name']}/addon-attachments")).json()
    assert [a["id"] for a in seen] == [shared["id"]]
    [db_att] = [
        a
        for a in (await alice.get("/apps/shop/addon-attachments")).json()
        if a["name"] == "DATABASE"
    ]
    for method in ("get", "delete"):
        r = await getattr(bob, method)(f"/addon-attachments/{db_att['id']}")
        assert (r.status_code, r.json()["resource"]) == (404, "add_on attachment")
    assert (await bob.get("/apps/shop/addon-attachments")).status_code == 403
    assert {a["id"] for a in (await bob.get("/addon-attachments")).json()} == {shared["id"]}


async def test_scopes(api: ApiClient, alice: User) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    addon = await create_addon(alice, "shop", "heroku-redis")
    reader = await api.token_for(alice, ["read"])
    r = await reader.post("/addon-attachments", json={"addon": addon["name"], "app": "blog"})
    assert r.status_code == 403
    assert (await reader.get("/addon-attachments")).status_code == 200


async def test_resolve_attachments(alice: User) -> None:
    await alice.create_app("shop")
    addon = await create_addon(alice, "shop", "heroku-postgresql")
    headers = {"Accept-Inclusion": "addon:plan,config_vars"}
    for ident in ("DATABASE", "database", "DATABASE_URL"):
        r = await alice.post(
            "/actions/addon-attachments/resolve",
            json={"addon_attachment": ident, "app": "shop"},
            headers=headers,
        )
        assert r.status_code == 200, (ident, r.text)
        [att] = r.json()
        assert att["name"] == "DATABASE"
        assert att["config_vars"] == ["DATABASE_URL"]
        assert att["addon"]["plan"]["name"] == "heroku-postgresql:hobby-dev"
    r = await alice.post(
        "/actions/addon-attachments/resolve",
        json={"addon_attachment": "shop::DATABASE", "app": None},
    )
    [att] = r.json()
    r = await alice.post(
        "/actions/addon-attachments/resolve", json={"addon_attachment": att["id"], "app": None}
    )
    assert [a["id"] for a in r.json()] == [att["id"]]
    r = await alice.post(
        "/actions/addon-attachments/resolve",
        json={"addon_attachment": "DATABASE", "app": "shop", "addon_service": "heroku-redis"},
    )
    assert r.status_code == 404
    r = await alice.post(
        "/actions/addon-attachments/resolve", json={"addon_attachment": "DATABASE", "app": None}
    )
    assert r.status_code == 404
    assert r.json() == {
        "id": "not_found",
        "message": "Couldn't find that add-on attachment.",
        "resource": "add_on attachment",
    }
    assert addon["name"]

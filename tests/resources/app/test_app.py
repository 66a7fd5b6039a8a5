from __future__ import annotations

import re

from tests.conftest import User


async def test_create_with_generated_name(alice: User) -> None:
    app = await alice.create_app()
    assert re.match(r"^[a-z]+-[a-z-]+-\d{4}$", app["name"])
    assert app["owner"]["email"] == "alice@example.com"
    assert app["region"]["name"] == "us"
    assert app["stack"]["name"] == "heroku-24"
    assert app["web_url"].startswith("https://")


async def test_create_named_and_taken(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    r = await bob.post("/apps", json={"name": "shop"})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert r.json()["message"] == "Name is already taken"


async def test_invalid_name_is_422(alice: User) -> None:
    r = await alice.post("/apps", json={"name": "Bad_Name"})
    assert r.status_code == 422
    assert "name" in r.json()["message"]


async def test_info_by_name_and_uuid(alice: User) -> None:
    app = await alice.create_app("lookup-me")
    by_name = (await alice.get("/apps/lookup-me")).json()
    by_id = (await alice.get(f"/apps/{app['id']}")).json()
    assert by_name == by_id


async def test_other_user_gets_403_and_cannot_list(alice: User, bob: User) -> None:
    await alice.create_app("private-app")
    r = await bob.get("/apps/private-app")
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    assert (await bob.get("/apps")).json() == []
    r = await bob.patch("/apps/private-app", json={"maintenance": True})
    assert r.status_code == 403
    r = await bob.delete("/apps/private-app")
    assert r.status_code == 403
    assert (await alice.get("/apps/private-app")).json()["maintenance"] is False


async def test_missing_app_is_404_with_resource(alice: User) -> None:
    r = await alice.get("/apps/nope-nope")
    assert r.status_code == 404
    assert r.json()["resource"] == "app"


async def test_rename_and_maintenance(alice: User) -> None:
    await alice.create_app("old-name")
    r = await alice.patch("/apps/old-name", json={"name": "new-name", "maintenance": True})
    assert r.status_code == 200
    assert r.json()["name"] == "new-name"
    assert r.json()["maintenance"] is True
    assert (await alice.get("/apps/old-name")).status_code == 404
    # heroku3 turns maintenance off with the number 0
    r = await alice.patch("/apps/new-name", json={"maintenance": 0})
    assert r.json()["maintenance"] is False
    # Strings are not coerced: "yes" (or "false") does not switch maintenance on.
    for value in ("yes", "false", "1", 2):
        r = await alice.patch("/apps/new-name", json={"maintenance": value})
        assert r.status_code == 422, (value, r.text)
        assert r.json()["id"] == "invalid_params"
    assert (await alice.get("/apps/new-name")).json()["maintenance"] is False


async def test_delete_returns_the_app(alice: User) -> None:
    app = await alice.create_app("doomed")
    r = await alice.delete("/apps/doomed")
    assert r.status_code == 200
    assert r.json()["id"] == app["id"]
    assert (await alice.get("/apps/doomed")).status_code == 404


async def test_users_self_apps(alice: User, bob: User) -> None:
    await alice.create_app("mine-one")
    await bob.create_app("bobs-one")
    names = [a["name"] for a in (await alice.get("/users/~/apps")).json()]
    assert names == ["mine-one"]
    r = await alice.get(f"/users/{bob.email}/apps")
    assert r.status_code == 404


async def test_heroku3_create_with_cedar_stack(alice: User) -> None:
    r = await alice.post("/apps", json={"name": "py-app", "stack": "cedar", "region": "us"})
    assert r.status_code == 201
    assert r.json()["stack"]["name"] == "cedar-14"


async def test_unknown_region_is_422(alice: User) -> None:
    r = await alice.post("/apps", json={"region": "mars"})
    assert r.status_code == 422
    assert "region" in r.json()["message"]

"""Deleting an app (or its owner's account) lets go of the add-ons' real resources."""

from __future__ import annotations

import uuid

from tests.addons.support import config_of, create_addon, pg_exists, release_texts
from tests.conftest import User


async def test_deleting_an_app_lets_go_of_its_add_ons(alice: User) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    pg = await create_addon(alice, "shop", "heroku-postgresql")
    r = await alice.post(
        "/addon-attachments", json={"addon": pg["name"], "app": "blog", "name": "SHARED"}
    )
    assert r.status_code == 201
    await create_addon(alice, "blog", "heroku-redis")
    assert pg_exists(uuid.UUID(pg["id"])) == (True, True)

    assert (await alice.delete("/apps/shop")).status_code == 200

    assert pg_exists(uuid.UUID(pg["id"])) == (False, False)
    assert set(await config_of(alice, "blog")) == {"REDIS_URL", "REDIS_KEY_PREFIX"}
    assert (await release_texts(alice, "blog"))[-1] == f"Detach SHARED (@ref:{pg['name']})"
    [left] = (await alice.get("/addons")).json()
    assert left["addon_service"]["name"] == "heroku-redis"


async def test_deleting_the_account_lets_go_of_its_apps_add_ons(alice: User) -> None:
    await alice.create_app("doomed-shop")
    pg = await create_addon(alice, "doomed-shop", "heroku-postgresql")
    assert pg_exists(uuid.UUID(pg["id"])) == (True, True)
    assert (await alice.delete("/account")).status_code == 200
    assert pg_exists(uuid.UUID(pg["id"])) == (False, False)

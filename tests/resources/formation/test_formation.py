from __future__ import annotations

import uuid
from typing import Any

import pytest

from tenku.db.models import Slug
from tests.conftest import ApiClient, User

PROCFILE = {"web": "python app.py", "worker": "python worker.py"}


async def add_slug(api: ApiClient, app_id: str, process_types: dict[str, str]) -> str:
    async with api.database.session(write=True) as db:
        slug = Slug(
            app_id=uuid.UUID(app_id),
            process_types=process_types,
            stack="heroku-24",
            commit="a" * 40,
            # Only a slug whose tarball is stored can be released.
            blob_key="slugs/formation-test.tgz",
            size=0,
        )
        db.add(slug)
        await db.commit()
        return str(slug.id)


async def deploy(user: User, app: dict[str, Any], process_types: dict[str, str]) -> dict[str, Any]:
    slug = await add_slug(user.client, app["id"], process_types)
    r = await user.post(f"/apps/{app['name']}/releases", json={"slug": slug})
    assert r.status_code == 201, r.text
    release: dict[str, Any] = r.json()
    return release


async def formation(user: User, app: str) -> dict[str, tuple[int, str, str]]:
    r = await user.get(f"/apps/{app}/formation")
    assert r.status_code == 200, r.text
    return {f["type"]: (f["quantity"], f["size"], f["command"]) for f in r.json()}


@pytest.fixture
async def shop(alice: User) -> dict[str, Any]:
    app = await alice.create_app("shop")
    await deploy(alice, app, PROCFILE)
    return app


async def test_no_formation_before_a_deploy(alice: User) -> None:
    await alice.create_app("empty-app")
    r = await alice.get("/apps/empty-app/formation")
    assert r.status_code == 200
    assert r.json() == []
    assert r.headers["Accept-Ranges"] == "id, type"


async def test_first_deploy_scales_web_to_one(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.get("/apps/shop/formation")
    assert r.status_code == 200
    items = r.json()
    assert sorted(f["type"] for f in items) == ["web", "worker"]
    by_type = {f["type"]: f for f in items}
    web = by_type["web"]
    assert web["quantity"] == 1
    assert web["size"] == "Standard-1X"
    assert web["command"] == "python app.py"
    assert web["app"] == {"id": shop["id"], "name": "shop"}
    assert by_type["worker"]["quantity"] == 0
    assert by_type["worker"]["command"] == "python worker.py"


async def test_info_by_type_and_by_id(alice: User, shop: dict[str, Any]) -> None:
    by_type = await alice.get("/apps/shop/formation/worker")
    assert by_type.status_code == 200
    by_id = await alice.get(f"/apps/{shop['id']}/formation/{by_type.json()['id']}")
    assert by_id.json() == by_type.json()


async def test_unknown_type_is_404(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.get("/apps/shop/formation/clock")
    assert r.status_code == 404
    assert r.json()["resource"] == "formation"
    assert r.json()["message"] == "Couldn't find that process type (clock)."
    r = await alice.patch("/apps/shop/formation/clock", json={"quantity": 1})
    assert r.status_code == 404
    r = await alice.patch("/apps/shop/formation", json={"updates": [{"type": "clock"}]})
    assert r.status_code == 404
    assert r.json()["message"] == "Couldn't find that process type (clock)."


async def test_scale_before_any_deploy_is_404(alice: User) -> None:
    await alice.create_app("bare-app")
    r = await alice.patch("/apps/bare-app/formation", json={"updates": [{"type": "web"}]})
    assert r.status_code == 404
    assert r.json()["message"] == "Couldn't find that process type (web)."


async def test_ps_scale_sends_quantity_as_string(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.patch(
        "/apps/shop/formation",
        json={"updates": [{"quantity": "2", "type": "web"}, {"quantity": "1", "type": "worker"}]},
    )
    assert r.status_code == 200, r.text
    assert {f["type"]: f["quantity"] for f in r.json()} == {"web": 2, "worker": 1}
    assert (await formation(alice, "shop"))["web"][0] == 2


async def test_relative_quantities(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.patch(
        "/apps/shop/formation", json={"updates": [{"type": "web", "quantity": "+2"}]}
    )
    assert r.json()[0]["quantity"] == 3
    r = await alice.patch("/apps/shop/formation/web", json={"quantity": "-1"})
    assert r.json()["quantity"] == 2
    r = await alice.patch("/apps/shop/formation/worker", json={"quantity": "-1"})
    assert r.status_code == 422
    assert "quantity" in r.json()["message"]
    assert (await formation(alice, "shop"))["worker"][0] == 0


async def test_single_update_and_size_spellings(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.patch(
        "/apps/shop/formation/worker", json={"quantity": 3, "size": "standard-2x"}
    )
    assert r.status_code == 200
    assert r.json()["type"] == "worker"
    assert r.json()["quantity"] == 3
    assert r.json()["size"] == "Standard-2X"
    for sent, stored in [
        ("1X", "Standard-1X"),
        ("PERFORMANCE-l-ram", "Performance-L-RAM"),
        ("px", "Performance-L"),
        ("hobby", "Basic"),
        ("Free", "Eco"),
        ("performance-2xl", "Performance-2XL"),
    ]:
        r = await alice.patch("/apps/shop/formation/web", json={"size": sent})
        assert r.status_code == 200, r.text
        assert r.json()["size"] == stored
    assert (await formation(alice, "shop"))["web"][:2] == (1, "Performance-2XL")


@pytest.mark.parametrize("quantity", [-1, "two", True, 1.5, "", "1e3", [1]])
async def test_bad_quantity_is_422(alice: User, shop: dict[str, Any], quantity: Any) -> None:
    r = await alice.patch("/apps/shop/formation/web", json={"quantity": quantity})
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"
    assert "quantity" in r.json()["message"]
    assert (await formation(alice, "shop"))["web"][0] == 1


async def test_bad_size_is_422(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.patch("/apps/shop/formation/web", json={"size": "huge"})
    assert r.status_code == 422
    assert "size" in r.json()["message"]
    assert "Standard-1X" in r.json()["message"]
    r = await alice.patch("/apps/shop/formation/web", json={"size": 2})
    assert r.status_code == 422


async def test_eco_and_basic_allow_one_dyno(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.patch("/apps/shop/formation/web", json={"quantity": 2, "size": "eco"})
    assert r.status_code == 422
    assert "more than 1 Eco" in r.json()["message"]
    await alice.patch("/apps/shop/formation/web", json={"quantity": 2})
    r = await alice.patch("/apps/shop/formation/web", json={"size": "basic"})
    assert r.status_code == 422
    assert (await formation(alice, "shop"))["web"][:2] == (2, "Standard-1X")
    r = await alice.patch("/apps/shop/formation/web", json={"quantity": 101})
    assert r.status_code == 422


async def test_batch_is_all_or_nothing(alice: User, shop: dict[str, Any]) -> None:
    before = await formation(alice, "shop")
    r = await alice.patch(
        "/apps/shop/formation",
        json={"updates": [{"type": "web", "quantity": 3}, {"type": "worker", "size": "huge"}]},
    )
    assert r.status_code == 422
    assert await formation(alice, "shop") == before
    r = await alice.patch(
        "/apps/shop/formation",
        json={"updates": [{"type": "web", "quantity": 3}, {"type": "clock", "quantity": 1}]},
    )
    assert r.status_code == 404
    assert await formation(alice, "shop") == before
    r = await alice.patch(
        "/apps/shop/formation",
        json={"updates": [{"type": "web", "quantity": 3}, {"type": "worker", "quantity": "-1"}]},
    )
    assert r.status_code == 422
    assert await formation(alice, "shop") == before


async def test_ps_type_resizes_every_type(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.patch(
        "/apps/shop/formation",
        json={
            "updates": [
                {"size": "performance-m", "type": "web"},
                {"size": "Performance-M", "type": "worker"},
            ]
        },
    )
    assert r.status_code == 200
    assert sorted((f["type"], f["size"], f["quantity"]) for f in r.json()) == [
        ("web", "Performance-M", 1),
        ("worker", "Performance-M", 0),
    ]


async def test_batch_by_id_and_repeated_type(alice: User, shop: dict[str, Any]) -> None:
    worker = (await alice.get("/apps/shop/formation/worker")).json()
    r = await alice.patch(
        "/apps/shop/formation",
        json={
            "updates": [{"type": worker["id"], "quantity": 1}, {"type": "worker", "quantity": "+1"}]
        },
    )
    assert r.status_code == 200
    assert [(f["type"], f["quantity"]) for f in r.json()] == [("worker", 2)]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"updates": "web=2"},
        {"updates": [{"quantity": 1}]},
        {"updates": [{"type": 5}]},
        {"updates": ["web"]},
    ],
)
async def test_malformed_batch_is_422(alice: User, shop: dict[str, Any], payload: Any) -> None:
    r = await alice.patch("/apps/shop/formation", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"


async def test_redeploy_keeps_scale_and_follows_the_slug(alice: User, shop: dict[str, Any]) -> None:
    await alice.patch(
        "/apps/shop/formation",
        json={
            "updates": [
                {"type": "web", "quantity": 0},
                {"type": "worker", "quantity": 2, "size": "2X"},
            ]
        },
    )
    await deploy(
        alice,
        shop,
        {"web": "gunicorn app:app", "worker": "python worker.py", "clock": "python clock.py"},
    )
    assert await formation(alice, "shop") == {
        "clock": (0, "Standard-1X", "python clock.py"),
        "web": (0, "Standard-1X", "gunicorn app:app"),
        "worker": (2, "Standard-2X", "python worker.py"),
    }
    await deploy(alice, shop, {"worker": "python worker.py", "release": "python migrate.py"})
    assert await formation(alice, "shop") == {"worker": (2, "Standard-2X", "python worker.py")}


async def test_rollback_resyncs_formation(alice: User, shop: dict[str, Any]) -> None:
    first = (await alice.get("/apps/shop/releases/2")).json()
    assert first["slug"] is not None
    await deploy(alice, shop, {"worker": "python worker.py", "clock": "python clock.py"})
    assert set(await formation(alice, "shop")) == {"worker", "clock"}
    r = await alice.post("/apps/shop/releases", json={"release": first["id"]})
    assert r.status_code == 201
    assert await formation(alice, "shop") == {
        "web": (1, "Standard-1X", "python app.py"),
        "worker": (0, "Standard-1X", "python worker.py"),
    }


async def test_rollback_to_a_release_without_slug_keeps_formation(
    alice: User, shop: dict[str, Any]
) -> None:
    before = await formation(alice, "shop")
    r = await alice.post("/apps/shop/releases", json={"release": "1"})
    assert r.status_code == 201
    assert await formation(alice, "shop") == before


async def test_range_paging(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.get("/apps/shop/formation", headers={"Range": "type ..; max=1"})
    assert r.status_code == 206
    assert [f["type"] for f in r.json()] == ["web"]
    r = await alice.get("/apps/shop/formation", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert [f["type"] for f in r.json()] == ["worker"]


async def test_other_users_get_403(alice: User, bob: User, shop: dict[str, Any]) -> None:
    for r in [
        await bob.get("/apps/shop/formation"),
        await bob.get("/apps/shop/formation/web"),
        await bob.patch("/apps/shop/formation/web", json={"quantity": 5}),
        await bob.patch("/apps/shop/formation", json={"updates": [{"type": "web", "quantity": 5}]}),
    ]:
        assert r.status_code == 403
        assert r.json()["id"] == "forbidden"
    assert (await formation(alice, "shop"))["web"][0] == 1


async def test_read_token_cannot_scale(api: ApiClient, alice: User, shop: dict[str, Any]) -> None:
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get("/apps/shop/formation")).status_code == 200
    r = await reader.patch(
        "/apps/shop/formation", json={"updates": [{"type": "web", "quantity": 4}]}
    )
    assert r.status_code == 403
    r = await reader.patch("/apps/shop/formation/web", json={"quantity": 4})
    assert r.status_code == 403
    writer = await api.token_for(alice, ["write"])
    r = await writer.patch("/apps/shop/formation/web", json={"quantity": 4})
    assert r.status_code == 200
    assert (await formation(alice, "shop"))["web"][0] == 4

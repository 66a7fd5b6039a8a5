"""Third-party add-ons: a partner on 127.0.0.1 speaking the v3 partner API, with callbacks."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from tenku.db.models import Addon
from tests.addons.fake_partner import FakePartner
from tests.addons.support import (
    PARTNER_PASSWORD,
    as_user_of,
    config_of,
    create_addon,
    in_process_platform,
    install_manifest,
    manifest,
    other_api,
    release_texts,
)
from tests.conftest import ApiClient, User


@pytest.fixture
async def shop(api: ApiClient, alice: User, settings: Any, partner: FakePartner) -> str:
    install_manifest(settings.data_dir, manifest(partner))
    partner.platform = in_process_platform(api)
    await alice.create_app("shop")
    return "shop"


async def _count(api: ApiClient) -> int:
    async with api.database.session(write=False) as db:
        return (await db.execute(select(func.count()).select_from(Addon))).scalar_one()


async def _wait_for_callbacks(partner: FakePartner) -> None:
    assert await asyncio.to_thread(partner.done.wait, 20)


async def test_sync_partner_provision(alice: User, shop: str, partner: FakePartner) -> None:
    r = await alice.post(
        f"/apps/{shop}/addons",
        json={"plan": {"name": "fake-partner"}, "config": {"size": "large", "fast": True}},
        headers={"X-Heroku-Legacy-Provider-Messages": "true"},
    )
    assert r.status_code == 201, r.text
    addon = r.json()
    assert addon["state"] == "provisioned"
    assert addon["plan"]["name"] == "fake-partner:sync"
    assert addon["provision_message"] == "Welcome!"
    assert addon["provider_id"] == f"res-{addon['id']}"
    assert addon["config_vars"] == ["FAKE_PARTNER_TOKEN", "FAKE_PARTNER_URL"]
    config = await config_of(alice, shop)
    assert config["FAKE_PARTNER_URL"] == f"https://fake.example/{addon['id']}?plan=sync"

    [seen] = partner.seen
    assert (seen.method, seen.path) == ("POST", "/heroku/resources")
    expected = base64.b64encode(f"fake-partner:{PARTNER_PASSWORD}".encode()).decode()
    assert seen.headers["Authorization"] == f"Basic {expected}"
    assert seen.headers["Accept"] == "application/vnd.heroku-addons+json; version=3"
    body = seen.body
    assert body["uuid"] == addon["id"]
    assert body["name"] == addon["name"]
    assert body["plan"] == "sync"
    assert body["region"] == "tenku::local"
    assert body["callback_url"].endswith(f"/addons/{addon['id']}")
    assert body["options"] == {"size": "large", "fast": "true"}
    assert set(body["oauth_grant"]) == {"code", "expires_at", "type"}
    assert body["oauth_grant"]["type"] == "authorization_code"
    assert (await release_texts(alice, shop))[-1] == f"Attach FAKE_PARTNER (@ref:{addon['name']})"


async def test_async_partner_completes_by_calling_back(
    alice: User, shop: str, partner: FakePartner
) -> None:
    addon = await create_addon(alice, shop, "fake-partner:async")
    assert addon["state"] == "provisioning"
    assert addon["config_vars"] == []
    assert addon["provision_message"] == "Your resource is being prepared."
    await _wait_for_callbacks(partner)
    assert [(c[0].split(" ")[0], c[1]) for c in partner.callbacks] == [
        ("POST", 200),
        ("PATCH", 200),
        ("POST", 200),
    ]
    done = (await alice.get(f"/apps/{shop}/addons/{addon['name']}")).json()
    assert done["state"] == "provisioned"
    assert done["config_vars"] == ["FAKE_PARTNER_TOKEN", "FAKE_PARTNER_URL"]
    assert (await config_of(alice, shop))["FAKE_PARTNER_TOKEN"] == f"token-{addon['id'][:8]}"
    ref = f"@ref:{addon['name']}"
    assert (await release_texts(alice, shop))[-2:] == [
        f"Attach FAKE_PARTNER ({ref})",
        f"{ref} completed provisioning, setting FAKE_PARTNER_TOKEN, FAKE_PARTNER_URL.",
    ]
    # The partner's token reaches its own add-on, and nothing else.
    access = partner.callbacks[0][2]["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    r = await alice.client.request("GET", f"/addons/{addon['id']}", headers=bearer)
    assert r.status_code == 200
    assert r.json()["state"] == "provisioned"
    r = await alice.client.request("GET", f"/addons/{addon['id']}/config", headers=bearer)
    assert {c["name"] for c in r.json()} == {"FAKE_PARTNER_URL", "FAKE_PARTNER_TOKEN"}
    assert (await alice.client.request("GET", "/apps", headers=bearer)).status_code == 401
    other = await create_addon(alice, shop, "fake-partner:sync")
    r = await alice.client.request("GET", f"/addons/{other['id']}", headers=bearer)
    assert r.status_code == 404


async def test_async_partner_that_gives_up(
    api: ApiClient, alice: User, shop: str, partner: FakePartner
) -> None:
    addon = await create_addon(alice, shop, "fake-partner:asyncfail")
    await _wait_for_callbacks(partner)
    polled = (await alice.get(f"/apps/{shop}/addons/{addon['name']}")).json()
    assert polled["state"] == "deprovisioned"
    assert (await alice.get(f"/apps/{shop}/addons")).json() == []
    assert (await alice.get(f"/apps/{shop}/addon-attachments")).json() == []
    ref = f"@ref:{addon['name']}"
    assert (await release_texts(alice, shop))[-2:] == [
        f"Attach FAKE_PARTNER ({ref})",
        f"Detach FAKE_PARTNER ({ref})",
    ]
    # The dead add-on can be cleared away, and its name reused.
    r = await alice.delete(f"/apps/{shop}/addons/{addon['id']}")
    assert r.status_code == 200, r.text
    assert await _count(api) == 0


@pytest.mark.parametrize(
    ("plan", "status", "message"),
    [
        ("refuse", 422, "Fake Partner is full; try again tomorrow."),
        ("crash", 503, "Could not communicate with vendor, please try again later"),
    ],
)
async def test_partner_refusal_stores_nothing(
    api: ApiClient,
    alice: User,
    shop: str,
    partner: FakePartner,
    plan: str,
    status: int,
    message: str,
) -> None:
    r = await alice.post(f"/apps/{shop}/addons", json={"plan": f"fake-partner:{plan}"})
    assert (r.status_code, r.json()["message"]) == (status, message)
    assert await _count(api) == 0
    assert await release_texts(alice, shop) == ["Initial release"]


async def test_partner_timeout(
    api: ApiClient, alice: User, shop: str, partner: FakePartner, settings: Any
) -> None:
    partner.slow_seconds = 1.5
    async with other_api(api, settings, addon_partner_timeout=0.3) as client:
        r = await as_user_of(alice, client).post(
            f"/apps/{shop}/addons", json={"plan": "fake-partner:slow"}
        )
    assert r.status_code == 503
    assert await _count(api) == 0


async def test_undeclared_config_is_refused_and_undone(
    api: ApiClient, alice: User, shop: str, partner: FakePartner
) -> None:
    r = await alice.post(f"/apps/{shop}/addons", json={"plan": "fake-partner:badconfig"})
    assert r.status_code == 422
    assert "UNDECLARED_URL" in r.json()["message"]
    assert partner.seen[-1].method == "DELETE"
    assert partner.resources == {}
    assert await _count(api) == 0


async def test_wrong_partner_password(
    api: ApiClient, alice: User, settings: Any, partner: FakePartner
) -> None:
    data = manifest(partner)
    data["api"]["password"] = "not-the-password"
    install_manifest(settings.data_dir, data)
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/addons", json={"plan": "fake-partner"})
    assert r.status_code == 503
    assert await _count(api) == 0


async def test_partner_plan_change(alice: User, shop: str, partner: FakePartner) -> None:
    addon = await create_addon(alice, shop, "fake-partner")
    r = await alice.patch(
        f"/apps/{shop}/addons/{addon['name']}",
        json={"plan": {"name": "fake-partner:bigger"}},
        headers={"Accept-Expansion": "plan", "X-Heroku-Legacy-Provider-Messages": "true"},
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["plan"]["name"] == "fake-partner:bigger"
    assert changed["plan"]["price"]["cents"] == 1250
    assert changed["provision_message"] == "Plan changed."
    put = partner.seen[-1]
    assert (put.method, put.path, put.body["plan"]) == (
        "PUT",
        f"/heroku/resources/{addon['provider_id']}",
        "bigger",
    )
    assert (await config_of(alice, shop))["FAKE_PARTNER_URL"].endswith("plan=bigger")
    assert (await release_texts(alice, shop))[-1] == (
        f"Upgrade fake-partner from sync to bigger (@ref:{addon['name']})"
    )
    r = await alice.patch(f"/apps/{shop}/addons/{addon['name']}", json={"plan": "refuse"})
    assert (r.status_code, r.json()["message"]) == (422, "That plan cannot be reached from here.")
    held = (await alice.get(f"/apps/{shop}/addons/{addon['name']}")).json()
    assert held["plan"]["name"] == "fake-partner:bigger"


async def test_partner_deprovision(alice: User, shop: str, partner: FakePartner) -> None:
    addon = await create_addon(alice, shop, "fake-partner")
    r = await alice.delete(f"/apps/{shop}/addons/{addon['name']}", json={"force": False})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "deprovisioned"
    delete = partner.seen[-1]
    assert (delete.method, delete.path) == ("DELETE", f"/heroku/resources/{addon['provider_id']}")
    assert partner.resources == {}
    assert await config_of(alice, shop) == {}


async def test_grant_exchange_rules(api: ApiClient, alice: User, shop: str) -> None:
    addon = await create_addon(alice, shop, "fake-partner")
    # The grant went to the partner only; take it from the provision request it saw.
    code = await _grant_of(addon)
    form = {"grant_type": "authorization_code", "code": code, "client_secret": "wrong"}
    r = await _token(api, form)
    assert r.status_code == 401
    form["client_secret"] = PARTNER_PASSWORD
    r = await _token(api, form)
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 28800
    assert (await _token(api, form)).status_code == 401  # grants are single use
    refreshed = await _token(
        api,
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_secret": PARTNER_PASSWORD,
        },
    )
    assert refreshed.status_code == 200
    bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    r = await api.request(
        "PATCH",
        f"/addons/{addon['id']}/config",
        headers=bearer,
        json={"config": [{"name": "FAKE_PARTNER_URL", "value": "https://moved.example/db"}]},
    )
    assert r.status_code == 200, r.text
    assert (await config_of(alice, shop))["FAKE_PARTNER_URL"] == "https://moved.example/db"
    assert (await release_texts(alice, shop))[-1] == "Update FAKE_PARTNER by fake-partner"
    r = await api.request(
        "PATCH",
        f"/addons/{addon['id']}/config",
        headers=bearer,
        json={"config": [{"name": "OTHER_URL", "value": "https://x.example"}]},
    )
    assert r.status_code == 422


_GRANTS: dict[str, str] = {}


async def _grant_of(addon: dict[str, Any]) -> str:
    return _GRANTS[addon["id"]]


@pytest.fixture(autouse=True)
def _remember_grants(partner: FakePartner, monkeypatch: pytest.MonkeyPatch) -> None:
    route = partner.route

    def spy(method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST" and isinstance(body, dict) and "oauth_grant" in body:
            _GRANTS[body["uuid"]] = body["oauth_grant"]["code"]
        return route(method, path, body)

    monkeypatch.setattr(partner, "route", spy)


async def _token(api: ApiClient, form: dict[str, str]) -> Any:
    return await api.request(
        "POST",
        "/oauth/token",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

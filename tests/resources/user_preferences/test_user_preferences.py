from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, User

KEYS = {
    "default-organization",
    "dismissed-getting-started",
    "dismissed-github-banner",
    "dismissed-org-access-controls",
    "dismissed-org-wizard-notification",
    "dismissed-pipelines-banner",
    "dismissed-pipelines-github-banner",
    "dismissed-pipelines-github-banners",
    "dismissed-sms-banner",
    "timezone",
}
PIPELINE = "96c68759-f310-4910-9867-e0b062064098"


async def test_fresh_account_has_every_key_unset(alice: User) -> None:
    r = await alice.get("/users/~/preferences")
    assert r.status_code == 200
    assert r.json() == dict.fromkeys(KEYS)


async def test_round_trip(alice: User) -> None:
    sent = {
        "timezone": "Europe/Paris",
        "default-organization": "sushi-inc",
        "dismissed-github-banner": True,
        "dismissed-pipelines-github-banners": [PIPELINE],
        "dismissed-sms-banner": False,
    }
    r = await alice.patch("/users/~/preferences", json=sent)
    assert r.status_code == 200
    expected = {**dict.fromkeys(KEYS), **sent}
    assert r.json() == expected
    assert (await alice.get("/users/~/preferences")).json() == expected


async def test_partial_update_and_null_clears(alice: User) -> None:
    await alice.patch(
        "/users/~/preferences", json={"timezone": "UTC", "dismissed-sms-banner": True}
    )
    r = await alice.patch("/users/~/preferences", json={"timezone": None, "ignored-key": 1})
    assert r.status_code == 200
    body = r.json()
    assert body["timezone"] is None
    assert body["dismissed-sms-banner"] is True
    assert "ignored-key" not in body
    # Only the documented dashed names count.
    r = await alice.patch("/users/~/preferences", json={"dismissed_sms_banner": False})
    assert r.json()["dismissed-sms-banner"] is True


@pytest.mark.parametrize(
    "payload",
    [
        {"dismissed-sms-banner": "yes"},
        {"dismissed-getting-started": 1},
        {"timezone": 5},
        {"default-organization": True},
        {"dismissed-pipelines-github-banners": PIPELINE},
        {"dismissed-pipelines-github-banners": [1, 2]},
        {"timezone": "x" * 300},
    ],
)
async def test_wrong_types_are_422(alice: User, payload: dict[str, Any]) -> None:
    await alice.patch("/users/~/preferences", json={"timezone": "UTC"})
    r = await alice.patch("/users/~/preferences", json={"dismissed-github-banner": True, **payload})
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"
    assert next(iter(payload)) in r.json()["message"]
    after = (await alice.get("/users/~/preferences")).json()
    assert after["timezone"] == "UTC"
    assert after["dismissed-github-banner"] is None


async def test_only_self_is_valid(alice: User, bob: User) -> None:
    for ident in ("alice@example.com", str(alice.id), "bob@example.com", "self"):
        r = await alice.get(f"/users/{ident}/preferences")
        assert r.status_code == 404, ident
        r = await alice.patch(f"/users/{ident}/preferences", json={"timezone": "UTC"})
        assert r.status_code == 404
    assert (await alice.get("/users/~/preferences")).json()["timezone"] is None


async def test_preferences_are_per_user(alice: User, bob: User) -> None:
    await alice.patch("/users/~/preferences", json={"timezone": "Asia/Tokyo"})
    assert (await bob.get("/users/~/preferences")).json()["timezone"] is None


async def test_scopes(api: ApiClient, alice: User) -> None:
    identity = await api.token_for(alice, ["identity"])
    assert (await identity.get("/users/~/preferences")).status_code == 200
    r = await identity.patch("/users/~/preferences", json={"timezone": "UTC"})
    assert r.status_code == 403
    assert (await alice.get("/users/~/preferences")).json()["timezone"] is None

from __future__ import annotations

import pytest

from tests.conftest import User
from tests.resources.organization.support import add_member, make_team

DEFAULTS = {"default-permission": "member", "whitelisting-enabled": False}


async def test_every_member_reads_them(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    await add_member(alice, "acme", bob, "collaborator")
    for user in (alice, bob):
        for path in ("/teams/acme/preferences", "/organizations/acme/preferences"):
            r = await user.get(path)
            assert r.status_code == 200, r.text
            assert r.json() == DEFAULTS


async def test_outsiders_do_not_find_them(alice: User, bob: User) -> None:
    await make_team(alice, "acme")
    assert (await bob.get("/teams/acme/preferences")).status_code == 404
    r = await bob.patch("/teams/acme/preferences", json={"whitelisting-enabled": True})
    assert r.status_code == 404


async def test_admins_change_them(alice: User, bob: User) -> None:
    team = await make_team(alice, "acme")
    await add_member(alice, "acme", bob, "member")
    r = await bob.patch("/teams/acme/preferences", json={"whitelisting-enabled": True})
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    r = await alice.patch(
        f"/organizations/{team['id']}/preferences", json={"whitelisting-enabled": True}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"default-permission": "member", "whitelisting-enabled": True}
    # What is left out stays; underscores are not the preferences' names.
    r = await alice.patch(
        "/teams/acme/preferences",
        json={"default-permission": "viewer", "whitelisting_enabled": False},
    )
    assert r.json() == {"default-permission": "viewer", "whitelisting-enabled": True}
    r = await alice.patch(
        "/teams/acme/preferences", json={"default-permission": None, "whitelisting-enabled": None}
    )
    assert r.json() == {"default-permission": None, "whitelisting-enabled": False}
    assert (await bob.get("/teams/acme/preferences")).json() == r.json()


@pytest.mark.parametrize(
    "body",
    [
        {"default-permission": "owner"},
        {"default-permission": "collaborator"},
        {"whitelisting-enabled": "yes"},
        {"whitelisting-enabled": "false"},
    ],
)
async def test_bad_values_are_refused(alice: User, body: dict[str, object]) -> None:
    await make_team(alice, "acme")
    r = await alice.patch("/teams/acme/preferences", json=body)
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert (await alice.get("/teams/acme/preferences")).json() == DEFAULTS

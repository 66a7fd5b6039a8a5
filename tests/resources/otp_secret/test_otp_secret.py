"""OTP secrets, and turning two-factor authentication on and off (PATCH /account)."""

from __future__ import annotations

import re

from sqlalchemy import select

from tenku.db.models import OtpSecret, RecoveryCode
from tests.conftest import ApiClient, User
from tests.two_factor import CODE, STEP, T0, ctx_of, enable, fix_clock, login, new_secret, totp

URL = re.compile(r"^otpauth://totp/alice@example\.com\?issuer=Tenku&secret=([A-Z2-7]{32})$")


async def test_create_renders_a_provisioning_url(api: ApiClient, alice: User) -> None:
    r = await alice.post("/account/otp-secret")
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"created_at", "id", "updated_at", "url"}
    match = URL.match(body["url"])
    assert match is not None, body["url"]
    # The seed is kept sealed with the installation's key, bound to its row.
    async with api.database.session(write=False) as s:
        row = (await s.execute(select(OtpSecret))).scalar_one()
    assert str(row.id) == body["id"]
    assert match.group(1) not in row.seed
    assert ctx_of(api).sealer.unseal(row.seed, row.id.bytes) == match.group(1)
    assert row.confirmed_at is None
    # Not on until a code from it comes back.
    assert (await alice.get("/account")).json()["two_factor_authentication"] is False


async def test_a_new_secret_replaces_an_unconfirmed_one(api: ApiClient, alice: User) -> None:
    fix_clock(api)
    _, first = await new_secret(alice)
    _, second = await new_secret(alice)
    assert first != second
    change = {"two_factor_authentication": True, "password": alice.password}
    r = await alice.patch("/account", json=change, headers={CODE: totp(first, T0)})
    assert r.status_code == 401
    assert r.json()["id"] == "invalid_two_factor_code"
    r = await alice.patch("/account", json=change, headers={CODE: totp(second, T0)})
    assert r.status_code == 200
    assert r.json()["two_factor_authentication"] is True


async def test_turning_on_takes_the_password_and_a_code(api: ApiClient, alice: User) -> None:
    fix_clock(api)
    on = {"two_factor_authentication": True}
    r = await alice.patch("/account", json=on)
    assert r.status_code == 422
    r = await alice.patch("/account", json={**on, "password": "wrong"})
    assert r.status_code == 403
    r = await alice.patch("/account", json={**on, "password": alice.password})
    assert r.status_code == 422
    assert "POST /account/otp-secret" in r.json()["message"]
    _, seed = await new_secret(alice)
    r = await alice.patch("/account", json={**on, "password": alice.password})
    assert r.status_code == 403
    assert r.json()["id"] == "two_factor"
    assert r.headers["heroku-two-factor-required"] == "true"
    r = await alice.patch(
        "/account", json={**on, "password": alice.password}, headers={CODE: "000000"}
    )
    assert r.status_code == 401
    assert (await alice.get("/account")).json()["two_factor_authentication"] is False
    r = await alice.patch(
        "/account", json={**on, "password": alice.password}, headers={CODE: totp(seed, T0)}
    )
    assert r.status_code == 200
    assert r.json()["two_factor_authentication"] is True
    # Once on, `true` again is no change.
    r = await alice.patch("/account", json={**on, "password": alice.password})
    assert r.status_code == 200


async def test_turning_off_takes_the_password_and_the_second_factor(
    api: ApiClient, alice: User
) -> None:
    ctx = fix_clock(api)
    seed = await enable(api, alice)
    r = await alice.post("/account/recovery-codes", headers={"Heroku-Password": alice.password})
    assert r.status_code == 403  # the second factor is asked for first
    ctx.clock.advance(STEP)
    codes = await alice.post(
        "/account/recovery-codes",
        headers={"Heroku-Password": alice.password, CODE: totp(seed, T0 + STEP)},
    )
    assert codes.status_code == 201
    off = {"two_factor_authentication": False, "password": alice.password}
    r = await alice.patch("/account", json=off)
    assert r.status_code == 403
    assert r.json()["id"] == "two_factor"
    r = await alice.patch("/account", json={**off, "password": "wrong"}, headers={CODE: "1"})
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    # A recovery code is a second factor too (the device may be what was lost).
    r = await alice.patch("/account", json=off, headers={CODE: codes.json()[0]})
    assert r.status_code == 200
    assert r.json()["two_factor_authentication"] is False
    async with api.database.session(write=False) as s:
        assert (await s.execute(select(OtpSecret))).first() is None
        assert (await s.execute(select(RecoveryCode))).first() is None
    r = await login(api, alice)
    assert r.status_code == 201, r.text
    # Off again is no change, and needs no factor.
    assert (await alice.patch("/account", json=off)).status_code == 200


async def test_a_new_device_takes_the_current_second_factor(api: ApiClient, alice: User) -> None:
    ctx = fix_clock(api)
    old = await enable(api, alice)
    r = await alice.post("/account/otp-secret")
    assert r.status_code == 403
    assert r.json()["id"] == "two_factor"
    ctx.clock.advance(STEP)
    _, new = await new_secret(alice, **{CODE: totp(old, T0 + STEP)})
    # The old device works until the new one is confirmed...
    ctx.clock.advance(STEP)
    assert (await login(api, alice, totp(old, T0 + 2 * STEP))).status_code == 201
    ctx.clock.advance(STEP)
    r = await alice.patch(
        "/account",
        json={"two_factor_authentication": True, "password": alice.password},
        headers={CODE: totp(new, T0 + 3 * STEP)},
    )
    assert r.status_code == 200, r.text
    # ...and not after.
    ctx.clock.advance(STEP)
    assert (await login(api, alice, totp(old, T0 + 4 * STEP))).status_code == 401
    assert (await login(api, alice, totp(new, T0 + 4 * STEP))).status_code == 201


async def test_only_global_tokens_create_secrets(api: ApiClient, alice: User) -> None:
    identity = await api.token_for(alice, ["identity"])
    assert (await identity.post("/account/otp-secret")).status_code == 403

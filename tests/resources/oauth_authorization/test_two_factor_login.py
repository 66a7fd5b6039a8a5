"""Password logins of two-factor accounts, their codes, and lock-outs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

import tenku.web.login
from tenku.config import Settings
from tenku.security import hash_password
from tenku.serving import Listener, uvicorn_config
from tests.conftest import ApiClient, User
from tests.two_factor import CODE, STEP, T0, basic, enable, fix_clock, login, totp

LOCK = timedelta(minutes=15)


async def test_a_password_alone_gets_403_two_factor(api: ApiClient, alice: User) -> None:
    fix_clock(api)
    await enable(api, alice)
    r = await login(api, alice)
    assert r.status_code == 403
    assert r.json() == {"id": "two_factor", "message": "A second factor is required."}
    assert r.headers["heroku-two-factor-required"] == "true"
    # A wrong password says nothing of two-factor.
    r = await login(api, alice, password="wrong")
    assert r.status_code == 401
    assert r.json()["id"] == "unauthorized"
    # Tokens are not asked for a second factor.
    assert (await alice.get("/account")).status_code == 200


async def test_a_code_is_good_once_within_its_window(api: ApiClient, alice: User) -> None:
    ctx = fix_clock(api)
    seed = await enable(api, alice)
    # The code that turned two-factor on is used up.
    r = await login(api, alice, totp(seed, T0))
    assert r.status_code == 401
    assert r.json()["id"] == "invalid_two_factor_code"
    ctx.clock.advance(STEP)
    code = totp(seed, T0 + STEP)
    r = await login(api, alice, code)
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == alice.email
    assert (await login(api, alice, code)).status_code == 401
    # One step of drift either way is allowed (the next step's code works now)...
    assert (await login(api, alice, totp(seed, T0 + 2 * STEP))).status_code == 201
    # ...but nothing before a step already used, nor two steps away.
    assert (await login(api, alice, totp(seed, T0 + STEP))).status_code == 401
    assert (await login(api, alice, totp(seed, T0 + 4 * STEP))).status_code == 401
    ctx.clock.advance(STEP * 2)
    assert (await login(api, alice, totp(seed, T0 + 4 * STEP))).status_code == 201
    # Spaces as apps show the code do not matter.
    ctx.clock.advance(STEP)
    spaced = totp(seed, T0 + 4 * STEP + STEP)
    assert (await login(api, alice, f"{spaced[:3]} {spaced[3:]}")).status_code == 201


async def test_five_wrong_codes_lock_the_second_factor(api: ApiClient, alice: User) -> None:
    ctx = fix_clock(api)
    seed = await enable(api, alice)
    ctx.clock.advance(STEP)
    for _ in range(4):
        assert (await login(api, alice, "123456")).status_code == 401
    assert (await login(api, alice, "654321")).status_code == 401
    r = await login(api, alice, totp(seed, T0 + STEP))
    assert r.status_code == 429
    assert r.json()["id"] == "rate_limit"
    assert "two-factor codes" in r.json()["message"]
    assert r.headers["retry-after"] == str(15 * 60)
    # Everything that takes the second factor is locked with it.
    r = await alice.patch(
        "/account",
        json={"two_factor_authentication": False, "password": alice.password},
        headers={CODE: totp(seed, T0 + STEP)},
    )
    assert r.status_code == 429
    ctx.clock.advance(LOCK)
    assert (await login(api, alice, totp(seed, T0 + STEP + LOCK))).status_code == 201


async def test_a_good_code_resets_the_count(api: ApiClient, alice: User) -> None:
    ctx = fix_clock(api)
    seed = await enable(api, alice)
    for n in range(1, 4):
        for _ in range(4):
            assert (await login(api, alice, "000000")).status_code == 401
        ctx.clock.advance(STEP)
        assert (await login(api, alice, totp(seed, T0 + n * STEP))).status_code == 201


async def test_failed_passwords_lock_the_login(api: ApiClient, alice: User) -> None:
    ctx = fix_clock(api)
    for _ in range(10):
        assert (await login(api, alice, password="guess")).status_code == 401
    r = await login(api, alice)
    assert r.status_code == 429
    assert "failed logins" in r.json()["message"]
    # Tokens still work: the lock is on guessing the password.
    assert (await alice.get("/account")).status_code == 200
    ctx.clock.advance(LOCK)
    assert (await login(api, alice)).status_code == 201


async def test_failed_passwords_lock_the_client_across_accounts(
    api: ApiClient, alice: User, bob: User
) -> None:
    ctx = fix_clock(api)
    carol = await api.user("carol@example.com")
    for n, user in enumerate([alice, bob, carol] * 10):
        r = await api.request(
            "POST",
            "/oauth/authorizations",
            # Where the request says it comes from is not believed (no trusted proxies).
            headers={**basic(user.email, "guess"), "X-Forwarded-For": f"10.0.0.{n}"},
            json={},
        )
        assert r.status_code == 401
    dave = await api.user("dave@example.com")
    r = await login(api, dave)
    assert r.status_code == 429
    ctx.clock.advance(LOCK)
    assert (await login(api, dave)).status_code == 201


async def test_a_trusted_proxy_names_the_client(
    api: ApiClient, alice: User, bob: User, settings: Settings
) -> None:
    fix_clock(api)
    # As `tenku up` serves it with TENKU_TRUSTED_PROXIES=127.0.0.1 (uvicorn believes the
    # proxy's X-Forwarded-For): thirty failures from thirty clients lock none of them.
    trusted = replace(settings, trusted_proxies=("127.0.0.1",))
    config = uvicorn_config(trusted, Listener(0, tls=False), api.app, lifespan=False)
    config.load()
    transport = httpx.ASGITransport(app=config.loaded_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5000") as http:
        proxied = ApiClient(http, api.database, api.app)
        carol = await api.user("carol@example.com")
        for n, user in enumerate([alice, bob, carol] * 10):
            headers = {**basic(user.email, "guess"), "X-Forwarded-For": f"10.0.0.{n}"}
            r = await proxied.request("POST", "/oauth/authorizations", headers=headers, json={})
            assert r.status_code == 401
        dave = await api.user("dave@example.com")
        headers = {**basic(dave.email, dave.password), "X-Forwarded-For": "10.0.0.99"}
        r = await proxied.request("POST", "/oauth/authorizations", headers=headers, json={})
        assert r.status_code == 201, r.text


async def test_unknown_and_known_emails_lock_alike(
    api: ApiClient, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    fix_clock(api)
    # Unknown emails are checked against a hash made at production cost; not here.
    monkeypatch.setattr(tenku.web.login, "DUMMY_HASH", hash_password("no such account"))
    for email in (alice.email, "nobody@example.com"):
        answers = [
            (
                await api.request(
                    "POST", "/oauth/authorizations", headers=basic(email, "guess"), json={}
                )
            ).status_code
            for _ in range(11)
        ]
        assert answers == [401] * 10 + [429]

from __future__ import annotations

import re

from sqlalchemy import select

from tenku.db.models import RecoveryCode
from tests.conftest import ApiClient, User
from tests.two_factor import CODE, STEP, T0, enable, fix_clock, login, totp

PASSWORD = "Heroku-Password"


async def generate(user: User, **headers: str) -> list[str]:
    r = await user.post("/account/recovery-codes", headers={PASSWORD: user.password, **headers})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    codes: list[str] = r.json()
    return codes


async def test_ten_codes_kept_only_as_digests(api: ApiClient, alice: User) -> None:
    codes = await generate(alice)
    assert len(codes) == len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{16}", code) for code in codes)
    async with api.database.session(write=False) as s:
        rows = list((await s.execute(select(RecoveryCode))).scalars())
    assert len(rows) == 10
    kept = {row.code_digest for row in rows}
    assert not kept & set(codes)
    assert all(len(digest) == 64 for digest in kept)


async def test_the_password_is_asked_for(alice: User) -> None:
    r = await alice.post("/account/recovery-codes")
    assert r.status_code == 422
    assert PASSWORD in r.json()["message"]
    r = await alice.post("/account/recovery-codes", headers={PASSWORD: "wrong"})
    assert r.status_code == 403


async def test_with_two_factor_on_the_second_factor_is_asked_for(
    api: ApiClient, alice: User
) -> None:
    ctx = fix_clock(api)
    seed = await enable(api, alice)
    r = await alice.post("/account/recovery-codes", headers={PASSWORD: alice.password})
    assert r.status_code == 403
    assert r.json()["id"] == "two_factor"
    r = await alice.post("/account/recovery-codes", headers={PASSWORD: alice.password, CODE: "1"})
    assert r.status_code == 401
    ctx.clock.advance(STEP)
    assert len(await generate(alice, **{CODE: totp(seed, T0 + STEP)})) == 10


async def test_each_code_signs_in_once(api: ApiClient, alice: User) -> None:
    fix_clock(api)
    codes = await generate(alice)
    await enable(api, alice)
    first = codes[0]
    assert (await login(api, alice, first)).status_code == 201
    assert (await login(api, alice, first)).status_code == 401
    # Case and separators as people type them do not matter.
    second = f"{codes[1][:8]}-{codes[1][8:].upper()}"
    assert (await login(api, alice, second)).status_code == 201
    assert (await login(api, alice, codes[1])).status_code == 401


async def test_generating_again_invalidates_the_old_set(api: ApiClient, alice: User) -> None:
    fix_clock(api)
    old = await generate(alice)
    await enable(api, alice)
    new = await generate(alice, **{CODE: old[0]})
    assert not set(old) & set(new)
    assert (await login(api, alice, old[1])).status_code == 401
    assert (await login(api, alice, new[0])).status_code == 201


async def test_other_accounts_codes_do_not_sign_in(api: ApiClient, alice: User, bob: User) -> None:
    fix_clock(api)
    bobs = await generate(bob)
    await enable(api, alice)
    assert (await login(api, alice, bobs[0])).status_code == 401

"""Password resets: asked for anonymously, finished with the mailed token."""

from __future__ import annotations

import email
import email.policy
import re
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tenku.config import Settings
from tenku.db.models import PasswordReset
from tests.conftest import ApiClient, User
from tests.two_factor import STEP, T0, basic, ctx_of, enable, fix_clock, login, totp

TOKEN = re.compile(r"/password-resets/(tkr_[A-Za-z0-9_-]+)/actions/finalize")
NEW = "a much better password"


def mails(settings: Settings) -> list[Path]:
    box = settings.data_dir / "mail"
    return sorted(box.iterdir()) if box.exists() else []


def token_in(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body()
    assert body is not None
    found = TOKEN.search(body.get_content())
    assert found is not None
    return found.group(1)


async def ask(api: ApiClient, address: str) -> dict[str, object]:
    r = await api.request("POST", "/password-resets", json={"email": address})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, object] = r.json()
    return body


async def finish(api: ApiClient, token: str, password: str = NEW, confirmation: str = NEW) -> int:
    r = await api.request(
        "POST",
        f"/password-resets/{token}/actions/finalize",
        json={"password": password, "password_confirmation": confirmation},
    )
    return r.status_code


async def test_the_answer_does_not_say_whether_the_account_exists(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    fix_clock(api)
    known = await ask(api, "Alice@Example.com")
    unknown = await ask(api, "nobody@example.com")
    assert set(known) == set(unknown) == {"created_at", "user"}
    assert known["created_at"] == unknown["created_at"] == "2030-01-01T12:00:00Z"
    assert known["user"] == {"email": alice.email, "id": known["user"]["id"]}  # type: ignore[index]
    assert unknown["user"]["email"] == "nobody@example.com"  # type: ignore[index]
    # Not the account's id, and the same one each time (asking twice tells nothing).
    assert known["user"]["id"] != str(alice.id)  # type: ignore[index]
    assert (await ask(api, alice.email))["user"] == known["user"]
    # Only the account's address gets mail, readable by Tenku alone.
    sent = mails(settings)
    assert len(sent) == 2
    for path in sent:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["To"] == alice.email
    r = await api.request("POST", "/password-resets", json={"email": "not an email"})
    assert r.status_code == 422


async def test_finishing_sets_the_password_and_revokes_every_token(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    r = await login(api, alice)
    assert r.status_code == 201
    session = r.json()["access_token"]["token"]
    await ask(api, alice.email)
    token = token_in(mails(settings)[-1])
    async with api.database.session(write=False) as s:
        [row] = (await s.execute(select(PasswordReset))).scalars()
    assert token not in row.token_hash
    assert await finish(api, token, confirmation="something else") == 422
    r = await api.request(
        "POST",
        f"/password-resets/{token}/actions/finalize",
        json={"password": NEW, "password_confirmation": NEW},
    )
    assert r.status_code == 200, r.text
    assert r.json()["user"] == {"email": alice.email, "id": str(alice.id)}
    # Every token is out at once: logins, and the API key (which gets a new secret).
    assert (
        await api.request("GET", "/account", headers={"Authorization": f"Bearer {session}"})
    ).status_code == 401
    assert (await alice.get("/account")).status_code == 401
    assert (await login(api, alice)).status_code == 401
    r = await login(api, alice, password=NEW)
    assert r.status_code == 201
    fresh = r.json()["access_token"]["token"]
    r = await api.request(
        "GET", "/oauth/authorizations/~", headers={"Authorization": f"Bearer {fresh}"}
    )
    assert r.status_code == 200
    # Good once.
    assert await finish(api, token, "another one", "another one") == 404
    assert (await login(api, alice, password=NEW)).status_code == 201


async def test_tokens_last_an_hour(api: ApiClient, alice: User, settings: Settings) -> None:
    ctx = fix_clock(api)
    await ask(api, alice.email)
    token = token_in(mails(settings)[-1])
    ctx.clock.advance(timedelta(hours=1))
    assert await finish(api, token) == 404
    assert (await login(api, alice)).status_code == 201


async def test_finishing_does_not_skip_the_second_factor(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    ctx = fix_clock(api)
    seed = await enable(api, alice)
    await ask(api, alice.email)
    assert await finish(api, token_in(mails(settings)[-1])) == 200
    r = await login(api, alice, password=NEW)
    assert r.status_code == 403
    assert r.json()["id"] == "two_factor"
    ctx.clock.advance(STEP)
    assert (await login(api, alice, totp(seed, T0 + STEP), password=NEW)).status_code == 201


async def test_guessing_tokens_locks_the_client(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    ctx = fix_clock(api)
    await ask(api, alice.email)
    token = token_in(mails(settings)[-1])
    # Asking counts as an attempt too: this one, eight guesses, and one more ask make ten.
    for n in range(8):
        assert await finish(api, f"tkr_guess{n}") == 404
    r = await api.request("POST", "/password-resets", json={"email": alice.email})
    assert r.status_code == 200
    r = await api.request(
        "POST",
        f"/password-resets/{token}/actions/finalize",
        json={"password": NEW, "password_confirmation": NEW},
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == str(15 * 60)
    assert (
        await api.request("POST", "/password-resets", json={"email": "x@example.com"})
    ).status_code == 429
    ctx.clock.advance(timedelta(minutes=15))
    assert await finish(api, token) == 200


async def test_one_account_gets_five_mails_an_hour(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    ctx = fix_clock(api)
    answers = [await ask(api, alice.email) for _ in range(6)]
    assert all(answer == answers[0] for answer in answers)
    assert len(mails(settings)) == 5
    ctx.clock.advance(timedelta(hours=1))
    await ask(api, alice.email)
    assert len(mails(settings)) == 6


async def test_mail_goes_once_the_reset_is_committed(
    api: ApiClient, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ctx_of(api)
    seen: list[int] = []

    async def send(to: str, subject: str, body: str) -> None:
        # Another session sees the reset: the request's transaction has committed.
        async with api.database.session(write=False) as s:
            seen.append(len((await s.execute(select(PasswordReset))).all()))

    monkeypatch.setattr(ctx.mailer, "send", send)
    await ask(api, alice.email)
    assert seen == [1]


async def test_a_reset_lifts_a_lock_on_logins(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    fix_clock(api)
    for _ in range(10):
        assert (await login(api, alice, password="guess")).status_code == 401
    assert (await login(api, alice)).status_code == 429
    await ask(api, alice.email)
    assert await finish(api, token_in(mails(settings)[-1])) == 200
    assert (await login(api, alice, password=NEW)).status_code == 201


async def test_finishing_needs_no_credentials_but_the_token(api: ApiClient, alice: User) -> None:
    r = await api.request(
        "POST",
        "/password-resets/tkr_x/actions/finalize",
        headers=basic(alice.email, alice.password),
        json={"password": NEW},
    )
    assert r.status_code == 422
    assert await finish(api, "tkr_x") == 404

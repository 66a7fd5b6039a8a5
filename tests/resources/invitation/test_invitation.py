"""Invitations to Tenku, mailed to the outbox (no SMTP server configured)."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from tenku.config import Settings
from tenku.db.base import utcnow
from tenku.db.models import Invitation
from tenku.resources.account.service import create_account
from tests.conftest import ApiClient, User
from tests.smtp import mailed_token, outbox, tenku

DANA = "dana@example.com"
CLI_LOGIN = {"description": "Heroku CLI login", "expires_in": 2592000, "scope": ["global"]}


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def finalize(api: ApiClient, token: str, password: str, **extra: Any) -> Any:
    body = {"password": password, "password_confirmation": password, **extra}
    return await api.request("PATCH", f"/invitations/{token}", json=body)


async def login(api: ApiClient, email: str, password: str) -> str:
    """`heroku login`: email and password as HTTP Basic, for a new token."""
    r = await api.request(
        "POST", "/oauth/authorizations", headers=basic(email, password), json=CLI_LOGIN
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["access_token"]["token"]
    return token


async def test_an_invited_person_sets_a_password_and_logs_in(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    r = await alice.post("/invitations", json={"email": "Dana@Example.com", "name": "Dana"})
    assert r.status_code == 200, r.text
    invited = r.json()
    assert invited["user"]["email"] == DANA
    [(_, _, to, subject, delivery)] = outbox(settings.data_dir)
    assert (to, subject, delivery) == (DANA, "You're invited to Tenku", "outbox")

    token = mailed_token(settings.data_dir, DANA)
    letter = tenku(settings.data_dir, "mail", "show", outbox(settings.data_dir)[0][0])
    assert f"PATCH /invitations/{token}" in letter
    assert f"{settings.public_api_url}/invitations/{token}" in letter
    assert alice.email in letter

    shown = await api.request("GET", f"/invitations/{token}")
    assert shown.status_code == 200, shown.text
    assert shown.json() == invited

    done = await finalize(api, token, "a new password", receive_newsletter=False)
    assert done.status_code == 200, done.text
    assert done.json() == invited
    # Single use.
    assert (await api.request("GET", f"/invitations/{token}")).status_code == 404
    again = await finalize(api, token, "another password")
    assert again.status_code == 404
    assert again.json()["id"] == "not_found"

    key = await login(api, DANA, "a new password")
    me = await api.request("GET", "/account", token=key)
    assert me.status_code == 200
    assert me.json()["email"] == DANA
    assert me.json()["name"] == "Dana"
    # The id every answer gave is the account's.
    assert me.json()["id"] == invited["user"]["id"]
    r = await api.request(
        "POST", "/oauth/authorizations", headers=basic(DANA, "another password"), json=CLI_LOGIN
    )
    assert r.status_code == 401


async def test_passwords_are_checked_before_the_token_is_used(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    assert (await alice.post("/invitations", json={"email": DANA})).status_code == 200
    token = mailed_token(settings.data_dir, DANA)
    body = {"password": "one password", "password_confirmation": "another"}
    mismatch = await api.request("PATCH", f"/invitations/{token}", json=body)
    assert mismatch.status_code == 422
    assert mismatch.json()["id"] == "invalid_params"
    assert "confirmation" in mismatch.json()["message"]
    short = await finalize(api, token, "")
    assert short.status_code == 422
    assert short.json()["id"] == "invalid_params"
    missing = await api.request("PATCH", f"/invitations/{token}", json={"password": "x"})
    assert missing.status_code == 422
    assert (await api.request("GET", f"/invitations/{token}")).status_code == 200
    assert (await finalize(api, token, "at last")).status_code == 200


async def test_an_email_with_an_account_is_refused_and_nothing_is_mailed(
    alice: User, bob: User, settings: Settings
) -> None:
    r = await alice.post("/invitations", json={"email": "BOB@example.com", "name": "Bob"})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert bob.email in r.json()["message"]
    bad = await alice.post("/invitations", json={"email": "not an email"})
    assert bad.status_code == 422
    assert outbox(settings.data_dir) == []


async def test_unknown_and_expired_tokens_are_not_found(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    for token in ("nope", "x" * 300):
        r = await api.request("GET", f"/invitations/{token}")
        assert r.status_code == 404
        assert r.json()["resource"] == "invitation"
        assert (await finalize(api, token, "pw")).status_code == 404
    assert (await alice.post("/invitations", json={"email": DANA})).status_code == 200
    token = mailed_token(settings.data_dir, DANA)
    assert (await api.request("GET", f"/invitations/{token}")).status_code == 200
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Invitation).values(updated_at=utcnow() - timedelta(days=7, hours=1))
        )
        await db.commit()
    assert (await api.request("GET", f"/invitations/{token}")).status_code == 404
    assert (await finalize(api, token, "too late")).status_code == 404


async def test_the_token_is_kept_only_as_its_digest(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    assert (await alice.post("/invitations", json={"email": DANA})).status_code == 200
    token = mailed_token(settings.data_dir, DANA)
    assert len(token) >= 43
    async with api.database.session(write=False) as db:
        [row] = (await db.execute(select(Invitation))).scalars()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr([getattr(row, c.key) for c in Invitation.__table__.columns])
    assert row.invited_by_id == alice.id
    # The outbox holds the token: Tenku's alone to read.
    mail_dir = settings.data_dir / "mail"
    assert stat.S_IMODE(mail_dir.stat().st_mode) == 0o700
    for path in mail_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_inviting_takes_the_callers_full_access(api: ApiClient, alice: User) -> None:
    reader = await api.token_for(alice, ["read", "identity"])
    r = await reader.post("/invitations", json={"email": DANA})
    assert r.status_code == 403


async def test_an_account_made_without_a_password_is_completed(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    async with api.database.session(write=True) as db:
        made = await create_account(db, DANA, None)
        await db.commit()
    r = await alice.post("/invitations", json={"email": DANA, "name": "Dana"})
    assert r.status_code == 200, r.text
    assert r.json()["user"] == {"email": DANA, "id": str(made.id)}
    token = mailed_token(settings.data_dir, DANA)
    assert (await finalize(api, token, "chosen")).status_code == 200
    key = await login(api, DANA, "chosen")
    me = (await api.request("GET", "/account", token=key)).json()
    assert (me["id"], me["name"]) == (str(made.id), "Dana")


async def test_a_token_never_resets_a_password(
    api: ApiClient, alice: User, bob: User, settings: Settings
) -> None:
    """Two invitations to one email: once either is used, the other is void (its person
    has a password now, and logs in)."""
    assert (await alice.post("/invitations", json={"email": DANA})).status_code == 200
    first = mailed_token(settings.data_dir, DANA)
    assert (await bob.post("/invitations", json={"email": DANA})).status_code == 200
    second = mailed_token(settings.data_dir, DANA)
    assert first != second
    assert (await finalize(api, second, "mine")).status_code == 200
    assert (await api.request("GET", f"/invitations/{first}")).status_code == 404
    assert (await finalize(api, first, "hijack")).status_code == 404
    assert await login(api, DANA, "mine")

"""Helpers for tests of logins, second factors and resets: a clock fixed on a TOTP step,
codes made as an authenticator app makes them, HTTP Basic logins."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp

from tenku.web.context import AppContext
from tests.conftest import ApiClient, User

CODE = "Heroku-Two-Factor-Code"
# The start of a TOTP step (a multiple of 30 s).
T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
STEP = timedelta(seconds=30)
CLI_LOGIN = {"description": "Heroku CLI login from host", "scope": ["global"]}


def ctx_of(api: ApiClient) -> AppContext:
    ctx: AppContext = api.app.state.ctx
    return ctx


def fix_clock(api: ApiClient, when: datetime = T0) -> AppContext:
    ctx = ctx_of(api)
    ctx.clock.set(when)
    return ctx


def basic(email: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def totp(seed: str, when: datetime) -> str:
    return pyotp.TOTP(seed).at(when)


def seed_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["secret"][0]


async def new_secret(user: User, **headers: str) -> tuple[dict[str, Any], str]:
    r = await user.post("/account/otp-secret", headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body, seed_of(body["url"])


async def enable(api: ApiClient, user: User) -> str:
    """Turn two-factor on for `user` at the clock's time: the seed."""
    _, seed = await new_secret(user)
    now = ctx_of(api).clock()
    r = await user.patch(
        "/account",
        json={"two_factor_authentication": True, "password": user.password},
        headers={CODE: totp(seed, now)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["two_factor_authentication"] is True
    return seed


async def login(
    api: ApiClient, user: User, code: str | None = None, password: str | None = None
) -> httpx.Response:
    headers = basic(user.email, password or user.password)
    if code is not None:
        headers[CODE] = code
    return await api.request("POST", "/oauth/authorizations", headers=headers, json=CLI_LOGIN)

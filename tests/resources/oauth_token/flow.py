"""The authorization-code flow driven over HTTP, as a browser and a client would."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import PASSWORD, ApiClient, User

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
REDIRECT_URI = "https://rp.example.com/auth/tenku/callback"


async def make_client(
    owner: User, name: str = "Example RP", redirect_uri: str = REDIRECT_URI
) -> dict[str, Any]:
    r = await owner.post("/oauth/clients", json={"name": name, "redirect_uri": redirect_uri})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


async def open_page(api: ApiClient, client_id: str, **params: str) -> httpx.Response:
    query = {"client_id": client_id, "response_type": "code", "scope": "identity", **params}
    return await api.request("GET", "/oauth/authorize", params=query)


async def decide(
    api: ApiClient,
    page: httpx.Response | str,
    decision: str = "approve",
    email: str = "alice@example.com",
    password: str = PASSWORD,
    code: str | None = None,
) -> httpx.Response:
    """Submits the approval page's form (a page answered with 200, or its HTML)."""
    if isinstance(page, httpx.Response):
        assert page.status_code == 200, page.text
        page = page.text
    form = {**hidden_fields(page), "decision": decision, "email": email}
    form["password"] = password
    if code is not None:
        form["code"] = code
    return await api.request("POST", "/oauth/authorize", data=form)


def redirected(response: httpx.Response) -> dict[str, str]:
    """The query the browser is sent back to the client with."""
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {k: v[0] for k, v in query.items()}


async def code_for(
    api: ApiClient, client: dict[str, Any], user: User, scope: str = "identity"
) -> str:
    page = await open_page(api, client["id"], scope=scope, state="s1")
    back = redirected(await decide(api, page, email=user.email))
    assert back["state"] == "s1"
    return back["code"]


async def exchange(api: ApiClient, secret: str, code: str) -> httpx.Response:
    body = {"client": {"secret": secret}, "grant": {"code": code, "type": "authorization_code"}}
    return await api.request("POST", "/oauth/tokens", json=body)


async def refresh(api: ApiClient, secret: str, token: str) -> httpx.Response:
    body = {
        "client": {"secret": secret},
        "grant": {"type": "refresh_token"},
        "refresh_token": {"token": token},
    }
    return await api.request("POST", "/oauth/tokens", json=body)


async def tokens_for(
    api: ApiClient, client: dict[str, Any], user: User, scope: str = "identity"
) -> dict[str, Any]:
    r = await exchange(api, client["secret"], await code_for(api, client, user, scope))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def as_user(user: User, token: str) -> User:
    return User(user.id, user.email, token, user.password, user.client)

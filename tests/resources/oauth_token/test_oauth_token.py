from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tenku.app import create_app
from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.models import Authorization
from tests.conftest import ApiClient, User
from tests.resources.oauth_token.flow import (
    REDIRECT_URI,
    as_user,
    code_for,
    decide,
    exchange,
    make_client,
    open_page,
    redirected,
    refresh,
    tokens_for,
)

REDACTION = "*" * 10


async def client_authorizations(api: ApiClient, user: User) -> list[dict[str, Any]]:
    r = await user.get("/oauth/authorizations")
    assert r.status_code == 200
    return [a for a in r.json() if a["client"] is not None]


async def test_code_flow_end_to_end(api: ApiClient, alice: User, bob: User) -> None:
    # Bob registered the client; Alice authorizes it.
    client = await make_client(bob, name="Bob's <dashboard>")
    page = await open_page(api, client["id"], scope="identity", state="xyz")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Bob&#39;s &lt;dashboard&gt;" in page.text
    assert "read your email address and account details" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self' https://rp.example.com;" in policy
    cookie = page.headers["set-cookie"].lower()
    for part in ("httponly", "samesite=strict", "path=/oauth/authorize"):
        assert part in cookie

    back = redirected(await decide(api, page))
    assert back["state"] == "xyz"
    assert back["code"].startswith("tkg_")
    [pending] = await client_authorizations(api, alice)
    assert pending["client"] == {
        "id": client["id"],
        "name": "Bob's <dashboard>",
        "redirect_uri": REDIRECT_URI,
    }
    assert pending["access_token"] is None
    assert pending["refresh_token"] is None
    assert pending["scope"] == ["identity"]

    r = await exchange(api, client["secret"], back["code"])
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    issued = r.json()
    assert issued["authorization"] == {"id": pending["id"]}
    assert issued["user"] == {"id": str(alice.id)}
    assert issued["grant"] == {"code": back["code"], "type": "authorization_code"}
    assert issued["id"] == issued["access_token"]["id"]
    assert 28700 <= issued["access_token"]["expires_in"] <= 28800
    assert issued["refresh_token"]["expires_in"] is None
    assert REDACTION in issued["client"]["secret"]
    token = issued["access_token"]["token"]
    rp = as_user(alice, token)
    assert (await rp.get("/account")).json()["email"] == alice.email
    # An identity token reads the account and nothing else.
    assert (await rp.get("/apps")).status_code == 403
    [held] = await client_authorizations(api, alice)
    assert held["access_token"]["id"] == issued["access_token"]["id"]
    assert REDACTION in held["access_token"]["token"]
    assert REDACTION in held["refresh_token"]["token"]
    assert held["grant"] is None


@pytest.mark.parametrize(
    ("scope", "allowed", "refused"),
    [
        ("read", [("GET", "/apps")], [("GET", "/account"), ("POST", "/apps"), ("GET", "CONFIG")]),
        ("write", [("POST", "/apps")], [("PATCH", "CONFIG"), ("GET", "CONFIG")]),
        ("write-protected", [("PATCH", "CONFIG"), ("GET", "CONFIG")], [("GET", "/account")]),
        ("read-protected", [("GET", "CONFIG")], [("PATCH", "CONFIG"), ("POST", "/apps")]),
        ("global", [("GET", "CONFIG"), ("GET", "/oauth/authorizations")], []),
    ],
)
async def test_scopes_are_enforced(
    api: ApiClient,
    alice: User,
    bob: User,
    scope: str,
    allowed: list[tuple[str, str]],
    refused: list[tuple[str, str]],
) -> None:
    await alice.create_app("scoped")
    config = "/apps/scoped/config-vars"
    client = await make_client(bob)
    rp = as_user(alice, (await tokens_for(api, client, alice, scope))["access_token"]["token"])
    for method, path in allowed + refused:
        body = {"name": f"a-{uuid.uuid4().hex[:8]}"} if path == "/apps" else {"X": "1"}
        r = await api.request(
            method,
            config if path == "CONFIG" else path,
            token=rp.token,
            json=body if method != "GET" else None,
        )
        if (method, path) in refused:
            assert r.status_code == 403, (scope, method, path, r.text)
            assert r.json()["id"] == "forbidden"
        else:
            assert r.status_code < 300, (scope, method, path, r.text)


async def test_code_is_single_use_and_a_second_use_revokes(
    api: ApiClient, alice: User, bob: User
) -> None:
    client = await make_client(bob)
    code = await code_for(api, client, alice)
    first = await exchange(api, client["secret"], code)
    assert first.status_code == 201
    rp = as_user(alice, first.json()["access_token"]["token"])
    assert (await rp.get("/account")).status_code == 200
    again = await exchange(api, client["secret"], code)
    assert again.status_code == 401
    assert again.json() == {"id": "unauthorized", "message": "Invalid grant or client credentials."}
    # The code may have been stolen: what it gave is revoked (RFC 6749 4.1.2).
    assert (await rp.get("/account")).status_code == 401
    assert await client_authorizations(api, alice) == []
    r = await refresh(api, client["secret"], first.json()["refresh_token"]["token"])
    assert r.status_code == 401


async def test_expired_code_is_refused(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    code = await code_for(api, client, alice)
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Authorization)
            .where(Authorization.account_id == alice.id, Authorization.client_id.is_not(None))
            .values(grant_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await db.commit()
    assert (await exchange(api, client["secret"], code)).status_code == 401


async def test_code_lives_five_minutes(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    before = datetime.now(UTC)
    await code_for(api, client, alice)
    async with api.database.session(write=False) as db:
        auth = (
            await db.execute(select(Authorization).where(Authorization.client_id.is_not(None)))
        ).scalar_one()
    assert auth.grant_expires_at is not None
    assert timedelta(minutes=5) <= auth.grant_expires_at - before < timedelta(minutes=6)
    assert auth.grant_redirect_uri == REDIRECT_URI


async def test_wrong_secret_does_not_use_up_the_code(
    api: ApiClient, alice: User, bob: User
) -> None:
    client = await make_client(bob)
    other = await make_client(bob, name="other")
    code = await code_for(api, client, alice)
    for secret in ["tkc_wrong", other["secret"], ""]:
        r = await exchange(api, secret, code)
        assert r.status_code == 401, r.text
    assert (await exchange(api, client["secret"], code)).status_code == 201


async def test_code_is_bound_to_the_redirect_uri(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    code = await code_for(api, client, alice)
    r = await bob.patch(
        f"/oauth/clients/{client['id']}", json={"redirect_uri": "https://elsewhere.example/cb"}
    )
    assert r.status_code == 200
    assert (await exchange(api, client["secret"], code)).status_code == 401


async def test_refresh_tokens_rotate(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    first = await tokens_for(api, client, alice, scope="read")
    r = await refresh(api, client["secret"], first["refresh_token"]["token"])
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["grant"] == {"code": "", "type": "refresh_token"}
    assert second["authorization"] == first["authorization"]
    assert second["access_token"]["id"] != first["access_token"]["id"]
    assert second["refresh_token"]["token"] != first["refresh_token"]["token"]
    assert 28700 <= second["access_token"]["expires_in"] <= 28800
    assert (await as_user(alice, first["access_token"]["token"]).get("/apps")).status_code == 401
    assert (await as_user(alice, second["access_token"]["token"]).get("/apps")).status_code == 200
    # The refresh token used is spent, and needs the client's secret in any case.
    assert (
        await refresh(api, client["secret"], first["refresh_token"]["token"])
    ).status_code == 401
    assert (await refresh(api, "tkc_nope", second["refresh_token"]["token"])).status_code == 401
    assert (
        await refresh(api, client["secret"], second["refresh_token"]["token"])
    ).status_code == 201


async def test_expired_access_token_is_refused(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    issued = await tokens_for(api, client, alice)
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Authorization)
            .where(Authorization.id == uuid.UUID(issued["authorization"]["id"]))
            .values(access_token_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await db.commit()
    assert (
        await as_user(alice, issued["access_token"]["token"]).get("/account")
    ).status_code == 401
    r = await refresh(api, client["secret"], issued["refresh_token"]["token"])
    assert r.status_code == 201
    assert (
        await as_user(alice, r.json()["access_token"]["token"]).get("/account")
    ).status_code == 200


async def test_deleting_the_authorization_revokes_both_tokens(
    api: ApiClient, alice: User, bob: User
) -> None:
    client = await make_client(bob)
    issued = await tokens_for(api, client, alice)
    r = await alice.delete(f"/oauth/authorizations/{issued['authorization']['id']}")
    assert r.status_code == 200
    assert r.json()["client"]["id"] == client["id"]
    assert (
        await as_user(alice, issued["access_token"]["token"]).get("/account")
    ).status_code == 401
    assert (
        await refresh(api, client["secret"], issued["refresh_token"]["token"])
    ).status_code == 401


async def test_a_token_revokes_itself(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    issued = await tokens_for(api, client, alice)
    rp = as_user(alice, issued["access_token"]["token"])
    r = await rp.delete(f"/oauth/tokens/{issued['id']}")
    assert r.status_code == 200, r.text
    gone = r.json()
    assert gone["id"] == issued["id"]
    assert gone["authorization"] == issued["authorization"]
    assert REDACTION in gone["access_token"]["token"]
    assert (await rp.get("/account")).status_code == 401
    [held] = await client_authorizations(api, alice)
    assert held["access_token"] is None
    # The refresh token still gets a new access token.
    r = await refresh(api, client["secret"], issued["refresh_token"]["token"])
    assert r.status_code == 201
    assert (
        await as_user(alice, r.json()["access_token"]["token"]).get("/account")
    ).status_code == 200


async def test_who_may_revoke_a_token(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    issued = await tokens_for(api, client, alice)
    path = f"/oauth/tokens/{issued['id']}"
    r = await bob.delete(path)
    assert r.status_code == 404
    assert r.json()["resource"] == "oauth_token"
    limited = await api.token_for(alice, scope=["read"])
    assert (await limited.delete(path)).status_code == 403
    # A direct authorization's token is revoked with its authorization, not here.
    key = (await alice.get("/oauth/authorizations/~")).json()
    assert (await alice.delete(f"/oauth/tokens/{key['access_token']['id']}")).status_code == 404
    assert (await alice.delete("/oauth/tokens/nope")).status_code == 404
    assert (await alice.delete(path)).status_code == 200
    assert (await alice.delete(path)).status_code == 404
    assert (await api.request("DELETE", path)).status_code == 401


async def test_client_tokens_cannot_mint_or_regenerate(
    api: ApiClient, alice: User, bob: User
) -> None:
    client = await make_client(bob)
    issued = await tokens_for(api, client, alice, scope="global")
    rp = as_user(alice, issued["access_token"]["token"])
    assert (await rp.get("/oauth/authorizations")).status_code == 200
    r = await rp.post("/oauth/authorizations", json={"scope": ["global"]})
    assert r.status_code == 403
    assert "direct authorization" in r.json()["message"]
    key_id = (await alice.get("/oauth/authorizations/~")).json()["id"]
    r = await rp.post(f"/oauth/authorizations/{key_id}/actions/regenerate-tokens")
    assert r.status_code == 403
    assert (await alice.get("/account")).status_code == 200


async def test_deny(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    page = await open_page(api, client["id"], state="st")
    back = redirected(await decide(api, page, decision="deny", email="", password=""))
    assert back["error"] == "access_denied"
    assert back["state"] == "st"
    assert "code" not in back
    assert await client_authorizations(api, alice) == []


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("alice@example.com", "wrong", "Invalid email or password."),
        ("nobody@example.com", "correct horse battery staple", "Invalid email or password."),
        ("alice@example.com", "", "Enter your email and password."),
    ],
)
async def test_bad_login_shows_the_page_again(
    api: ApiClient, alice: User, bob: User, email: str, password: str, message: str
) -> None:
    client = await make_client(bob)
    page = await open_page(api, client["id"])
    r = await decide(api, page, email=email, password=password)
    assert r.status_code == 401
    assert "location" not in r.headers
    assert message in r.text
    assert f'value="{email}"' in r.text
    if password:
        assert password not in r.text
    assert await client_authorizations(api, alice) == []
    # The page it showed works.
    assert (await decide(api, r.text, email=alice.email)).status_code == 303


async def test_suspended_account_is_refused(api: ApiClient, alice: User, bob: User) -> None:
    from tenku.db.models import Account

    client = await make_client(bob)
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Account).where(Account.id == alice.id).values(suspended_at=datetime.now(UTC))
        )
        await db.commit()
    r = await decide(api, await open_page(api, client["id"]))
    assert r.status_code == 403
    assert "suspended" in r.text


async def test_form_without_the_pages_token_is_refused(
    api: ApiClient, alice: User, bob: User
) -> None:
    client = await make_client(bob)
    page = await open_page(api, client["id"])
    # Another site's form: the cookie is not sent cross-site, and it cannot know the token.
    api.http.cookies.clear()
    r = await decide(api, page)
    assert r.status_code == 403
    assert "location" not in r.headers
    assert "did not come from this page" in r.text
    # A token of another page (another browser's cookie) does not do either.
    other = await open_page(api, client["id"])
    form = {"csrf_token": "x" + other.text.split('name="csrf_token" value="')[1].split('"')[0]}
    r = await api.request(
        "POST",
        "/oauth/authorize",
        data={**form, "client_id": client["id"], "response_type": "code", "decision": "deny"},
    )
    assert r.status_code == 403
    assert await client_authorizations(api, alice) == []


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "nope"},
        {"client_id": str(uuid.uuid4())},
        {"redirect_uri": "https://attacker.example/cb"},
        {"state": "s" * 1025},
    ],
)
async def test_bad_client_or_redirect_is_shown_not_followed(
    api: ApiClient, bob: User, params: dict[str, str]
) -> None:
    client = await make_client(bob)
    given = dict(params)
    r = await open_page(api, given.pop("client_id", client["id"]), **given)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "csrf_token" not in r.text


async def test_repeated_parameters_are_refused(api: ApiClient, bob: User) -> None:
    client = await make_client(bob)
    r = await api.request(
        "GET",
        "/oauth/authorize",
        params=[
            ("client_id", client["id"]),
            ("response_type", "code"),
            ("scope", "read"),
            ("scope", "global"),
        ],
    )
    assert r.status_code == 400
    assert "more than once" in r.text


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "identity admin"}, "invalid_scope"),
    ],
)
async def test_other_errors_go_back_to_the_client(
    api: ApiClient, bob: User, params: dict[str, str], error: str
) -> None:
    client = await make_client(bob)
    r = await open_page(api, client["id"], state="keep", **params)
    back = redirected(r)
    assert r.headers["location"].startswith(REDIRECT_URI + "?")
    assert back["error"] == error
    assert back["state"] == "keep"


async def test_scopes_may_be_separated_by_spaces_or_commas(
    api: ApiClient, alice: User, bob: User
) -> None:
    client = await make_client(bob)
    page = await open_page(api, client["id"], scope="read, identity read")
    assert page.status_code == 200
    redirected(await decide(api, page))
    [pending] = await client_authorizations(api, alice)
    assert pending["scope"] == ["read", "identity"]


async def test_redirect_keeps_the_clients_own_query(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob, redirect_uri="https://rp.example.com/cb?tenant=7")
    r = await decide(api, await open_page(api, client["id"], state="a b&c"))
    assert r.headers["location"].startswith("https://rp.example.com/cb?tenant=7&code=tkg_")
    back = redirected(r)
    assert back["tenant"] == "7"
    assert back["state"] == "a b&c"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"client": {"secret": "x"}},
        {"client": {"secret": "x"}, "grant": {"type": "password"}},
        {"client": {"secret": "x"}, "grant": {"type": "authorization_code"}},
        {"client": {"secret": "x"}, "grant": {"type": "refresh_token"}},
        {"grant": {"type": "refresh_token"}, "refresh_token": {"token": "x"}},
    ],
)
async def test_malformed_exchange_is_422(api: ApiClient, body: dict[str, Any]) -> None:
    r = await api.request("POST", "/oauth/tokens", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"


async def test_unknown_grants_are_401(api: ApiClient, bob: User) -> None:
    client = await make_client(bob)
    assert (await exchange(api, client["secret"], "tkg_unknown")).status_code == 401
    assert (await refresh(api, client["secret"], "tku_unknown")).status_code == 401
    # A direct authorization's refresh token is no client's.
    r = await bob.post("/oauth/authorizations", json={})
    assert r.json()["refresh_token"] is None


async def test_password_guessing_on_the_page_is_rate_limited(
    api: ApiClient, database: Database, settings: Settings, alice: User, bob: User
) -> None:
    client = await make_client(bob)
    small = dataclasses.replace(settings, rate_limit_per_hour=2)
    app = create_app(small, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5000") as http:
        guesser = ApiClient(http, database)
        statuses = []
        for _ in range(3):
            page = await open_page(guesser, client["id"])
            statuses.append((await decide(guesser, page, password="guess")).status_code)
        assert statuses == [401, 401, 429]
        assert "Too many attempts" in (await decide(guesser, page, password="guess")).text
        # Guesses spend the address's budget; a right password spends the account's, as
        # password logins on the API do, so guessing locks nobody out.
        r = await decide(guesser, await open_page(guesser, client["id"]))
        assert r.status_code == 303
    await app.state.ctx.ratelimiter.close()
    assert len(await client_authorizations(api, alice)) == 1

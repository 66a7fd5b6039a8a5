from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tenku.db.models import Account, Authorization
from tenku.resources.oauth_authorization.tokens import mint_authorization
from tests.conftest import PASSWORD, ApiClient, User

CLI_LOGIN = {
    "description": "Heroku CLI login from host",
    "expires_in": 2592000,
    "scope": ["global"],
}
REDACTION = "*" * 10


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cli_matches(local: str, shown: str) -> bool:
    """The CLI's isCurrentOAuthToken (@heroku-cli/command lib/login.js)."""
    at = shown.find(REDACTION)
    if at == -1:
        return local == shown
    prefix, suffix = shown[:at], shown[at + len(REDACTION) :]
    return local.startswith(prefix) and (suffix == "" or local.endswith(suffix))


def as_user(user: User, token: str) -> User:
    return User(user.id, user.email, token, user.password, user.client)


async def login(api: ApiClient, user: User, **body: Any) -> dict[str, Any]:
    r = await api.request(
        "POST", "/oauth/authorizations", headers=basic(user.email, PASSWORD), json=body or CLI_LOGIN
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def mint(user: User, **body: Any) -> dict[str, Any]:
    r = await user.post("/oauth/authorizations", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_login_by_password(api: ApiClient, alice: User) -> None:
    assert (await alice.get("/account")).json()["last_login"] is None
    auth = await login(api, alice)
    assert auth["user"] == {"email": alice.email, "full_name": None, "id": str(alice.id)}
    assert auth["scope"] == ["global"]
    assert auth["description"] == "Heroku CLI login from host"
    assert auth["access_token"]["expires_in"] == 2592000
    assert auth["refresh_token"] is None
    assert auth["client"] is None
    assert auth["grant"] is None
    assert auth["session"] is None
    token = auth["access_token"]["token"]
    assert REDACTION not in token
    assert token != alice.token
    r = await api.request("GET", "/account", headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["email"] == alice.email
    assert r.json()["last_login"] is not None


async def test_login_email_is_case_insensitive(api: ApiClient, alice: User) -> None:
    r = await api.request(
        "POST",
        "/oauth/authorizations",
        headers=basic("Alice@Example.com", PASSWORD),
        json=CLI_LOGIN,
    )
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
)
async def test_login_with_bad_credentials_is_401(
    api: ApiClient, alice: User, email: str, password: str
) -> None:
    r = await api.request(
        "POST", "/oauth/authorizations", headers=basic(email, password), json=CLI_LOGIN
    )
    assert r.status_code == 401
    assert r.json() == {"id": "unauthorized", "message": "Invalid credentials provided."}


async def test_password_is_only_accepted_for_creating_authorizations(
    api: ApiClient, alice: User
) -> None:
    r = await api.request("GET", "/account", headers=basic(alice.email, PASSWORD))
    assert r.status_code == 401
    assert r.json()["id"] == "unauthorized"
    r = await api.request("GET", "/oauth/authorizations", headers=basic(alice.email, PASSWORD))
    assert r.status_code == 401


async def test_token_as_basic_password(api: ApiClient, alice: User) -> None:
    r = await api.request(
        "POST", "/oauth/authorizations", headers=basic("", alice.token), json={"scope": ["read"]}
    )
    assert r.status_code == 201
    assert r.json()["scope"] == ["read"]
    r = await api.request("GET", "/account", headers=basic(alice.email, alice.token))
    assert r.status_code == 200


async def test_defaults(alice: User) -> None:
    auth = await mint(alice)
    assert auth["scope"] == ["global"]
    assert auth["description"] == ""
    assert auth["access_token"]["expires_in"] is None


async def test_expires_in_as_string(alice: User) -> None:
    auth = await mint(alice, description="d", expires_in="3600", scope=["read", "write"])
    assert 3590 <= auth["access_token"]["expires_in"] <= 3600
    assert auth["scope"] == ["read", "write"]


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in": "abc"},
        {"expires_in": 0},
        {"expires_in": -5},
        {"expires_in": "1.5"},
        {"expires_in": True},
        {"expires_in": 10**12},
        {"scope": ["global", "admin"]},
        {"scope": []},
        {"scope": "global"},
        {"description": 42},
        {"client": str(uuid.uuid4())},
    ],
)
async def test_bad_input_is_422(alice: User, body: dict[str, Any]) -> None:
    r = await alice.post("/oauth/authorizations", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"


async def test_bad_json_is_400(alice: User) -> None:
    r = await alice.post("/oauth/authorizations", content=b"{nope")
    assert r.status_code == 400


async def test_expired_token_is_401(api: ApiClient, alice: User) -> None:
    auth = await mint(alice, expires_in=60)
    temp = as_user(alice, auth["access_token"]["token"])
    assert (await temp.get("/account")).status_code == 200
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Authorization)
            .where(Authorization.id == uuid.UUID(auth["id"]))
            .values(access_token_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await db.commit()
    r = await temp.get("/account")
    assert r.status_code == 401
    assert r.json()["id"] == "unauthorized"
    listed = {a["id"]: a for a in (await alice.get("/oauth/authorizations")).json()}
    assert listed[auth["id"]]["access_token"]["expires_in"] == 0


async def test_list_redacts_other_tokens(api: ApiClient, alice: User, bob: User) -> None:
    session = as_user(alice, (await login(api, alice))["access_token"]["token"])
    other = await mint(alice, description="other")
    await mint(bob, description="bob's")
    r = await session.get("/oauth/authorizations")
    assert r.status_code == 200
    assert r.headers["accept-ranges"] == "id"
    items = r.json()
    assert [a["id"] for a in items] == sorted(a["id"] for a in items)
    assert len(items) == 3
    assert {a["user"]["email"] for a in items} == {alice.email}
    by_description = {a["description"]: a for a in items}
    key = by_description["API Key"]["access_token"]["token"]
    assert REDACTION in key
    assert cli_matches(alice.token, key)
    assert not cli_matches(session.token, key)
    hint = by_description["other"]["access_token"]["token"]
    assert REDACTION in hint
    assert cli_matches(other["access_token"]["token"], hint)
    # The token making the request is shown as sent: `heroku auth:token` matches it exactly.
    current = [a for a in items if a["access_token"]["token"] == session.token]
    assert len(current) == 1
    assert current[0]["access_token"]["expires_in"] > 0


async def test_list_pages(alice: User) -> None:
    for n in range(3):
        await mint(alice, description=f"t{n}")
    r = await alice.get("/oauth/authorizations", headers={"Range": "id ..; max=2"})
    assert r.status_code == 206
    assert len(r.json()) == 2
    r = await alice.get("/oauth/authorizations", headers={"Range": r.headers["next-range"]})
    assert r.status_code == 200
    assert len(r.json()) == 2


async def test_tilde_is_the_default_api_key(api: ApiClient, alice: User) -> None:
    session = as_user(alice, (await login(api, alice))["access_token"]["token"])
    r = await session.get("/oauth/authorizations/~")
    assert r.status_code == 200
    key = r.json()
    assert key["description"] == "API Key"
    assert REDACTION in key["access_token"]["token"]
    assert cli_matches(alice.token, key["access_token"]["token"])
    by_id = (await session.get(f"/oauth/authorizations/{key['id']}")).json()
    assert by_id["id"] == key["id"]
    # Asked with the API key itself, it is shown whole.
    assert (await alice.get("/oauth/authorizations/~")).json()["access_token"]["token"] == (
        alice.token
    )


async def test_tilde_without_an_api_key_is_404(api: ApiClient, alice: User) -> None:
    other = as_user(alice, (await mint(alice))["access_token"]["token"])
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Authorization)
            .where(Authorization.account_id == alice.id)
            .values(is_api_key=False)
        )
        await db.commit()
    r = await other.get("/oauth/authorizations/~")
    assert r.status_code == 404
    assert r.json()["id"] == "not_found"
    assert r.json()["resource"] == "authorization"


@pytest.mark.parametrize("ident", ["nope", "5a4c1f58-2b1e-4c1e-9d0e-6f3b2a9c7e11"])
async def test_unknown_id_is_404(alice: User, ident: str) -> None:
    r = await alice.get(f"/oauth/authorizations/{ident}")
    assert r.status_code == 404
    assert r.json()["resource"] == "authorization"


async def test_delete_revokes(alice: User) -> None:
    auth = await mint(alice, description="doomed")
    doomed = as_user(alice, auth["access_token"]["token"])
    assert (await doomed.get("/account")).status_code == 200
    r = await alice.delete(f"/oauth/authorizations/{auth['id']}")
    assert r.status_code == 200
    assert r.json()["id"] == auth["id"]
    assert r.json()["description"] == "doomed"
    assert (await doomed.get("/account")).status_code == 401
    assert (await alice.get(f"/oauth/authorizations/{auth['id']}")).status_code == 404


async def test_logout_deletes_its_own_authorization(api: ApiClient, alice: User) -> None:
    session = as_user(alice, (await login(api, alice))["access_token"]["token"])
    items = (await session.get("/oauth/authorizations")).json()
    mine = [a for a in items if cli_matches(session.token, a["access_token"]["token"])]
    assert len(mine) == 1
    r = await session.delete(f"/oauth/authorizations/{mine[0]['id']}")
    assert r.status_code == 200
    assert (await session.get("/account")).status_code == 401
    assert (await alice.get("/account")).status_code == 200


async def test_default_api_key_cannot_be_deleted(alice: User) -> None:
    r = await alice.delete("/oauth/authorizations/~")
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    assert (await alice.get("/account")).status_code == 200


async def test_regenerate(alice: User) -> None:
    auth = await mint(alice, description="rotating", expires_in=3600)
    old = as_user(alice, auth["access_token"]["token"])
    r = await alice.post(f"/oauth/authorizations/{auth['id']}/actions/regenerate-tokens")
    assert r.status_code == 200
    fresh = r.json()
    assert fresh["id"] == auth["id"]
    assert fresh["description"] == "rotating"
    assert fresh["access_token"]["id"] != auth["access_token"]["id"]
    assert 3500 <= fresh["access_token"]["expires_in"] <= 3600
    new = as_user(alice, fresh["access_token"]["token"])
    assert new.token != old.token
    assert REDACTION not in new.token
    assert (await old.get("/account")).status_code == 401
    assert (await new.get("/account")).status_code == 200


async def test_regenerate_own_api_key(alice: User) -> None:
    r = await alice.post("/oauth/authorizations/~/actions/regenerate-tokens")
    assert r.status_code == 200
    new = as_user(alice, r.json()["access_token"]["token"])
    assert (await alice.get("/account")).status_code == 401
    assert (await new.get("/oauth/authorizations/~")).json()["access_token"]["token"] == new.token


async def test_regenerate_rotates_refresh_token(api: ApiClient, alice: User) -> None:
    async with api.database.session(write=True) as db:
        account = await db.get(Account, alice.id)
        assert account is not None
        auth, _, refresh = await mint_authorization(db, account, with_refresh=True)
        await db.commit()
    assert refresh is not None
    shown = (await alice.get(f"/oauth/authorizations/{auth.id}")).json()["refresh_token"]
    assert shown["expires_in"] is None
    assert cli_matches(refresh, shown["token"])
    assert REDACTION in shown["token"]
    r = await alice.post(f"/oauth/authorizations/{auth.id}/actions/regenerate-tokens")
    rotated = r.json()["refresh_token"]
    assert rotated["id"] != shown["id"]
    assert REDACTION not in rotated["token"]
    assert rotated["token"] != refresh


async def test_update_description(alice: User) -> None:
    auth = await mint(alice, description="before")
    r = await alice.patch(f"/oauth/authorizations/{auth['id']}", json={"description": "after"})
    assert r.status_code == 200
    assert r.json()["description"] == "after"
    r = await alice.patch(
        f"/oauth/authorizations/{auth['id']}", json={"client": {"id": "x", "secret": "y"}}
    )
    assert r.status_code == 422


@pytest.mark.parametrize("scope", [["read"], ["identity"], ["write-protected"]])
async def test_non_global_tokens_are_403(api: ApiClient, alice: User, scope: list[str]) -> None:
    limited = await api.token_for(alice, scope=scope)
    auth_id = (await mint(alice))["id"]
    calls: list[tuple[str, str]] = [
        ("GET", "/oauth/authorizations"),
        ("POST", "/oauth/authorizations"),
        ("GET", "/oauth/authorizations/~"),
        ("GET", f"/oauth/authorizations/{auth_id}"),
        ("PATCH", f"/oauth/authorizations/{auth_id}"),
        ("DELETE", f"/oauth/authorizations/{auth_id}"),
        ("POST", f"/oauth/authorizations/{auth_id}/actions/regenerate-tokens"),
    ]
    for method, path in calls:
        r = await api.request(method, path, token=limited.token, json={})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["id"] == "forbidden"


async def test_read_scoped_token_cannot_write(alice: User) -> None:
    await alice.create_app("scoped-app")
    reader = as_user(alice, (await mint(alice, scope=["read"]))["access_token"]["token"])
    r = await reader.get("/apps")
    assert r.status_code == 200
    assert [a["name"] for a in r.json()] == ["scoped-app"]
    r = await reader.patch("/apps/scoped-app/config-vars", json={"FOO": "bar"})
    assert r.status_code == 403
    r = await reader.post("/apps", json={"name": "another-app"})
    assert r.status_code == 403


async def test_other_users_authorizations_are_404(alice: User, bob: User) -> None:
    auth = await mint(alice, description="alice's")
    token = auth["access_token"]["token"]
    path = f"/oauth/authorizations/{auth['id']}"
    for r in [
        await bob.get(path),
        await bob.patch(path, json={"description": "mine now"}),
        await bob.delete(path),
        await bob.post(f"{path}/actions/regenerate-tokens"),
    ]:
        assert r.status_code == 404
        assert r.json()["resource"] == "authorization"
    assert (await as_user(alice, token).get("/account")).status_code == 200
    assert (await alice.get(path)).json()["description"] == "alice's"
    assert auth["id"] not in [a["id"] for a in (await bob.get("/oauth/authorizations")).json()]


async def test_delete_session_is_404(api: ApiClient, alice: User) -> None:
    r = await alice.delete("/oauth/sessions/~")
    assert r.status_code == 404
    body = r.json()
    assert body["id"] == "not_found"
    assert body["resource"] == "session"
    assert body["message"]
    r = await api.request("DELETE", "/oauth/sessions/~")
    assert r.status_code == 401


async def test_unauthenticated_is_401(api: ApiClient) -> None:
    r = await api.request("GET", "/oauth/authorizations")
    assert r.status_code == 401
    r = await api.request("POST", "/oauth/authorizations", json=CLI_LOGIN)
    assert r.status_code == 401


async def test_create_for_a_client(api: ApiClient, alice: User, bob: User) -> None:
    from tests.resources.oauth_token.flow import make_client, refresh

    client = await make_client(bob, name="Bob's RP")
    auth = await mint(alice, client=client["id"], scope=["read"])
    assert auth["client"] == {
        "id": client["id"],
        "name": "Bob's RP",
        "redirect_uri": client["redirect_uri"],
    }
    assert auth["description"] == "Bob's RP"
    assert auth["scope"] == ["read"]
    assert 28700 <= auth["access_token"]["expires_in"] <= 28800
    assert REDACTION not in auth["refresh_token"]["token"]
    assert (await as_user(alice, auth["access_token"]["token"]).get("/apps")).status_code == 200
    shown = (await alice.get(f"/oauth/authorizations/{auth['id']}")).json()
    assert shown["client"] == auth["client"]
    assert REDACTION in shown["refresh_token"]["token"]
    listed = {a["id"]: a for a in (await alice.get("/oauth/authorizations")).json()}
    assert listed[auth["id"]]["client"]["name"] == "Bob's RP"
    # The client renews it with its secret.
    r = await refresh(api, client["secret"], auth["refresh_token"]["token"])
    assert r.status_code == 201
    assert r.json()["authorization"] == {"id": auth["id"]}


async def test_update_gives_an_authorization_to_a_client(
    api: ApiClient, alice: User, bob: User
) -> None:
    from tests.resources.oauth_token.flow import make_client

    client = await make_client(bob)
    auth = await mint(alice, description="for the RP")
    path = f"/oauth/authorizations/{auth['id']}"
    wrong = {"client": {"id": client["id"], "secret": "tkc_wrong"}}
    r = await alice.patch(path, json=wrong)
    assert r.status_code == 422
    assert r.json()["message"] == (
        "Invalid client provided: no OAuth client has that id and secret."
    )
    right = {"client": {"id": client["id"], "secret": client["secret"]}}
    r = await alice.patch(path, json=right)
    assert r.status_code == 200
    assert r.json()["client"]["id"] == client["id"]
    assert r.json()["description"] == "for the RP"
    assert (await as_user(alice, auth["access_token"]["token"]).get("/account")).status_code == 200
    other = await make_client(bob, name="other")
    r = await alice.patch(path, json={"client": {"id": other["id"], "secret": other["secret"]}})
    assert r.status_code == 403
    r = await alice.patch("/oauth/authorizations/~", json=right)
    assert r.status_code == 403


async def test_regenerate_a_clients_authorization(api: ApiClient, alice: User, bob: User) -> None:
    from tests.resources.oauth_token.flow import make_client, refresh

    client = await make_client(bob)
    auth = await mint(alice, client=client["id"])
    r = await alice.post(f"/oauth/authorizations/{auth['id']}/actions/regenerate-tokens")
    assert r.status_code == 200
    fresh = r.json()
    assert fresh["client"]["id"] == client["id"]
    assert fresh["access_token"]["token"] != auth["access_token"]["token"]
    assert fresh["refresh_token"]["token"] != auth["refresh_token"]["token"]
    assert REDACTION not in fresh["refresh_token"]["token"]
    assert (await as_user(alice, auth["access_token"]["token"]).get("/account")).status_code == 401
    assert (await refresh(api, client["secret"], auth["refresh_token"]["token"])).status_code == 401
    assert (
        await refresh(api, client["secret"], fresh["refresh_token"]["token"])
    ).status_code == 201

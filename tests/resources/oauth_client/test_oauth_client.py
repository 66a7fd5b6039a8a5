from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, User
from tests.resources.oauth_token.flow import (
    REDIRECT_URI,
    as_user,
    code_for,
    exchange,
    make_client,
    refresh,
    tokens_for,
)

REDACTION = "*" * 10


def hint_of(secret: str) -> str:
    return secret[:8] + REDACTION + secret[-4:]


async def test_create_shows_the_secret_once(alice: User) -> None:
    client = await make_client(alice, name="Dashboard")
    assert client["name"] == "Dashboard"
    assert client["redirect_uri"] == REDIRECT_URI
    assert client["ignores_delinquent"] is False
    secret = client["secret"]
    assert secret.startswith("tkc_")
    assert REDACTION not in secret
    info = (await alice.get(f"/oauth/clients/{client['id']}")).json()
    assert info["secret"] == hint_of(secret)
    assert {k: v for k, v in info.items() if k != "secret"} == {
        k: v for k, v in client.items() if k != "secret"
    }
    r = await alice.get("/oauth/clients")
    assert r.status_code == 200
    assert r.headers["accept-ranges"] == "id"
    assert r.headers["cache-control"] == "no-store"
    assert [c["secret"] for c in r.json()] == [hint_of(secret)]


async def test_list_holds_only_the_callers_clients(alice: User, bob: User) -> None:
    mine = await make_client(alice, name="mine")
    await make_client(bob, name="bob's")
    assert [c["id"] for c in (await alice.get("/oauth/clients")).json()] == [mine["id"]]


async def test_update(alice: User) -> None:
    client = await make_client(alice)
    path = f"/oauth/clients/{client['id']}"
    r = await alice.patch(path, json={"name": "Renamed"})
    assert r.status_code == 200
    assert r.json()["name"] == "Renamed"
    assert r.json()["redirect_uri"] == REDIRECT_URI
    assert REDACTION in r.json()["secret"]
    r = await alice.patch(path, json={"redirect_uri": "http://localhost:3000/callback"})
    assert r.json()["redirect_uri"] == "http://localhost:3000/callback"
    assert r.json()["name"] == "Renamed"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://example.com/auth/callback",
        "https://example.com:8443/cb?x=1",
        "http://localhost:5000/cb",
        "http://127.0.0.1:8080/cb",
        "http://10.1.2.3/cb",
        "http://printer.local/cb",
        "http://[::1]:9000/cb",
    ],
)
async def test_redirect_uris_accepted(alice: User, redirect_uri: str) -> None:
    assert (await make_client(alice, redirect_uri=redirect_uri))["redirect_uri"] == redirect_uri


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"redirect_uri": REDIRECT_URI},
        {"name": "", "redirect_uri": REDIRECT_URI},
        {"name": "x" * 256, "redirect_uri": REDIRECT_URI},
        {"name": "a\nb", "redirect_uri": REDIRECT_URI},
        {"name": 5, "redirect_uri": REDIRECT_URI},
        {"name": "x", "redirect_uri": "http://example.com/cb"},
        {"name": "x", "redirect_uri": "https://example.com/cb#frag"},
        {"name": "x", "redirect_uri": "https://user:pw@example.com/cb"},
        {"name": "x", "redirect_uri": "ftp://example.com/cb"},
        {"name": "x", "redirect_uri": "/relative/cb"},
        {"name": "x", "redirect_uri": "https://exa mple.com/cb"},
        {"name": "x", "redirect_uri": "https://exämple.com/cb"},
        {"name": "x", "redirect_uri": "https://example.com:99999/cb"},
        {"name": "x", "redirect_uri": "https://example.com/" + "a" * 2048},
    ],
)
async def test_bad_input_is_422(alice: User, body: dict[str, Any]) -> None:
    r = await alice.post("/oauth/clients", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"


async def test_rotate_replaces_the_secret(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    issued = await tokens_for(api, client, alice)
    code = await code_for(api, client, alice)
    r = await bob.post(f"/oauth/clients/{client['id']}/actions/rotate-credentials")
    assert r.status_code == 200
    rotated = r.json()
    assert rotated["id"] == client["id"]
    new_secret = rotated["secret"]
    assert new_secret.startswith("tkc_")
    assert new_secret != client["secret"]
    info = (await bob.get(f"/oauth/clients/{client['id']}")).json()
    assert info["secret"] == hint_of(new_secret)
    # The old secret works nowhere; the authorizations stay, for the new one.
    assert (await exchange(api, client["secret"], code)).status_code == 401
    assert (
        await refresh(api, client["secret"], issued["refresh_token"]["token"])
    ).status_code == 401
    assert (
        await as_user(alice, issued["access_token"]["token"]).get("/account")
    ).status_code == 200
    assert (await exchange(api, new_secret, code)).status_code == 201
    assert (await refresh(api, new_secret, issued["refresh_token"]["token"])).status_code == 201


async def test_delete_revokes_its_authorizations(api: ApiClient, alice: User, bob: User) -> None:
    client = await make_client(bob)
    issued = await tokens_for(api, client, alice)
    path = f"/oauth/clients/{client['id']}"
    r = await bob.delete(path)
    assert r.status_code == 200
    assert r.json()["id"] == client["id"]
    assert REDACTION in r.json()["secret"]
    assert (await bob.get(path)).status_code == 404
    assert (
        await as_user(alice, issued["access_token"]["token"]).get("/account")
    ).status_code == 401
    held = (await alice.get("/oauth/authorizations")).json()
    assert [a for a in held if a["client"] is not None] == []
    assert (await alice.get("/account")).status_code == 200


async def test_other_users_clients_are_404(alice: User, bob: User) -> None:
    client = await make_client(alice)
    path = f"/oauth/clients/{client['id']}"
    for r in [
        await bob.get(path),
        await bob.patch(path, json={"name": "mine now"}),
        await bob.delete(path),
        await bob.post(f"{path}/actions/rotate-credentials"),
        await alice.get("/oauth/clients/not-a-uuid"),
    ]:
        assert r.status_code == 404
        assert r.json() == {
            "id": "not_found",
            "message": "Couldn't find that OAuth client.",
            "resource": "oauth_client",
        }
    assert (await alice.get(path)).json()["name"] == client["name"]


@pytest.mark.parametrize("scope", [["read"], ["identity"], ["write-protected"]])
async def test_non_global_tokens_are_403(api: ApiClient, alice: User, scope: list[str]) -> None:
    limited = await api.token_for(alice, scope=scope)
    client = await make_client(alice)
    path = f"/oauth/clients/{client['id']}"
    calls = [
        ("GET", "/oauth/clients"),
        ("POST", "/oauth/clients"),
        ("GET", path),
        ("PATCH", path),
        ("DELETE", path),
        ("POST", f"{path}/actions/rotate-credentials"),
    ]
    for method, target in calls:
        r = await api.request(method, target, token=limited.token, json={})
        assert r.status_code == 403, (method, target, r.text)
    assert (await api.request("GET", "/oauth/clients")).status_code == 401

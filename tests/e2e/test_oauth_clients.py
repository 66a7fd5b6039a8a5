"""clients:* and authorizations:update/rotate for OAuth clients, through the real CLI.

The pinned CLI's `authorizations:create` has no `--client` flag (its source sends only
description, expires_in and scope), so an authorization for a client is created over the
API here and given to a client with `authorizations:update --client-id --client-secret`.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.e2e.conftest import V3, Heroku, LiveServer, json_of, styled_object

pytestmark = pytest.mark.e2e

REDACTION = "*" * 10


def shell_vars(out: str) -> dict[str, str]:
    return dict(re.findall(r"^(HEROKU_OAUTH_\w+)=(\S+)$", out, re.MULTILINE))


def refresh(server: LiveServer, secret: str, token: str) -> httpx.Response:
    body = {
        "client": {"secret": secret},
        "grant": {"type": "refresh_token"},
        "refresh_token": {"token": token},
    }
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        return http.post("/oauth/tokens", json=body, headers={"Accept": V3})


def test_clients_lifecycle(heroku: Heroku, api: httpx.Client, server: LiveServer) -> None:
    _, out, _ = heroku("clients:create", "E2E RP", "https://rp.example.com/auth/callback")
    created = shell_vars(out)
    client_id, secret = created["HEROKU_OAUTH_ID"], created["HEROKU_OAUTH_SECRET"]
    assert secret.startswith("tkc_")
    assert REDACTION not in secret

    _, out, _ = heroku("clients")
    [row] = [line for line in out.splitlines() if client_id in line]
    assert "E2E RP" in row
    assert "https://rp.example.com/auth/callback" in row

    _, out, _ = heroku("clients:info", client_id)
    assert "=== E2E RP" in out
    shown = styled_object(out)
    assert shown["redirect_uri"] == "https://rp.example.com/auth/callback"
    # Only create and rotate show the secret; the server keeps a digest of it.
    assert shown["secret"] == secret[:8] + REDACTION + secret[-4:]
    _, out, _ = heroku("clients:info", client_id, "--json")
    assert json_of(api.get(f"/oauth/clients/{client_id}"))["name"] == "E2E RP"
    assert '"ignores_delinquent": false' in out

    heroku("clients:update", client_id, "-n", "E2E RP 2", "--url", "http://localhost:4000/cb")
    info = json_of(api.get(f"/oauth/clients/{client_id}"))
    assert (info["name"], info["redirect_uri"]) == ("E2E RP 2", "http://localhost:4000/cb")

    # An authorization for the client, renewed with its secret.
    r = api.post("/oauth/authorizations", json={"client": client_id, "scope": ["read"]})
    assert r.status_code == 201, r.text
    auth = r.json()
    renewed = refresh(server, secret, auth["refresh_token"]["token"])
    assert renewed.status_code == 201, renewed.text
    current = renewed.json()["refresh_token"]["token"]
    _, out, _ = heroku("clients:rotate", client_id, "--shell")
    rotated = shell_vars(out)["HEROKU_OAUTH_SECRET"]
    assert rotated.startswith("tkc_")
    assert rotated != secret
    assert refresh(server, secret, current).status_code == 401
    assert refresh(server, rotated, current).status_code == 201

    heroku("clients:destroy", client_id)
    assert api.get(f"/oauth/clients/{client_id}").status_code == 404
    # Its authorizations went with it.
    assert api.get(f"/oauth/authorizations/{auth['id']}").status_code == 404
    _, out, _ = heroku("clients")
    assert client_id not in out


def test_authorizations_for_a_client(heroku: Heroku, api: httpx.Client) -> None:
    _, out, _ = heroku("clients:create", "Given RP", "https://given.example.com/cb")
    created = shell_vars(out)
    client_id, secret = created["HEROKU_OAUTH_ID"], created["HEROKU_OAUTH_SECRET"]
    _, out, _ = heroku("authorizations:create", "-d", "to give away", "--json")
    auth_id = json.loads(out)["id"]

    code, _, err = heroku(
        "authorizations:update",
        auth_id,
        "--client-id",
        client_id,
        "--client-secret",
        "tkc_wrong",
        check=False,
    )
    assert code != 0
    assert "no OAuth client has that id and secret" in err

    _, out, _ = heroku(
        "authorizations:update", auth_id, "--client-id", client_id, "--client-secret", secret
    )
    shown = styled_object(out)
    assert shown["Client"] == "Given RP"
    assert shown["Redirect URI"] == "https://given.example.com/cb"

    _, out, _ = heroku("authorizations:info", auth_id)
    assert styled_object(out)["Client"] == "Given RP"
    before = json_of(api.get(f"/oauth/authorizations/{auth_id}"))["access_token"]["token"]

    _, out, _ = heroku("authorizations:rotate", auth_id)
    shown = styled_object(out)
    assert shown["Client"] == "Given RP"
    token = shown["Token"]
    assert token.startswith("tku_")
    assert REDACTION not in token
    after = json_of(api.get(f"/oauth/authorizations/{auth_id}"))["access_token"]["token"]
    assert after == token[:8] + REDACTION + token[-4:]
    assert after != before

    heroku("authorizations:revoke", auth_id)
    assert api.get(f"/oauth/authorizations/{auth_id}").status_code == 404
    heroku("clients:destroy", client_id)

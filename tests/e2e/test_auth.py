"""auth:*, login/logout and authorizations:* through the real CLI."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pexpect
import pytest

from tests.e2e.conftest import (
    CLI_TIMEOUT,
    V3,
    Account,
    Heroku,
    LiveServer,
    json_of,
    plain,
    styled_object,
)

pytestmark = pytest.mark.e2e


def as_token(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Accept": V3, "Authorization": f"Bearer {token}"},
        timeout=30,
        trust_env=False,
    )


def authorizations(api: httpx.Client) -> list[dict[str, object]]:
    held: list[dict[str, object]] = json_of(api.get("/oauth/authorizations"))
    return held


def test_whoami(heroku: Heroku) -> None:
    _, out, err = heroku("auth:whoami")
    assert out == "owner@example.com\n"
    assert "HEROKU_API_KEY is set" in err


def test_whoami_with_a_bad_key(heroku: Heroku) -> None:
    code, out, err = heroku("auth:whoami", check=False, env_extra={"HEROKU_API_KEY": "nope"})
    assert code != 0
    assert out == ""
    assert "Error ID: unauthorized" in err


def test_whoami_without_credentials(heroku: Heroku) -> None:
    code, out, err = heroku("auth:whoami", check=False, env_extra={"HEROKU_API_KEY": None})
    assert code == 100
    assert "not logged in" in err
    assert out == ""


def test_auth_token(heroku: Heroku, owner: Account) -> None:
    _, out, err = heroku("auth:token")
    assert out == owner.key + "\n"
    # The CLI looks the token up in GET /oauth/authorizations and only warns when that fails.
    assert "Error" not in err, err


def test_auth_token_warns_about_expiry(heroku: Heroku, api: httpx.Client) -> None:
    r = api.post("/oauth/authorizations", json={"description": "short", "expires_in": 3600})
    assert r.status_code == 201, r.text
    token = json_of(r)["access_token"]["token"]
    _, out, err = heroku("auth:token", env_extra={"HEROKU_API_KEY": token})
    assert out == token + "\n"
    assert "token will expire" in err
    assert "Error" not in err, err


def test_authorizations_create(heroku: Heroku, api: httpx.Client, server: LiveServer) -> None:
    _, out, err = heroku("authorizations:create", "-d", "e2e create", "-s", "read", "-e", "3600")
    assert "Creating OAuth Authorization... done" in err
    fields = styled_object(out)
    assert fields["Description"] == "e2e create"
    assert fields["Scope"] == "read"
    assert "Expires at" in fields
    token = fields["Token"]
    held = {str(a["id"]): a for a in authorizations(api)}
    assert fields["ID"] in held
    assert held[fields["ID"]]["description"] == "e2e create"
    assert held[fields["ID"]]["scope"] == ["read"]

    # The new token works, for reading apps only.
    with as_token(server, token) as client:
        assert client.get("/apps").status_code == 200
        assert json_of(client.post("/apps", json={}))["id"] == "forbidden"

    _, out, _ = heroku("auth:token", env_extra={"HEROKU_API_KEY": token})
    assert out == token + "\n"


def test_authorizations_create_short_and_json(heroku: Heroku, server: LiveServer) -> None:
    _, out, _ = heroku("authorizations:create", "-d", "short one", "--short")
    token = out.strip()
    assert token
    assert "\n" not in token
    with as_token(server, token) as client:
        assert json_of(client.get("/account"))["email"] == "owner@example.com"

    _, out, _ = heroku("authorizations:create", "-d", "json one", "-s", "read,write", "--json")
    created = json.loads(out)
    assert created["description"] == "json one"
    assert created["scope"] == ["read", "write"]
    assert created["access_token"]["token"]


def test_authorizations(heroku: Heroku, api: httpx.Client) -> None:
    r = api.post("/oauth/authorizations", json={"description": "listed one", "scope": ["read"]})
    assert r.status_code == 201, r.text
    created = json_of(r)

    _, out, _ = heroku("authorizations")
    row = next(line for line in out.splitlines() if "listed one" in line)
    assert created["id"] in row
    assert row.split()[-1] == "read"
    for held in authorizations(api):
        assert held["id"] in out

    _, out, _ = heroku("authorizations", "--json")
    listed = json.loads(out)
    assert created["id"] in {a["id"] for a in listed}
    # The CLI sorts --json output by description, so every description is a string.
    assert all(isinstance(a["description"], str) for a in listed)


def login(heroku: Heroku, email: str, password: str) -> tuple[int, str]:
    """`heroku login --interactive` on a pseudo-terminal, as a person would type it."""
    # The CLI refuses to log in while HEROKU_API_KEY is set; a dumb terminal keeps the
    # prompts free of cursor movement so that the transcript can be matched.
    env = heroku.env({"HEROKU_API_KEY": None, "TERM": "dumb"})
    child = pexpect.spawn(
        str(heroku.binary),
        ["login", "--interactive"],
        env=env,
        cwd=str(heroku.home),
        encoding="utf-8",
        timeout=CLI_TIMEOUT,
        dimensions=(40, 200),
    )
    try:
        child.expect("Email")
        child.sendline(email)
        child.expect("Password")
        child.sendline(password)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    transcript = plain(str(child.before or ""))
    return int(child.exitstatus if child.exitstatus is not None else -1), transcript


def netrc_entries(home: Path) -> dict[str, tuple[str, str]]:
    path = home / ".netrc"
    if not path.exists():
        return {}
    words = path.read_text().split()
    entries = {}
    for i, word in enumerate(words):
        if word == "machine":
            fields = dict(zip(words[i + 2 : i + 6 : 2], words[i + 3 : i + 7 : 2], strict=False))
            entries[words[i + 1]] = (fields.get("login", ""), fields.get("password", ""))
    return entries


def test_login_interactive(heroku_fresh: Heroku, owner: Account, api: httpx.Client) -> None:
    code, transcript = login(heroku_fresh, owner.email, owner.password)
    assert code == 0, transcript
    assert "Logged in as owner@example.com" in transcript

    host = f"127.0.0.1:{heroku_fresh.server.port}"
    entries = netrc_entries(heroku_fresh.home)
    assert entries[host][0] == owner.email
    token = entries[host][1]
    assert token
    assert token != owner.key

    # The CLI named the authorization after this machine.
    mine = [a for a in authorizations(api) if a.get("access_token") and token_matches(a, token)]
    assert len(mine) == 1
    assert mine[0]["description"] == f"Heroku CLI login from {socket.gethostname()}"

    # From now on the CLI uses the stored login, not an API key.
    _, out, _ = heroku_fresh("auth:whoami", env_extra={"HEROKU_API_KEY": None})
    assert out == "owner@example.com\n"
    _, out, _ = heroku_fresh("auth:token", env_extra={"HEROKU_API_KEY": None})
    assert out == token + "\n"


def test_login_with_a_wrong_password(heroku_fresh: Heroku, owner: Account) -> None:
    code, transcript = login(heroku_fresh, owner.email, "not the password")
    assert code == 2, transcript
    assert "Invalid credentials provided" in transcript
    assert netrc_entries(heroku_fresh.home) == {}


def token_matches(authorization: dict[str, object], token: str) -> bool:
    access = authorization["access_token"]
    assert isinstance(access, dict)
    shown = str(access.get("token") or "")
    if "*" not in shown:
        return shown == token
    prefix, _, suffix = shown.partition("*")
    return token.startswith(prefix) and token.endswith(suffix.lstrip("*"))


def test_logout(
    heroku_fresh: Heroku, owner: Account, api: httpx.Client, server: LiveServer
) -> None:
    code, transcript = login(heroku_fresh, owner.email, owner.password)
    assert code == 0, transcript
    token = netrc_entries(heroku_fresh.home)[f"127.0.0.1:{server.port}"][1]
    login_auth = next(a for a in authorizations(api) if token_matches(a, token))

    _, _, err = heroku_fresh("logout", env_extra={"HEROKU_API_KEY": None})
    assert "Logging out... done" in err

    # The login's authorization is gone server-side, its token with it.
    assert api.get(f"/oauth/authorizations/{login_auth['id']}").status_code == 404
    with as_token(server, token) as client:
        assert client.get("/account").status_code == 401
    # The default API key survives a logout.
    assert json_of(api.get("/account"))["email"] == owner.email
    assert netrc_entries(heroku_fresh.home) == {}
    code, _, err = heroku_fresh("auth:whoami", check=False, env_extra={"HEROKU_API_KEY": None})
    assert code == 100
    assert "not logged in" in err

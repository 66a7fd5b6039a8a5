"""A team's life through the real CLI, each step read back from the server.

An operator creates the team; its admin invites a member (the CLI's `members:add`
invites, since every Tenku team has `team-invite-acceptance`), who accepts with the
mailed token; the admin creates a team app, grants and changes a third person's
permissions (which the server then enforces on that person's own CLI), locks and
unlocks the app, restricts add-ons to an allow-list, hands the app to the member and
back into the team, and finally removes the member, whose access ends at once.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import V3, Account, Heroku, LiveServer, json_of, unique_app_name

pytestmark = pytest.mark.e2e

TOKEN = re.compile(r"/teams/invitations/([A-Za-z0-9_-]+)/accept")


def _operator(server: LiveServer, *args: str) -> str:
    """An operator command on the live server's data directory; its output."""
    done = server.tenku(*args, "--data-dir", str(server.data_dir))
    assert done.returncode == 0, done.stderr
    return done.stdout


def _mailed_token(server: LiveServer, to: str) -> str:
    listed = _operator(server, "mail", "list")
    [message_id] = [line.split()[0] for line in listed.splitlines() if to in line][-1:]
    shown = _operator(server, "mail", "show", message_id)
    match = TOKEN.search(shown)
    assert match is not None, shown
    return match.group(1)


def _client(server: LiveServer, account: Account) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Accept": V3, "Authorization": f"Bearer {account.key}"},
        trust_env=False,
    )


def _permissions(api: httpx.Client, app: str, email: str) -> list[str]:
    held = json_of(api.get(f"/teams/apps/{app}/collaborators/{email}"))
    return sorted(p["name"] for p in held["permissions"])


def _roles(api: httpx.Client, team: str) -> dict[str, str]:
    return {m["email"]: m["role"] for m in json_of(api.get(f"/teams/{team}/members"))}


def test_a_team_through_the_cli(
    server: LiveServer,
    heroku: Heroku,
    heroku_other: Heroku,
    heroku_bin: Path,
    api: httpx.Client,
    owner: Account,
    other: Account,
    tmp_path: Path,
) -> None:
    team = unique_app_name("team")
    _operator(server, "teams", "create", team, "--admin", owner.email)
    third = server.create_user(f"third-{uuid.uuid4().hex[:8]}@example.com")
    heroku_third = Heroku(heroku_bin, server, third.key, tmp_path / "third")

    # teams: the operator made the owner its admin.
    row = next(line.split() for line in heroku("teams").stdout.splitlines() if team in line)
    assert row == [team, "admin"]

    # members:add invites; the invitee accepts with the mailed token and is a member.
    _, _, err = heroku("members:add", other.email, "--role", "member", "--team", team)
    assert other.email in err
    assert other.email not in _roles(api, team)
    token = _mailed_token(server, other.email)
    with _client(server, other) as as_other:
        assert as_other.post(f"/teams/invitations/{token}/accept").status_code == 200
    assert _roles(api, team) == {owner.email: "admin", other.email: "member"}
    _, out, _ = heroku("members", "--team", team)
    member_rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if "@" in line}
    assert member_rows[other.email] == "member"

    # members:set changes the role, and back.
    heroku("members:set", other.email, "--role", "admin", "--team", team)
    assert _roles(api, team)[other.email] == "admin"
    heroku("members:set", other.email, "--role", "member", "--team", team)
    assert _roles(api, team)[other.email] == "member"

    # apps:create --team and apps --team.
    app = unique_app_name("tapp")
    _, _, err = heroku("apps:create", app, "--team", team)
    assert f"Creating {app}... done" in err
    assert json_of(api.get(f"/apps/{app}"))["team"]["name"] == team
    assert app in heroku("apps", "--team", team).stdout

    # access:add with permissions; the server enforces them on the third person's CLI.
    heroku("access:add", third.email, "-a", app, "--permissions", "deploy")
    assert _permissions(api, app, third.email) == ["deploy", "view"]
    _, out, _ = heroku("access", "-a", app)
    assert third.email in out
    heroku_third("config:set", "GREETING=hello", "-a", app)
    assert json_of(api.get(f"/apps/{app}/config-vars"))["GREETING"] == "hello"
    code, _, err = heroku_third("apps:rename", f"{app}-x", "-a", app, check=False)
    assert code != 0
    assert "Error ID: forbidden" in err

    # access:update replaces the permissions: with manage alone, config vars are out of
    # reach (they take deploy or operate) and custom domains within it.
    heroku("access:update", third.email, "-a", app, "--permissions", "manage")
    assert _permissions(api, app, third.email) == ["manage", "view"]
    code, _, err = heroku_third("config:set", "GREETING=again", "-a", app, check=False)
    assert code != 0
    assert "Error ID: forbidden" in err
    assert json_of(api.get(f"/apps/{app}/config-vars"))["GREETING"] == "hello"
    heroku_third("domains:add", f"www.{app}.example.com", "-a", app)
    hostnames = {d["hostname"] for d in json_of(api.get(f"/apps/{app}/domains"))}
    assert f"www.{app}.example.com" in hostnames

    # access:remove ends the third person's access.
    heroku("access:remove", third.email, "-a", app)
    assert api.get(f"/teams/apps/{app}/collaborators/{third.email}").status_code == 404
    code, _, err = heroku_third("apps:info", "-a", app, check=False)
    assert code != 0
    assert "Error ID: forbidden" in err

    # apps:lock keeps plain members out; apps:unlock lets them back in.
    assert heroku_other("apps:info", "-a", app).returncode == 0
    heroku("apps:lock", "-a", app)
    assert json_of(api.get(f"/teams/apps/{app}"))["locked"] is True
    assert heroku_other("apps:info", "-a", app, check=False).returncode != 0
    heroku("apps:unlock", "-a", app)
    assert json_of(api.get(f"/teams/apps/{app}"))["locked"] is False
    assert heroku_other("apps:info", "-a", app).returncode == 0

    # An allow-list refuses other add-ons to members, with the server's message.
    r = api.patch(f"/teams/{team}/preferences", json={"whitelisting-enabled": True})
    assert r.status_code == 200, r.text
    heroku("access:add", other.email, "-a", app, "--permissions", "deploy")
    code, _, err = heroku_other("addons:create", "heroku-redis", "-a", app, check=False)
    assert code != 0
    assert f"The {team} team allows only the add-ons on its list" in err
    assert json_of(api.get(f"/apps/{app}/addons")) == []

    # apps:transfer to a member's account, then back into the team by its new owner.
    heroku("apps:transfer", other.email, "-a", app, "--confirm", app)
    with _client(server, other) as as_other:
        held = json_of(as_other.get(f"/apps/{app}"))
    assert held["owner"]["email"] == other.email
    assert held["team"] is None
    heroku_other("apps:transfer", team, "-a", app)
    assert json_of(api.get(f"/apps/{app}"))["team"]["name"] == team

    # A team holding apps cannot be deleted.
    refused = api.delete(f"/teams/{team}")
    assert refused.status_code == 422, refused.text

    # members:remove ends the member's access to every team app at once.
    assert heroku_other("apps:info", "-a", app).returncode == 0
    heroku("members:remove", other.email, "--team", team)
    assert other.email not in _roles(api, team)
    code, _, err = heroku_other("apps:info", "-a", app, check=False)
    assert code != 0
    assert "Error ID: forbidden" in err

    heroku("apps:destroy", "-a", app, "--confirm", app)
    assert api.delete(f"/teams/{team}").status_code == 200

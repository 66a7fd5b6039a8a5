"""Team apps through the real CLI: apps:create --team, apps --team, lock, join, transfer."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Account, Heroku, json_of, unique_app_name

pytestmark = pytest.mark.e2e


def _team_app(api: httpx.Client, team: str) -> str:
    name = unique_app_name("team")
    r = api.post("/teams/apps", json={"team": team, "name": name})
    assert r.status_code == 201, r.text
    return name


def test_create_in_team_and_list(heroku: Heroku, api: httpx.Client, team: str) -> None:
    name = unique_app_name("team")
    _, _, err = heroku("apps:create", name, "--team", team)
    assert f"Creating {name}... done" in err
    held = json_of(api.get(f"/apps/{name}"))
    assert held["team"]["name"] == team
    assert held["owner"]["email"] == f"{team}@herokumanager.com"
    _, out, _ = heroku("apps", "--team", team)
    assert out.splitlines()[0] == f"=== Apps in team {team}"
    assert name in out
    # `heroku apps` lists personal apps only; --all adds the team's.
    assert name not in heroku("apps").stdout
    assert name in heroku("apps", "--all").stdout
    # HEROKU_TEAM is the CLI's default --team.
    other_name = unique_app_name("team")
    heroku("apps:create", other_name, env_extra={"HEROKU_TEAM": team})
    assert json_of(api.get(f"/apps/{other_name}"))["team"]["name"] == team
    for app in (name, other_name):
        api.delete(f"/apps/{app}")


def test_lock_unlock_and_join(
    heroku: Heroku, heroku_other: Heroku, api: httpx.Client, team: str
) -> None:
    app = _team_app(api, team)
    _, _, err = heroku("apps:lock", "-a", app)
    assert f"Locking {app}... done" in err
    assert f"{app} [locked]" in heroku("apps", "--team", team).stdout
    code, _, err = heroku("apps:lock", "-a", app, check=False)
    assert code != 0
    assert "already locked" in err
    # The member no longer reaches the locked app, nor can join it.
    code, _, err = heroku_other("apps:info", "-a", app, check=False)
    assert code != 0
    assert "Error ID: forbidden" in err
    assert heroku_other("apps:join", "-a", app, check=False).returncode != 0
    _, _, err = heroku("apps:unlock", "-a", app)
    assert f"Unlocking {app}... done" in err
    _, _, err = heroku_other("apps:join", "-a", app)
    assert f"Joining {app}... done" in err
    assert json_of(api.get(f"/teams/apps/{app}/collaborators/other@example.com"))["role"] == (
        "member"
    )
    _, _, err = heroku("access:update", "other@example.com", "-a", app, "-p", "deploy")
    assert "done" in err
    permissions = json_of(api.get(f"/apps/{app}/collaborators/other@example.com"))["permissions"]
    assert sorted(p["name"] for p in permissions) == ["deploy", "view"]
    _, _, err = heroku_other("apps:leave", "-a", app)
    assert f"Leaving {app}... done" in err
    assert api.get(f"/apps/{app}/collaborators/other@example.com").status_code == 404
    api.delete(f"/apps/{app}")


def test_transfer_into_and_out_of_a_team(
    heroku: Heroku, heroku_other: Heroku, api: httpx.Client, team: str, other: Account
) -> None:
    app = unique_app_name()
    assert api.post("/apps", json={"name": app}).status_code == 201
    _, _, err = heroku("apps:transfer", team, "-a", app)
    assert f"Transferring {app} to {team}... done" in err
    held = json_of(api.get(f"/apps/{app}"))
    assert held["team"]["name"] == team
    # Out again, to a member's account: the CLI asks to confirm, then PATCHes the team app.
    _, _, err = heroku("apps:transfer", other.email, "-a", app, "--confirm", app)
    assert f"Transferring {app} to {other.email}... done" in err
    assert api.get(f"/apps/{app}").status_code == 403
    assert f"=== {app}" in heroku_other("apps:info", "-a", app).stdout
    heroku_other("apps:destroy", "-a", app, "--confirm", app)

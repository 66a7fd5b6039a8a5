"""Teams through the real CLI: the commands that read and change teams and roles."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import Heroku, json_of

pytestmark = pytest.mark.e2e


def test_teams_lists_the_callers_teams_and_roles(
    heroku: Heroku, heroku_other: Heroku, team: str
) -> None:
    _, out, _ = heroku("teams")
    row = next(line.split() for line in out.splitlines() if team in line)
    assert row == [team, "admin"]
    _, out, _ = heroku_other("orgs")
    row = next(line.split() for line in out.splitlines() if team in line)
    assert row == [team, "member"]
    _, out, _ = heroku("teams", "--json")
    [listed] = [t for t in json.loads(out) if t["name"] == team]
    assert listed["type"] == "team"
    assert listed["role"] == "admin"


def test_members_set_changes_a_role(heroku: Heroku, api: httpx.Client, team: str) -> None:
    _, _, err = heroku("members:set", "other@example.com", "--role", "admin", "--team", team)
    assert f"Adding other@example.com to {team} as admin... done" in err
    roles = {m["email"]: m["role"] for m in json_of(api.get(f"/teams/{team}/members"))}
    assert roles == {"owner@example.com": "admin", "other@example.com": "admin"}


def test_members_set_refuses_an_unknown_role(heroku: Heroku, team: str) -> None:
    code, _, err = heroku(
        "members:set", "other@example.com", "--role", "owner", "--team", team, check=False
    )
    assert code != 0
    assert "Error ID: invalid_params" in err

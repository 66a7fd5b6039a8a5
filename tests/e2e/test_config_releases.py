"""config:* and releases:* through the real CLI: config changes are releases."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.e2e.conftest import Heroku, json_of, styled_object

pytestmark = pytest.mark.e2e


def config_of(api: httpx.Client, app: str) -> dict[str, str]:
    held: dict[str, str] = json_of(api.get(f"/apps/{app}/config-vars"))
    return held


def set_config(api: httpx.Client, app: str, **changes: str | None) -> None:
    """Config changes that only set the scene go through the API: one CLI run costs a second."""
    r = api.patch(f"/apps/{app}/config-vars", json=changes)
    assert r.status_code == 200, r.text


def release_rows(out: str) -> dict[int, str]:
    """`heroku releases` table rows, by version."""
    rows = {}
    for line in out.splitlines():
        found = re.match(r"\s*v(\d+)\s+(.*)$", line)
        if found:
            rows[int(found.group(1))] = found.group(2)
    return rows


def test_config_set(heroku: Heroku, app: str, api: httpx.Client) -> None:
    _, out, err = heroku("config:set", "FOO=bar", "MULTI=a b=c", "-a", app)
    # v1 is the app's initial release, so this change is v2.
    assert f"Setting FOO, MULTI and restarting {app}... done, v2" in err
    assert out.splitlines() == ["FOO:   bar", "MULTI: a b=c"]
    assert config_of(api, app) == {"FOO": "bar", "MULTI": "a b=c"}

    _, _, err = heroku("config:set", "FOO=baz", "-a", app)
    assert f"Setting FOO and restarting {app}... done, v3" in err
    assert config_of(api, app)["FOO"] == "baz"


def test_config_lists_vars(heroku: Heroku, app: str, api: httpx.Client) -> None:
    set_config(api, app, B_VAR="2", A_VAR="one")
    _, out, _ = heroku("config", "-a", app)
    assert out.splitlines() == [f"=== {app} Config Vars", "", "A_VAR: one", "B_VAR: 2"]
    _, out, _ = heroku("config", "-a", app, "--json")
    assert json.loads(out) == {"A_VAR": "one", "B_VAR": "2"}
    _, out, _ = heroku("config", "-a", app, "--shell")
    assert out.splitlines() == ["A_VAR=one", "B_VAR=2"]


def test_config_empty(heroku: Heroku, app: str) -> None:
    _, out, _ = heroku("config", "-a", app)
    assert out.splitlines()[0] == f"=== {app} Config Vars"
    assert [line for line in out.splitlines()[1:] if line.strip()] == []


def test_config_get(heroku: Heroku, app: str, api: httpx.Client) -> None:
    set_config(api, app, DATABASE_URL="postgres://x@y/z")
    assert heroku("config:get", "DATABASE_URL", "-a", app).stdout == "postgres://x@y/z\n"
    assert heroku("config:get", "MISSING", "-a", app).stdout == "\n"
    _, out, _ = heroku("config:get", "DATABASE_URL", "-a", app, "--shell")
    assert out == "DATABASE_URL='postgres://x@y/z'\n"


def test_config_unset(heroku: Heroku, app: str, api: httpx.Client) -> None:
    set_config(api, app, KEEP="1", DROP="2")
    _, _, err = heroku("config:unset", "DROP", "-a", app)
    assert f"Unsetting DROP and restarting {app}... done, v3" in err
    assert config_of(api, app) == {"KEEP": "1"}
    assert heroku("config:get", "DROP", "-a", app).stdout == "\n"


def test_releases(heroku: Heroku, app: str, api: httpx.Client) -> None:
    set_config(api, app, FOO="1", BAR="2")
    set_config(api, app, BAR=None)
    _, out, _ = heroku("releases", "-a", app)
    assert out.splitlines()[0] == f"=== {app} Releases - Current: v3"
    rows = release_rows(out)
    assert list(rows) == [3, 2, 1]
    assert rows[3].startswith("Remove BAR config vars")
    assert rows[2].startswith("Set FOO, BAR config vars")
    assert rows[1].startswith("Initial release")
    assert all("owner@example.com" in row for row in rows.values())


def test_releases_limit(heroku: Heroku, app: str, api: httpx.Client) -> None:
    for n in range(3):
        set_config(api, app, N=str(n))
    _, out, _ = heroku("releases", "-a", app, "-n", "2")
    assert list(release_rows(out)) == [4, 3]


def test_releases_json(heroku: Heroku, app: str, api: httpx.Client) -> None:
    set_config(api, app, FOO="1")
    _, out, _ = heroku("releases", "-a", app, "--json")
    releases = json.loads(out)
    assert [r["version"] for r in releases] == [2, 1]
    assert [r["current"] for r in releases] == [True, False]
    assert releases[0]["description"] == "Set FOO config vars"
    assert releases[0]["user"]["email"] == "owner@example.com"
    assert releases[0]["status"] == "succeeded"


def test_releases_info(heroku: Heroku, app: str, api: httpx.Client) -> None:
    set_config(api, app, FOO="1")
    set_config(api, app, FOO="2", BAR="x")

    _, out, _ = heroku("releases:info", "-a", app)
    lines = out.splitlines()
    assert lines[0] == "=== Release v3"
    fields = styled_object(out)
    assert fields["By"] == "owner@example.com"
    assert fields["Change"] == "Set FOO, BAR config vars"
    assert fields["Eligible for Rollback?"] == "Yes"
    assert "=== v3 Config vars" in lines
    assert lines[lines.index("=== v3 Config vars") + 2 :] == ["BAR: x", "FOO: 2"]

    # An older release shows the config it had, not the current one.
    _, out, _ = heroku("releases:info", "v2", "-a", app, "--shell")
    lines = out.splitlines()
    assert lines[0] == "=== Release v2"
    assert styled_object(out)["Change"] == "Set FOO config vars"
    assert lines[lines.index("=== v2 Config vars") + 2 :] == ["FOO=1"]


def test_releases_rollback(heroku: Heroku, app: str, api: httpx.Client) -> None:
    set_config(api, app, FOO="1")
    set_config(api, app, FOO="2", BAR="x")

    _, _, err = heroku("releases:rollback", "v2", "-a", app)
    assert f"Rolling back {app} to v2... done, v4" in err
    assert "To undo, run: heroku rollback v3" in err
    assert config_of(api, app) == {"FOO": "1"}
    rows = release_rows(heroku("releases", "-a", app).stdout)
    assert rows[4].startswith("Rollback to v2")

    # Without a version the CLI rolls back to the release before the current one.
    _, _, err = heroku("rollback", "-a", app)
    assert f"Rolling back {app} to v3... done, v5" in err
    assert config_of(api, app) == {"FOO": "2", "BAR": "x"}
    rows = release_rows(heroku("releases", "-a", app).stdout)
    assert rows[5].startswith("Rollback to v3")

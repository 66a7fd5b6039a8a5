"""access:* (collaborators) through the real CLI, with a second account."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Heroku, json_of

pytestmark = pytest.mark.e2e


def collaborator_emails(api: httpx.Client, app: str) -> set[str]:
    return {c["user"]["email"] for c in json_of(api.get(f"/apps/{app}/collaborators"))}


def test_access_add(heroku: Heroku, heroku_other: Heroku, app: str, api: httpx.Client) -> None:
    _, _, err = heroku("access:add", "other@example.com", "-a", app)
    assert f"Adding other@example.com access to the app {app}... done" in err
    assert "other@example.com" in collaborator_emails(api, app)

    # The collaborator now reaches the app and sees it among the apps shared with them.
    assert heroku_other("maintenance", "-a", app).stdout == "off\n"
    _, out, _ = heroku_other("apps")
    assert "Collaborated Apps" in out
    row = next(line for line in out.splitlines() if line.strip().startswith(app))
    assert "owner@example.com" in row


def test_access_lists_collaborators(heroku: Heroku, app: str, api: httpx.Client) -> None:
    r = api.post(f"/apps/{app}/collaborators", json={"user": "other@example.com"})
    assert r.status_code == 201, r.text
    _, out, _ = heroku("access", "-a", app)
    rows = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if "@" in line and len(line.split()) >= 2
    }
    assert rows["owner@example.com"] == ["owner"]
    assert rows["other@example.com"] == ["collaborator"]


def test_access_add_unknown_user(heroku: Heroku, app: str, api: httpx.Client) -> None:
    code, _, err = heroku("access:add", "nobody@example.com", "-a", app, check=False)
    assert code != 0
    assert "Error ID:" in err
    assert "nobody@example.com" not in collaborator_emails(api, app)


def test_access_remove(heroku: Heroku, heroku_other: Heroku, app: str, api: httpx.Client) -> None:
    api.post(f"/apps/{app}/collaborators", json={"user": "other@example.com"})
    _, _, err = heroku("access:remove", "other@example.com", "-a", app)
    assert f"Removing other@example.com access from the app {app}... done" in err
    assert "other@example.com" not in collaborator_emails(api, app)
    _, out, _ = heroku("access", "-a", app)
    assert "other@example.com" not in out
    code, _, err = heroku_other("maintenance", "-a", app, check=False)
    assert code != 0
    assert "Error ID: forbidden" in err

"""apps:*, maintenance, stack and regions through the real CLI."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import Heroku, LiveServer, json_of, styled_object, unique_app_name

pytestmark = pytest.mark.e2e


def test_apps_create_named(heroku: Heroku, api: httpx.Client, server: LiveServer) -> None:
    name = unique_app_name()
    _, out, err = heroku("apps:create", name)
    assert f"Creating {name}... done" in err
    # The CLI computes the git remote from HEROKU_HOST, so it points at this server.
    assert out.strip() == f"{server.web_url(name)} | https://127.0.0.1:{server.port}/{name}.git"
    held = json_of(api.get(f"/apps/{name}"))
    assert held["name"] == name
    assert held["owner"]["email"] == "owner@example.com"
    assert held["web_url"] == server.web_url(name)


def test_apps_create_unnamed(heroku: Heroku, api: httpx.Client, server: LiveServer) -> None:
    _, out, err = heroku("apps:create")
    found = re.search(r"Creating app\.\.\. done, (\S+)", err)
    assert found, err
    name = found.group(1)
    assert re.fullmatch(r"[a-z][a-z0-9-]+", name)
    assert out.startswith(f"{server.web_url(name)} | ")
    assert json_of(api.get(f"/apps/{name}"))["name"] == name


def test_apps_create_taken_name_is_refused(heroku: Heroku, app: str) -> None:
    code, _, err = heroku("apps:create", app, check=False)
    assert code != 0
    assert "Name is already taken" in err


def test_apps_lists_own_apps(heroku: Heroku, api: httpx.Client) -> None:
    names = sorted(unique_app_name() for _ in range(2))
    for name in names:
        assert api.post("/apps", json={"name": name}).status_code == 201
    _, out, _ = heroku("apps")
    lines = out.splitlines()
    assert lines[0] == "=== owner@example.com Apps"
    listed = [line.strip() for line in lines[1:] if line.strip()]
    assert set(names) <= set(listed)
    # The CLI sorts by name; the server's full list is what it printed.
    held = sorted(a["name"] for a in json_of(api.get("/users/~/apps")))
    assert listed == held


def test_apps_info(heroku: Heroku, app: str, server: LiveServer) -> None:
    _, out, _ = heroku("apps:info", "-a", app)
    assert out.splitlines()[0] == f"=== {app}"
    fields = styled_object(out)
    assert fields["Owner"] == "owner@example.com"
    assert fields["Region"] == "us"
    assert fields["Stack"] == "heroku-24"
    assert fields["Web URL"] == server.web_url(app)
    assert fields["Git URL"] == f"https://127.0.0.1:{server.port}/{app}.git"


def test_apps_info_shell(heroku: Heroku, app: str, server: LiveServer) -> None:
    _, out, _ = heroku("apps:info", "-a", app, "--shell")
    pairs = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert pairs["owner"] == "owner@example.com"
    assert pairs["stack"] == "heroku-24"
    assert pairs["web_url"] == server.web_url(app)


def test_apps_rename(heroku: Heroku, app: str, api: httpx.Client, server: LiveServer) -> None:
    new = unique_app_name("renamed")
    _, out, err = heroku("apps:rename", new, "-a", app)
    assert f"Renaming {app} to {new}... done" in err
    assert out.strip() == f"{server.web_url(new)} | https://127.0.0.1:{server.port}/{new}.git"
    assert api.get(f"/apps/{app}").status_code == 404
    assert json_of(api.get(f"/apps/{new}"))["name"] == new
    api.delete(f"/apps/{new}")


def test_apps_destroy(heroku: Heroku, app: str, api: httpx.Client) -> None:
    _, _, err = heroku("apps:destroy", "-a", app, "--confirm", app)
    assert f"Destroying {app} (including all add-ons)... done" in err
    r = api.get(f"/apps/{app}")
    assert r.status_code == 404
    assert json_of(r)["id"] == "not_found"


def test_apps_destroy_needs_matching_confirm(heroku: Heroku, app: str, api: httpx.Client) -> None:
    code, _, err = heroku("apps:destroy", "-a", app, "--confirm", "something-else", check=False)
    assert code != 0
    assert "Confirmation" in err or "confirm" in err
    assert api.get(f"/apps/{app}").status_code == 200


def test_maintenance_on_off(heroku: Heroku, app: str, api: httpx.Client) -> None:
    assert heroku("maintenance", "-a", app).stdout.strip() == "off"

    _, _, err = heroku("maintenance:on", "-a", app)
    assert f"Enabling maintenance mode for {app}... done" in err
    assert json_of(api.get(f"/apps/{app}"))["maintenance"] is True
    assert heroku("maintenance", "-a", app).stdout.strip() == "on"

    _, _, err = heroku("maintenance:off", "-a", app)
    assert f"Disabling maintenance mode for {app}... done" in err
    assert json_of(api.get(f"/apps/{app}"))["maintenance"] is False
    assert heroku("maintenance", "-a", app).stdout.strip() == "off"


def test_stack(heroku: Heroku, app: str, api: httpx.Client) -> None:
    _, out, _ = heroku("stack", "-a", app)
    lines = out.splitlines()
    assert lines[0] == f"=== {app} Available Stacks"
    assert "* heroku-24" in lines
    stacks = {s["name"] for s in json_of(api.get("/stacks"))}
    shown = {line.strip().lstrip("* ").split()[0] for line in lines[1:] if line.strip()}
    assert shown == {"cedar-10" if s == "cedar" else s for s in stacks}


def test_regions(heroku: Heroku, api: httpx.Client) -> None:
    _, out, _ = heroku("regions")
    rows = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.strip() and not line.lstrip().startswith(("ID", "─"))
    }
    for region in json_of(api.get("/regions")):
        assert region["name"] in rows, out
        assert region["description"] in rows[region["name"]]
    assert "United States" in rows["us"]
    assert "Europe" in rows["eu"]


def test_other_user_cannot_reach_app(heroku_other: Heroku, app: str) -> None:
    code, out, err = heroku_other("maintenance", "-a", app, check=False)
    assert code != 0
    assert out == ""
    assert "Error ID: forbidden" in err
    _, out, _ = heroku_other("apps")
    assert app not in out

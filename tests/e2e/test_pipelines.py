"""Pipelines through the real CLI: pipelines:create, add, update --stage, pipelines, info,
promote (a pushed app's slug released on two production apps that then serve it), rename,
remove and destroy, each read back from the server; and a team's pipeline.

GitHub-connected features (pipelines:connect, setup, diff's GitHub compare, review apps)
talk to Heroku's Kolkrabbi service and are not served.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Heroku, LiveServer, json_of, unique_app_name
from tests.e2e.test_dynos import routed, states, until
from tests.e2e.test_git_deploy import PUSH_TIMEOUT, SAMPLES, cli_in, git

pytestmark = pytest.mark.e2e


def pipeline_name() -> str:
    return f"pl-{uuid.uuid4().hex[:10]}"


def greets(server: LiveServer, app: str, wanted: str) -> bool:
    r = routed(server, app)
    return r.status_code == 200 and r.json()["greeting"] == wanted


def up(api: httpx.Client, app: str) -> bool:
    return states(api, app) == {"web.1": "up"}


@pytest.fixture
def apps(api: httpx.Client) -> Iterator[dict[str, str]]:
    """Three apps of the owner's: the source, and two production apps with a greeting each."""
    names = {role: unique_app_name(f"pl{role}") for role in ("src", "eu", "us")}
    for role, name in names.items():
        assert api.post("/apps", json={"name": name}).status_code == 201
        if role != "src":
            r = api.patch(f"/apps/{name}/config-vars", json={"GREETING": f"hello {role}"})
            assert r.status_code == 200
    yield names
    for name in names.values():
        api.delete(f"/apps/{name}")


def push(heroku: Heroku, repo: Path, app: str) -> None:
    """The dyno test app (it answers with its GREETING), pushed with git."""
    repo.mkdir(parents=True)
    shutil.copy(SAMPLES / "dyno-app" / "server.py", repo / "server.py")
    (repo / "Procfile").write_text("web: python3 server.py\n")
    git(heroku, repo, "init", "-q", "-b", "main")
    git(heroku, repo, "add", "-A")
    git(heroku, repo, "commit", "-q", "-m", "first")
    cli_in(heroku, repo, "git:remote", "-a", app)
    out = git(heroku, repo, "push", "heroku", "main", timeout=PUSH_TIMEOUT)
    assert "remote: Verifying deploy... done." in out


def coupling(api: httpx.Client, app: str) -> httpx.Response:
    return api.get(f"/apps/{app}/pipeline-couplings")


def test_pipeline_commands_and_a_promotion(
    heroku: Heroku,
    api: httpx.Client,
    server: LiveServer,
    apps: dict[str, str],
    tmp_path: Path,
) -> None:
    src, eu, us = apps["src"], apps["eu"], apps["us"]
    push(heroku, tmp_path / "repo", src)
    name = pipeline_name()

    _, _, err = heroku("pipelines:create", name, "-a", src, "--stage", "staging")
    assert f"Creating {name} pipeline... done" in err
    assert f"Adding {src} to {name} pipeline as staging... done" in err
    [pipeline] = json_of(api.get(f"/pipelines?eq[name]={name}"))
    owner = json_of(api.get("/account"))
    assert pipeline["owner"] == {"id": owner["id"], "type": "user"}
    assert json_of(coupling(api, src))["pipeline"] == {"id": pipeline["id"], "name": name}
    assert json_of(coupling(api, src))["stage"] == "staging"

    heroku("pipelines:add", name, "-a", eu, "--stage", "production")
    _, _, err = heroku("pipelines:add", name, "-a", us, "--stage", "development")
    assert f"Adding {us} to {name} pipeline as development... done" in err
    assert json_of(coupling(api, us))["stage"] == "development"
    _, _, err = heroku("pipelines:update", "-a", us, "--stage", "production")
    assert f"Changing {us} to production... done" in err
    assert json_of(coupling(api, us))["stage"] == "production"

    _, out, _ = heroku("pipelines")
    assert "=== My Pipelines" in out
    assert name in out.split()
    _, out, _ = heroku("pipelines:info", name)
    assert f"=== {name}" in out
    assert f"owner: {owner['email']}" in out
    rows = {src: "staging", eu: "production", us: "production"}
    for app, stage in rows.items():
        assert re.search(rf"^\s*{app}\s+{stage}\s*$", out, re.M), out
    _, out, _ = heroku("pipelines:info", name, "--json")
    shown = json.loads(out)
    assert shown["pipeline"]["id"] == pipeline["id"]
    assert {a["name"]: a["pipelineCoupling"]["stage"] for a in shown["apps"]} == rows

    # From staging to the production apps: the pushed slug, with each app's own config.
    _, out, err = heroku("pipelines:promote", "-a", src)
    assert "Starting promotion to production..." in out, out + err
    assert "Promotion successful" in out, out + err
    assert f"{eu}: succeeded" in out
    assert f"{us}: succeeded" in out
    source_version = json_of(api.get(f"/apps/{src}/releases"))[-1]["version"]
    for role, app in (("eu", eu), ("us", us)):
        release = json_of(api.get(f"/apps/{app}/releases"))[-1]
        assert release["description"] == f"Promote {src} v{source_version}"
        until(partial(up, api, app), f"{app}'s web.1 up")
        until(partial(greets, server, app, f"hello {role}"), f"{app} serving the promoted slug")
    _, out, _ = heroku("releases", "-a", eu)
    assert f"Promote {src} v{source_version}" in out

    renamed = pipeline_name()
    heroku("pipelines:rename", name, renamed)
    assert json_of(api.get(f"/pipelines/{pipeline['id']}"))["name"] == renamed

    _, _, err = heroku("pipelines:remove", "-a", us)
    assert f"Removing {us}... done" in err
    assert coupling(api, us).status_code == 404
    assert json_of(coupling(api, eu))["pipeline"]["name"] == renamed

    _, _, err = heroku("pipelines:destroy", renamed)
    assert f"Destroying {renamed} pipeline... done" in err
    assert api.get(f"/pipelines/{pipeline['id']}").status_code == 404
    assert coupling(api, eu).status_code == 404
    assert api.get(f"/apps/{eu}").status_code == 200


def test_a_team_pipeline(
    heroku: Heroku, heroku_other: Heroku, api: httpx.Client, team: str
) -> None:
    """The owner makes a team pipeline; the other account, a member, sees it; a member
    whose team grants view only may not promote to the team's apps."""
    src, prod = unique_app_name("plteam"), unique_app_name("plteam")
    for app in (src, prod):
        assert api.post("/teams/apps", json={"team": team, "name": app}).status_code == 201
    name = pipeline_name()
    try:
        heroku("pipelines:create", name, "-a", src, "--stage", "staging", "--team", team)
        [pipeline] = json_of(api.get(f"/pipelines?eq[name]={name}"))
        team_id = json_of(api.get(f"/teams/{team}"))["id"]
        assert pipeline["owner"] == {"id": team_id, "type": "team"}
        heroku("pipelines:add", name, "-a", prod, "--stage", "production")

        _, out, _ = heroku_other("pipelines:info", name)
        assert f"owner: {team} (team)" in out
        assert src in out
        assert prod in out
        # The member may view the team's apps, not deploy to them.
        code, _, err = heroku_other(
            "pipelines:update", "-a", prod, "--stage", "staging", check=False
        )
        assert code != 0
        assert "deploy permission" in err
        assert json_of(coupling(api, prod))["stage"] == "production"
        heroku("pipelines:destroy", name)
        assert json_of(api.get(f"/pipelines?eq[name]={name}")) == []
    finally:
        for app in (src, prod):
            api.delete(f"/apps/{app}")

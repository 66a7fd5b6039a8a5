"""App setups on a live `tenku up`, driven through its API as Heroku Button-style tools and
`pipelines:setup` drive them (create, then poll every second), and checked with the CLI."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.addons.support import drop_pg
from tests.e2e.conftest import Account, Heroku, json_of, unique_app_name
from tests.resources.app_setup.support import TarballServer, app_tarball, serving

pytestmark = pytest.mark.e2e

SETUP_WAIT = 300.0
SEED = """#!/usr/bin/env bash
set -euo pipefail
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q \\
  -c "CREATE TABLE visitors (name text)" -c "INSERT INTO visitors VALUES ('$FIRST_VISITOR')"
echo "seeded"
"""


@pytest.fixture
def tarballs(tmp_path: Path) -> Iterator[TarballServer]:
    with serving(tmp_path / "served") as server:
        yield server


def poll(api: httpx.Client, setup_id: str) -> dict[str, Any]:
    """What `pipelines:setup` does: ask every second until the setup is over."""
    deadline = time.monotonic() + SETUP_WAIT
    while True:
        body: dict[str, Any] = json_of(api.get(f"/app-setups/{setup_id}"))
        if body["status"] != "pending":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(1)


def test_app_setups(
    heroku: Heroku, api: httpx.Client, tarballs: TarballServer, other: Account, team: str
) -> None:
    name = unique_app_name("setup")
    manifest = {
        "name": "Visitors",
        "success_url": "/hello",
        "env": {
            "SESSION_SECRET": {"generator": "secret"},
            "FIRST_VISITOR": {"description": "who comes first", "required": True},
            "MODE": "demo",
        },
        "addons": [{"plan": "heroku-postgresql:hobby-dev"}],
        "formation": {"worker": {"quantity": 1}},
        "scripts": {"postdeploy": "bash bin/seed.sh"},
    }
    app_tarball(tarballs.root / "visitors.tgz", manifest, **{"bin/seed.sh": SEED})
    r = api.post(
        "/app-setups",
        json={
            "source_blob": {"url": tarballs.url("visitors.tgz"), "version": "v1.0.0"},
            "app": {"name": name, "region": "us"},
            "overrides": {"env": {"FIRST_VISITOR": "ada"}},
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["status"], created["app"]["name"]) == ("pending", name)
    addon_ids: list[str] = []
    try:
        body = poll(api, created["id"])
        addon_ids = [a["id"] for a in json_of(api.get(f"/apps/{name}/addons"))]
        assert body["status"] == "succeeded", body
        assert body["postdeploy"]["exit_code"] == 0
        assert body["postdeploy"]["output"].endswith("seeded\n")
        assert body["build"]["status"] == "succeeded"
        assert body["resolved_success_url"] == json_of(api.get(f"/apps/{name}"))["web_url"] + (
            "hello"
        )

        config = json.loads(heroku("config", "-a", name, "--json").stdout)
        assert re.fullmatch(r"[0-9a-f]{64}", config["SESSION_SECRET"])
        assert (config["FIRST_VISITOR"], config["MODE"]) == ("ada", "demo")
        with psycopg.connect(config["DATABASE_URL"]) as conn:
            assert conn.execute("SELECT name FROM visitors").fetchall() == [("ada",)]
        out = heroku("addons", "-a", name).stdout
        assert "heroku-postgresql" in out
        assert "hobby-dev" in out
        out = heroku("ps", "-a", name).stdout
        assert "=== worker (Standard-1X)" in out
        out = heroku("releases", "-a", name).stdout
        assert "Deploy v1.0.0" in out
        assert "Attach DATABASE" in out
        out = heroku("logs", "-a", name, "-n", "200").stdout
        assert re.search(r"app\[postdeploy\.\d{4}\]: seeded", out), out
    finally:
        api.delete(f"/apps/{name}")
        for addon_id in addon_ids:
            drop_pg(uuid.UUID(addon_id))

    # A team's app whose app.json asks for what nobody gave: nothing is provisioned, and the
    # app is gone, as on Heroku; the setup says why.
    name = unique_app_name("setup")
    manifest = {"env": {"API_KEY": {"required": True}}, "addons": ["heroku-postgresql"]}
    r = api.post(
        "/app-setups",
        json={"source_blob": {"url": tarballs.add(manifest)}, "app": {"name": name, "team": team}},
    )
    assert r.status_code == 201, r.text
    assert json_of(api.get(f"/apps/{name}"))["team"]["name"] == team
    body = poll(api, r.json()["id"])
    assert (body["status"], body["failure_message"]) == ("failed", "invalid app.json")
    assert body["manifest_errors"] == ["config var API_KEY is required"]
    code, _, err = heroku("apps:info", "-a", name, check=False)
    assert code != 0
    assert "Couldn't find that app" in err

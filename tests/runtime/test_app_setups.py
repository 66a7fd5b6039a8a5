"""App setups performed by the runtime for real: a tarball on 127.0.0.1, a real PostgreSQL
add-on, a real build, a scaled worker, a postdeploy script in a one-off dyno; and a
runtime that restarts in the middle of one."""

from __future__ import annotations

import asyncio
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tenku.runtime.worker import Runtime
from tests.addons.support import pg_exists, real_resources_cleanup
from tests.conftest import User
from tests.resources.app_setup.support import TarballServer, app_tarball, serving, setup_body
from tests.runtime.conftest import Live, sample_buildpack

__all__ = ["real_resources_cleanup"]

SETUP_WAIT = 240.0

SEED = """#!/usr/bin/env bash
set -euo pipefail
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q \\
  -c "CREATE TABLE seeds (secret text, who text)" \\
  -c "INSERT INTO seeds VALUES ('$SECRET_KEY', '$SETUP_BY')"
echo "seeded by $DYNO"
"""


@pytest.fixture
def tarballs(tmp_path: Path) -> Iterator[TarballServer]:
    with serving(tmp_path / "served") as server:
        yield server


async def until(check: Callable[[], Awaitable[Any]], what: str, limit: float = 60) -> Any:
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


async def finished(user: User, setup_id: str) -> dict[str, Any]:
    async def over() -> dict[str, Any] | None:
        body = await setup_body(user, setup_id)
        return body if body["status"] != "pending" else None

    result: dict[str, Any] = await until(over, "the setup to finish", SETUP_WAIT)
    return result


async def test_a_whole_setup(live: Live, owner: User, tarballs: TarballServer) -> None:
    manifest = {
        "name": "Seeded worker",
        "success_url": "/welcome",
        "env": {
            "SECRET_KEY": {"description": "signs things", "generator": "secret"},
            "GREETING": {"value": "hello"},
            "SETUP_BY": {"description": "who set it up", "required": True},
        },
        "addons": ["heroku-postgresql"],
        "formation": {"worker": {"quantity": 1, "size": "standard-1x"}},
        "scripts": {"postdeploy": "bash bin/seed.sh"},
    }
    name = "seeded.tgz"
    app_tarball(tarballs.root / name, manifest, **{"bin/seed.sh": SEED})
    r = await owner.post(
        "/app-setups",
        json={
            "source_blob": {"url": tarballs.url(name)},
            "app": {"name": "seeded"},
            "overrides": {"env": {"SETUP_BY": "the test"}},
        },
    )
    assert r.status_code == 201, r.text
    setup = r.json()
    body = await finished(owner, setup["id"])
    if body["status"] != "succeeded" and body["build"] is not None:
        out = await live.output(owner, "seeded", body["build"]["id"])
        raise AssertionError(f"{body}\n{out}")
    assert body["status"] == "succeeded", body
    assert body["failure_message"] is None
    assert body["manifest_errors"] == []
    app = (await owner.get("/apps/seeded")).json()
    assert body["resolved_success_url"] == app["web_url"] + "welcome"

    build = (await owner.get(f"/apps/seeded/builds/{body['build']['id']}")).json()
    assert body["build"]["status"] == build["status"] == "succeeded"
    assert "Procfile" in await live.output(owner, "seeded", build["id"])

    config = (await owner.get("/apps/seeded/config-vars")).json()
    assert re.fullmatch(r"[0-9a-f]{64}", config["SECRET_KEY"])
    assert (config["GREETING"], config["SETUP_BY"]) == ("hello", "the test")
    with psycopg.connect(config["DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT secret, who FROM seeds").fetchall()
    assert rows == [(config["SECRET_KEY"], "the test")]
    assert body["postdeploy"]["exit_code"] == 0
    # (psql's wrapper may warn about the machine's locales first.)
    assert re.search(r"\nseeded by postdeploy\.\d{4}\n$", "\n" + body["postdeploy"]["output"])

    [worker] = (await owner.get("/apps/seeded/formation")).json()
    assert (worker["type"], worker["quantity"], worker["size"]) == ("worker", 1, "Standard-1X")

    async def worker_up() -> bool:
        dynos = (await owner.get("/apps/seeded/dynos")).json()
        return [(d["name"], d["state"]) for d in dynos] == [("worker.1", "up")]

    await until(worker_up, "worker.1 up")
    texts = [r["description"] for r in (await owner.get("/apps/seeded/releases")).json()]
    assert texts[0] == "Initial release"
    assert texts[1].startswith("Set ")
    assert "SECRET_KEY" in texts[1]
    assert texts[2].startswith("Attach DATABASE (@ref:postgresql-")
    assert texts[3].startswith("Deploy ")


async def test_a_failing_postdeploy_script_leaves_nothing_behind(
    live: Live, owner: User, tarballs: TarballServer
) -> None:
    manifest = {
        "addons": ["heroku-postgresql"],
        "scripts": {"postdeploy": "echo 'about to fail' && exit 3"},
    }
    r = await owner.post(
        "/app-setups",
        json={"source_blob": {"url": tarballs.add(manifest)}, "app": {"name": "bad-seed"}},
    )
    assert r.status_code == 201, r.text
    setup = r.json()

    async def addon_made() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await owner.get("/apps/bad-seed/addons")).json()
        return found

    [addon] = await until(addon_made, "the add-on")
    body = await finished(owner, setup["id"])
    assert body["status"] == "failed"
    assert body["failure_message"] == "The postdeploy script exited with status 3."
    assert body["postdeploy"] == {"exit_code": 3, "output": "about to fail\n"}

    async def app_gone() -> bool:
        return (await owner.get("/apps/bad-seed")).status_code == 404

    await until(app_gone, "the app to go")
    assert pg_exists(uuid.UUID(addon["id"])) == (False, False)
    assert (await owner.get("/addons")).json() == []


# The runtime's own SQL (claims, recovery, row locks) on PostgreSQL; the rest on SQLite.
@pytest.mark.backend("postgresql")
@pytest.mark.unsandboxed
async def test_a_restart_in_the_middle_of_a_setup(
    live: Live, owner: User, tarballs: TarballServer
) -> None:
    gate, pids = live.tmp / "gate", live.tmp / "pids"
    manifest = {
        "buildpacks": [{"url": sample_buildpack("gated")}],
        "addons": ["heroku-postgresql"],
        "formation": {"worker": {"quantity": 1}},
        "scripts": {"postdeploy": "echo after the restart"},
    }
    r = await owner.post(
        "/app-setups",
        json={
            "source_blob": {"url": tarballs.add(manifest)},
            "app": {"name": "restarted"},
            "overrides": {"env": {"GATE": str(gate), "PIDS": str(pids)}},
        },
    )
    assert r.status_code == 201, r.text
    setup = r.json()

    async def building() -> bool:
        return pids.exists()

    await until(building, "the build to start", 120)
    before = await setup_body(owner, setup["id"])
    [addon] = (await owner.get("/apps/restarted/addons")).json()

    await live.runtime.stop()
    interrupted = (await owner.get(f"/apps/restarted/builds/{before['build']['id']}")).json()
    assert interrupted["status"] == "failed"
    during = await setup_body(owner, setup["id"])
    assert during["status"] == "pending"
    gate.touch()

    again = Runtime(live.settings, live.api.database, poll_interval=0.5)
    await again.start()
    try:
        body = await finished(owner, setup["id"])
    finally:
        await again.stop()
    assert body["status"] == "succeeded", body
    # Resumed: the add-on made before the restart is the app's, the build ran again.
    assert (await owner.get("/apps/restarted/addons")).json()[0]["id"] == addon["id"]
    assert body["build"]["id"] != before["build"]["id"]
    assert body["build"]["status"] == "succeeded"
    assert body["postdeploy"]["output"] == "after the restart\n"
    builds = (await owner.get("/apps/restarted/builds")).json()
    assert sorted(b["status"] for b in builds) == ["failed", "succeeded"]


@pytest.mark.unsandboxed
async def test_a_crash_during_the_postdeploy_script_fails_the_setup_with_a_reason(
    live: Live, owner: User, tarballs: TarballServer
) -> None:
    """A postdeploy script may not be safe to run twice: one a crash killed is not run
    again; the setup fails saying why, and leaves nothing behind."""
    await live.runtime.stop()
    gate = live.tmp / "never"
    manifest = {
        "addons": ["heroku-postgresql"],
        "scripts": {"postdeploy": f"echo waiting; while [ ! -e {gate} ]; do sleep 0.2; done"},
    }
    runtime = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tenku.cli",
        "runtime",
        "--data-dir",
        str(live.settings.data_dir),
        env=live.process_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        r = await owner.post(
            "/app-setups",
            json={"source_blob": {"url": tarballs.add(manifest)}, "app": {"name": "crashed"}},
        )
        assert r.status_code == 201, r.text
        setup = r.json()

        async def script_runs() -> bool:
            dynos = (await owner.get("/apps/crashed/dynos")).json()
            return any(d["type"] == "postdeploy" and d["state"] == "up" for d in dynos)

        await until(script_runs, "the postdeploy script to run", SETUP_WAIT)
        [addon] = (await owner.get("/apps/crashed/addons")).json()
    finally:
        runtime.kill()
        await runtime.wait()
    assert (await setup_body(owner, setup["id"]))["status"] == "pending"

    async with Runtime(live.settings, live.api.database, poll_interval=0.5):
        body = await finished(owner, setup["id"])

        async def app_gone() -> bool:
            return (await owner.get("/apps/crashed")).status_code == 404

        await until(app_gone, "the app to go")
    assert body["status"] == "failed"
    assert body["failure_message"] == (
        "The postdeploy script did not run to the end: its dyno stopped before the script "
        "exited (the platform restarted meanwhile)."
    )
    assert body["postdeploy"] is None
    assert body["build"]["status"] == "succeeded"
    assert pg_exists(uuid.UUID(addon["id"])) == (False, False)

"""App setups through HTTP: what the request records, and what the runtime's steps make of
app.json (run here from the test, up to the build, which needs the real runtime)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tenku.db.models import Addon, AppSetup, Build
from tenku.runtime.setups import Outcome, SetupPerformer
from tests.conftest import ApiClient, User
from tests.resources.app_setup.support import (
    TarballServer,
    create_setup,
    drive,
    setup_body,
    tarball,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_create_makes_the_app_and_a_pending_setup(
    alice: User, tarballs: TarballServer
) -> None:
    url = tarballs.add({"env": {}})
    r = await alice.post(
        "/app-setups",
        json={
            "source_blob": {"url": url, "version": "v1.3.0"},
            "app": {"name": "from-json", "region": "us", "stack": "heroku-22"},
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert UUID_RE.match(body["id"])
    assert body["status"] == "pending"
    assert body["failure_message"] is None
    assert body["manifest_errors"] == []
    assert body["build"] is None
    assert body["postdeploy"] is None
    assert body["resolved_success_url"] is None
    assert body["app"]["name"] == "from-json"
    app = (await alice.get("/apps/from-json")).json()
    assert body["app"]["id"] == app["id"]
    assert app["owner"]["email"] == alice.email
    assert app["stack"]["name"] == "heroku-22"
    assert await setup_body(alice, body["id"]) == body


async def test_the_app_gets_a_generated_name(alice: User, tarballs: TarballServer) -> None:
    body = await create_setup(alice, tarballs.add({}))
    assert re.fullmatch(r"[a-z][a-z0-9-]{2,29}", body["app"]["name"])
    assert (await alice.get(f"/apps/{body['app']['id']}")).status_code == 200


async def test_env_values_secrets_requirements_and_overrides(
    alice: User, tarballs: TarballServer, performer: SetupPerformer
) -> None:
    manifest = {
        "name": "Small Sharp Tool",
        "description": "read past, as on Heroku",
        "env": {
            "PLAIN": "just a string",
            "WITH_VALUE": {"description": "a default", "value": "five"},
            "SECRET_TOKEN": {"description": "made up", "generator": "secret"},
            "SETUP_BY": {"description": "who", "required": True},
            "OPTIONAL": {"description": "may stay unset", "required": False},
            "OVERRIDDEN": {"value": "old"},
        },
    }
    url = tarballs.add(manifest)
    overrides = {"SETUP_BY": "a script", "OVERRIDDEN": "new", "EXTRA": "not in app.json"}
    setup = await create_setup(alice, url, overrides={"env": overrides})
    app = setup["app"]["name"]

    # Up to the build, which only the runtime runs.
    assert await drive(performer, setup["id"]) is Outcome.WAITING
    config = (await alice.get(f"/apps/{app}/config-vars")).json()
    secret = config.pop("SECRET_TOKEN")
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert config == {
        "PLAIN": "just a string",
        "WITH_VALUE": "five",
        "SETUP_BY": "a script",
        "OVERRIDDEN": "new",
        "EXTRA": "not in app.json",
    }
    releases = (await alice.get(f"/apps/{app}/releases")).json()
    assert releases[-1]["description"].startswith("Set ")
    assert "SECRET_TOKEN" in releases[-1]["description"]

    body = await setup_body(alice, setup["id"])
    assert body["status"] == "pending"
    build = body["build"]
    assert build["status"] == "pending"
    found = (await alice.get(f"/apps/{app}/builds/{build['id']}")).json()
    stream = found["output_stream_url"].rsplit("/", 1)[0]
    assert stream.endswith(f"/streams/builds/{build['id']}")
    assert build["output_stream_url"].startswith(stream + "/")
    assert found["status"] == "pending"
    assert found["source_blob"]["url"] == url
    assert found["user"]["email"] == alice.email
    # The overrides are in the config vars now, and nowhere else.
    async with alice.client.database.session(write=False) as db:
        row = await db.get(AppSetup, uuid.UUID(setup["id"]))
        assert row is not None
        assert row.overrides == {}
        assert row.source_blob_key is not None

    # Another secret for another app.
    other = await create_setup(alice, url, overrides={"env": {"SETUP_BY": "me"}})
    await drive(performer, other["id"])
    theirs = (await alice.get(f"/apps/{other['app']['name']}/config-vars")).json()
    assert re.fullmatch(r"[0-9a-f]{64}", theirs["SECRET_TOKEN"])
    assert theirs["SECRET_TOKEN"] != secret


async def failed(performer: SetupPerformer, user: User, setup: dict[str, Any]) -> dict[str, Any]:
    assert await drive(performer, setup["id"]) is Outcome.OVER
    body = await setup_body(user, setup["id"])
    assert body["status"] == "failed", body
    return body


async def test_manifest_errors_fail_the_setup_and_remove_the_app(
    api: ApiClient, alice: User, tarballs: TarballServer, performer: SetupPerformer
) -> None:
    manifest = {
        "env": {
            "NEEDED": {"description": "nobody gives it"},
            "BAD": {"value": 5},
            "bad name": "x",
        },
        "addons": ["no-such-service", {"plan": "heroku-postgresql:no-such-plan"}, {"as": "X"}],
        "formation": {"web": {"quantity": "two"}, "worker": {"quantity": 1, "size": "huge"}},
        "buildpacks": [{"url": "ftp://example.com/pack.tgz"}],
        "scripts": {"postdeploy": 7},
    }
    setup = await create_setup(alice, tarballs.add(manifest), app={"name": "broken-json"})
    body = await failed(performer, alice, setup)
    assert body["failure_message"] == "invalid app.json"
    errors = body["manifest_errors"]
    assert "env.BAD.value: Input should be a valid string" in errors
    assert "addons[2].plan: Field required" in errors
    assert "formation.web.quantity: Input should be a valid integer" in errors
    assert any(e.startswith("formation.worker.size: No such size as huge") for e in errors)
    assert "scripts.postdeploy: Input should be a valid dictionary or instance of Script" in errors
    # The shape is checked first; what the installation lacks, once the shape is right.
    manifest = {
        "env": {"NEEDED": {"description": "nobody gives it"}, "bad name": "x"},
        "addons": ["no-such-service", {"plan": "heroku-postgresql:no-such-plan"}],
        "buildpacks": [{"url": "ftp://example.com/pack.tgz"}],
        "formation": {"worker": {"quantity": 2, "size": "eco"}},
    }
    setup = await create_setup(
        alice,
        tarballs.add(manifest),
        app={"name": "broken-json-2"},
        overrides={"env": {"PASSWORD": "hunter2"}},
    )
    body = await failed(performer, alice, setup)
    async with api.database.session(write=False) as db:
        row = await db.get(AppSetup, uuid.UUID(setup["id"]))
        assert row is not None
        assert (row.overrides, row.step, row.runner) == ({}, "done", None)
    assert body["failure_message"] == "invalid app.json"
    assert body["manifest_errors"] == [
        "config var NEEDED is required",
        "config var name 'bad name' is not valid",
        "addons[0]: Couldn't find either the add-on service or the add-on plan of "
        '"no-such-service".',
        "addons[1]: Couldn't find either the add-on service or the add-on plan of "
        '"heroku-postgresql:no-such-plan".',
        "buildpacks: Invalid buildpack provided: 'ftp://example.com/pack.tgz' is not a buildpack "
        "name, an absolute path, a file:// URL or an http(s) URL.",
        "formation.worker.quantity: at most 1 Eco dynos per process type",
    ]
    # As on Heroku, the app is gone; the setup says what happened.
    assert (await alice.get("/apps/broken-json")).status_code == 404
    assert (await alice.get("/apps/broken-json-2")).status_code == 404
    assert body["app"] == setup["app"]
    assert body["build"] is None
    async with api.database.session(write=False) as db:
        assert (await db.execute(select(func.count()).select_from(Addon))).scalar_one() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "app.json is not valid JSON: Expecting property name enclosed in double "),
        ("[1, 2]", "app.json must hold a JSON object"),
        ('{"env": []}', "env: Input should be a valid dictionary"),
    ],
)
async def test_unreadable_app_json(
    alice: User,
    tarballs: TarballServer,
    performer: SetupPerformer,
    content: str,
    message: str,
) -> None:
    setup = await create_setup(alice, tarballs.add(content))
    body = await failed(performer, alice, setup)
    assert body["failure_message"] == "invalid app.json"
    [error] = body["manifest_errors"]
    assert error.startswith(message)


async def test_app_json_not_found(
    alice: User, tarballs: TarballServer, performer: SetupPerformer
) -> None:
    setup = await create_setup(alice, tarballs.add(None))
    body = await failed(performer, alice, setup)
    assert body["failure_message"] == "app.json not found"
    assert body["manifest_errors"] == []
    # app.json deeper than the app's root is not the app's.
    name = "nested.tgz"
    tarball(tarballs.root / name, {"a/app.json": "{}", "b/Procfile": "web: x"})
    setup = await create_setup(alice, tarballs.url(name))
    assert (await failed(performer, alice, setup))["failure_message"] == "app.json not found"


async def test_app_json_in_a_lone_top_directory(
    alice: User, tarballs: TarballServer, performer: SetupPerformer
) -> None:
    """GitHub's tarballs hold the repository in one directory, as builds expect too."""
    name = "github.tgz"
    files = {"app.json": '{"env": {"FROM": "github"}}', "Procfile": "worker: sleep 100"}
    tarball(tarballs.root / name, files, top="user-repo-1a2b3c4")
    setup = await create_setup(alice, tarballs.url(name))
    assert await drive(performer, setup["id"]) is Outcome.WAITING
    config = (await alice.get(f"/apps/{setup['app']['name']}/config-vars")).json()
    assert config == {"FROM": "github"}


async def test_sources_obey_the_egress_rules_and_the_checksum(
    alice: User, tarballs: TarballServer, performer: SetupPerformer, tmp_path: Path
) -> None:
    for url in ("http://10.1.2.3/app.tgz", "http://169.254.169.254/latest/app.tgz"):
        setup = await create_setup(alice, url)
        body = await failed(performer, alice, setup)
        assert body["failure_message"] == f"Downloading {url} was refused by the egress policy."
    outside = tarball(tmp_path / "outside.tgz", {"app.json": "{}"})
    setup = await create_setup(alice, outside.as_uri())
    body = await failed(performer, alice, setup)
    assert "is not under a directory this platform reads sources" in body["failure_message"]

    url = tarballs.add({})
    setup = await create_setup(
        alice, url, source_blob={"url": url, "checksum": "SHA256:" + "0" * 64}
    )
    body = await failed(performer, alice, setup)
    assert body["failure_message"].startswith("Checksum mismatch: the source's SHA256 is ")
    setup = await create_setup(alice, tarballs.url("missing.tgz"))
    body = await failed(performer, alice, setup)
    assert body["failure_message"] == "Downloading the source failed: HTTP 404."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Invalid source_blob provided: Field required."),
        ({"source_blob": {}}, "Invalid source_blob.url provided: Field required."),
        ({"source_blob": "http://x"}, "Invalid source_blob provided:"),
        (
            {"source_blob": {"url": "ftp://example.com/app.tgz"}},
            "Invalid source_blob.url provided: it must be an http(s) or file URL.",
        ),
        (
            {"source_blob": {"url": "https://example.com/a.tgz", "checksum": "md5:abc"}},
            "Invalid source_blob.checksum provided: expected SHA256:<64 hex digits>.",
        ),
        (
            {"source_blob": {"url": "https://example.com/a.tgz"}, "app": {"name": "No_Caps"}},
            "Invalid app.name provided: Name must start with a letter",
        ),
        (
            {"source_blob": {"url": "https://example.com/a.tgz"}, "app": {"personal": "yes"}},
            "Invalid app.personal provided: must be true or false.",
        ),
        (
            {"source_blob": {"url": "https://example.com/a.tgz"}, "app": {"region": "mars"}},
            "Invalid region provided: mars is not a known region.",
        ),
        (
            {"source_blob": {"url": "https://example.com/a.tgz"}, "app": {"space": "sp"}},
            "Tenku has no private spaces: leave out `space`.",
        ),
        (
            {
                "source_blob": {"url": "https://example.com/a.tgz"},
                "overrides": {"env": {"FOO": 1}},
            },
            "Invalid value provided for FOO: config values are strings.",
        ),
        (
            {
                "source_blob": {"url": "https://example.com/a.tgz"},
                "overrides": {"env": {"NOT OK": "x"}},
            },
            "Invalid config var name provided: 'NOT OK'.",
        ),
        (
            {
                "source_blob": {"url": "https://example.com/a.tgz"},
                "overrides": {"env": {"FOO": None}},
            },
            "Invalid overrides.env provided: config var overrides are strings.",
        ),
        (
            {"source_blob": {"url": "https://example.com/a.tgz"}, "overrides": {"env": []}},
            "Invalid overrides.env provided: Input should be a valid dictionary.",
        ),
    ],
)
async def test_bad_bodies_are_422_and_make_nothing(
    api: ApiClient, alice: User, body: dict[str, Any], message: str
) -> None:
    r = await alice.post("/app-setups", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"
    assert r.json()["message"].startswith(message), r.json()["message"]
    assert (await alice.get("/apps")).json() == []
    async with api.database.session(write=False) as db:
        assert (await db.execute(select(func.count()).select_from(AppSetup))).scalar_one() == 0


async def test_a_taken_name_is_422(alice: User, bob: User) -> None:
    await bob.create_app("taken")
    r = await alice.post(
        "/app-setups",
        json={"source_blob": {"url": "https://example.com/a.tgz"}, "app": {"name": "taken"}},
    )
    assert r.status_code == 422
    assert r.json()["message"] == "Name is already taken"


async def test_not_json_is_400(alice: User) -> None:
    r = await alice.post(
        "/app-setups", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["id"] == "bad_request"


async def test_who_may_read_a_setup(
    api: ApiClient, alice: User, bob: User, tarballs: TarballServer
) -> None:
    setup = await create_setup(alice, tarballs.add({}), app={"name": "alices"})
    for ident in (setup["id"], str(uuid.uuid4()), "not-a-uuid"):
        r = await bob.get(f"/app-setups/{ident}")
        assert r.status_code == 404, ident
        assert r.json()["resource"] == "app-setup"
    # Whoever may view the app may follow its setup.
    r = await alice.post("/apps/alices/collaborators", json={"user": bob.email})
    assert r.status_code == 201
    assert (await bob.get(f"/app-setups/{setup['id']}")).json()["id"] == setup["id"]
    assert (await api.request("GET", f"/app-setups/{setup['id']}")).status_code == 401
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get(f"/app-setups/{setup['id']}")).status_code == 200
    r = await reader.post("/app-setups", json={"source_blob": {"url": "https://e.com/a.tgz"}})
    assert r.status_code == 403


async def test_team_apps_and_personal_ones(alice: User, bob: User, tarballs: TarballServer) -> None:
    r = await alice.post("/teams", json={"name": "setup-team"})
    assert r.status_code == 201, r.text
    url = tarballs.add({})
    setup = await create_setup(
        alice, url, app={"name": "team-made", "organization": "setup-team", "locked": True}
    )
    app = (await alice.get("/teams/apps/team-made")).json()
    assert app["team"]["name"] == "setup-team"
    assert app["locked"] is True
    assert setup["app"]["id"] == app["id"]
    assert (await bob.get(f"/app-setups/{setup['id']}")).status_code == 404
    # The default team takes the app unless it is personal.
    r = await alice.patch("/teams/setup-team", json={"default": True})
    assert r.status_code == 200, r.text
    in_team = await create_setup(alice, url)
    personal = await create_setup(alice, url, app={"personal": True})
    assert (await alice.get(f"/apps/{in_team['app']['name']}")).json()["team"]["name"] == (
        "setup-team"
    )
    assert (await alice.get(f"/apps/{personal['app']['name']}")).json()["team"] is None
    r = await bob.post(
        "/app-setups", json={"source_blob": {"url": url}, "app": {"organization": "setup-team"}}
    )
    assert r.status_code == 403


async def test_the_build_failing_fails_the_setup(
    api: ApiClient, alice: User, tarballs: TarballServer, performer: SetupPerformer
) -> None:
    setup = await create_setup(alice, tarballs.add({"env": {"A": "b"}}), app={"name": "nobuild"})
    assert await drive(performer, setup["id"]) is Outcome.WAITING
    build_id = (await setup_body(alice, setup["id"]))["build"]["id"]
    # What the runtime's builder records for a build that failed.
    async with api.database.session(write=True) as db:
        build = await db.get(Build, uuid.UUID(build_id))
        assert build is not None
        build.status = "failed"
        await db.commit()
    body = await failed(performer, alice, setup)
    assert body["failure_message"] == "The build failed; its output says why."
    assert body["build"]["id"] == build_id
    assert body["build"]["status"] == "failed"
    assert (await alice.get("/apps/nobuild")).status_code == 404


async def test_an_app_deleted_meanwhile_fails_its_setup(
    alice: User, tarballs: TarballServer, performer: SetupPerformer
) -> None:
    setup = await create_setup(alice, tarballs.add({}), app={"name": "short-lived"})
    assert (await alice.delete("/apps/short-lived")).status_code == 200
    body = await failed(performer, alice, setup)
    assert body["failure_message"] == "The app was deleted before its setup finished."

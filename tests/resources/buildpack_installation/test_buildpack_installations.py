from __future__ import annotations

import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ApiClient, User

REGISTRY = "application/vnd.heroku+json; version=3.buildpack-registry"


async def put(user: User, app: str, *buildpacks: Any) -> Any:
    # As the CLI sends it, with an empty Range.
    return await user.put(
        f"/apps/{app}/buildpack-installations",
        json={"updates": [{"buildpack": b} for b in buildpacks]},
        headers={"Range": ""},
    )


def pairs(body: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(i["ordinal"], i["buildpack"]["url"], i["buildpack"]["name"]) for i in body]


@pytest.fixture
def local_buildpack(local_sources: Path) -> Path:
    root = local_sources / f"bp-{uuid.uuid4().hex[:8]}"
    (root / "bin").mkdir(parents=True)
    for script in ("detect", "compile", "release"):
        (root / "bin" / script).write_text("#!/bin/sh\nexit 0\n")
    return root


@pytest.fixture
def local_tarball(local_sources: Path, local_buildpack: Path) -> Path:
    path = local_sources / f"{local_buildpack.name}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(local_buildpack / "bin", arcname="bin")
    return path


async def test_builtin_names_round_trip(alice: User) -> None:
    await alice.create_app("bp-app")
    r = await alice.get("/apps/bp-app/buildpack-installations")
    assert r.status_code == 200
    assert r.json() == []
    r = await put(alice, "bp-app", "heroku/nodejs", "urn:buildpack:heroku/python")
    assert r.status_code == 200, r.text
    expected = [
        (0, "urn:buildpack:heroku/nodejs", "heroku/nodejs"),
        (1, "urn:buildpack:heroku/python", "heroku/python"),
    ]
    assert pairs(r.json()) == expected
    assert pairs((await alice.get("/apps/bp-app/buildpack-installations")).json()) == expected
    # A PUT replaces the whole list; an empty one clears it.
    r = await put(alice, "bp-app", "heroku/static")
    assert pairs(r.json()) == [(0, "urn:buildpack:heroku/static", "heroku/static")]
    assert (await put(alice, "bp-app")).json() == []
    assert (await alice.get("/apps/bp-app/buildpack-installations")).json() == []


async def test_registry_and_heroku_urls_mean_the_builtin(alice: User, api: ApiClient) -> None:
    await alice.create_app("bp-registry")
    registry = await api.request("GET", "/buildpacks/heroku%2Fpython", headers={"Accept": REGISTRY})
    blob_url = registry.json()["blob_url"]
    for url in (
        blob_url,
        "https://buildpack-registry.s3.amazonaws.com/buildpacks/heroku/procfile.tgz",
        "https://codon-buildpacks.s3.amazonaws.com/buildpacks/heroku/nodejs.tgz",
    ):
        r = await put(alice, "bp-registry", url)
        assert r.status_code == 200, url
        assert r.json()[0]["buildpack"]["url"].startswith("urn:buildpack:heroku/"), url
    # Another server's path that looks like ours is just a URL.
    other = blob_url.replace("127.0.0.1:5000", "example.com")
    assert pairs((await put(alice, "bp-registry", other)).json()) == [(0, other, other)]


async def test_local_directories_tarballs_and_urls(
    alice: User, local_buildpack: Path, local_tarball: Path
) -> None:
    await alice.create_app("bp-local")
    dir_url = local_buildpack.as_uri()
    tar_url = local_tarball.as_uri()
    remote = "https://example.com/buildpacks/custom.tgz"
    github = "https://github.com/heroku/heroku-buildpack-ruby"
    r = await put(
        alice, "bp-local", str(local_buildpack), tar_url, remote, github, "heroku/procfile"
    )
    assert r.status_code == 200, r.text
    assert pairs(r.json()) == [
        (0, dir_url, dir_url),
        (1, tar_url, tar_url),
        (2, remote, remote),
        (3, github, github),
        (4, "urn:buildpack:heroku/procfile", "heroku/procfile"),
    ]
    r = await put(alice, "bp-local", dir_url, str(local_tarball))
    assert pairs(r.json()) == [(0, dir_url, dir_url), (1, tar_url, tar_url)]


async def test_garbage_is_refused(alice: User, tmp_path: Path) -> None:
    await alice.create_app("bp-garbage")
    await put(alice, "bp-garbage", "heroku/python")
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not a tarball")
    bad = [
        "nope",
        "",
        "   ",
        "heroku/ruby",
        "urn:buildpack:heroku/ruby",
        "relative/path/x/y",
        "/does/not/exist",
        str(tmp_path / "empty"),
        str(tmp_path / "notes.txt"),
        (tmp_path / "empty").as_uri(),
        "file://otherhost/srv/bp",
        "ftp://example.com/bp.tgz",
        "https://",
        "https://exa mple.com/x",
        "heroku/py\nthon",
        "/tmp/\x00x",
    ]
    for spec in bad:
        r = await put(alice, "bp-garbage", spec)
        assert r.status_code == 422, spec
        assert r.json()["id"] == "invalid_params", spec
    for body in (
        {},
        {"updates": "heroku/python"},
        {"updates": [{"buildpack": 1}]},
        {"updates": [{}]},
        {"updates": [{"buildpack": "heroku/python"}, {"buildpack": "heroku/python"}]},
        {"updates": [{"buildpack": "heroku/python"}] * 17},
    ):
        r = await alice.put("/apps/bp-garbage/buildpack-installations", json=body)
        assert r.status_code == 422, body
    # Nothing changed.
    listed = (await alice.get("/apps/bp-garbage/buildpack-installations")).json()
    assert pairs(listed) == [(0, "urn:buildpack:heroku/python", "heroku/python")]


async def test_two_users(alice: User, bob: User, api: ApiClient) -> None:
    await alice.create_app("bp-private")
    assert (await bob.get("/apps/bp-private/buildpack-installations")).status_code == 403
    assert (await put(bob, "bp-private", "heroku/python")).status_code == 403
    path = "/apps/bp-private/buildpack-installations"
    assert (await api.request("GET", path)).status_code == 401
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get(path)).status_code == 200
    assert (await put(reader, "bp-private", "heroku/python")).status_code == 403
    await alice.post("/apps/bp-private/collaborators", json={"user": bob.email})
    assert (await put(bob, "bp-private", "heroku/python")).status_code == 200
    assert len((await alice.get(path)).json()) == 1


async def test_installations_go_with_the_app(alice: User) -> None:
    await alice.create_app("bp-gone")
    await put(alice, "bp-gone", "heroku/python")
    assert (await alice.delete("/apps/bp-gone")).status_code == 200
    await alice.create_app("bp-gone")
    assert (await alice.get("/apps/bp-gone/buildpack-installations")).json() == []

"""The buildpack registry as `heroku buildpacks:set/info/versions/search` use it."""

from __future__ import annotations

import base64
import io
import tarfile

import httpx

from tenku.buildpacks import BUILTIN
from tests.conftest import ApiClient

REGISTRY = "application/vnd.heroku+json; version=3.buildpack-registry"


async def registry(api: ApiClient, path: str) -> httpx.Response:
    # No Authorization, as the CLI's registry client sends none.
    return await api.request("GET", path, headers={"Accept": REGISTRY})


async def test_lookup_of_a_builtin(api: ApiClient) -> None:
    r = await registry(api, "/buildpacks/heroku%2Fpython")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["namespace"] == "heroku"
    assert body["name"] == "python"
    assert body["blob_url"] == "https://127.0.0.1:5000/blobs/buildpacks/heroku/python.tgz"
    assert body["two_factor_authentication"] is False
    assert {"id", "description", "category", "support", "source"} <= set(body)


async def test_blob_url_downloads_the_buildpack(api: ApiClient) -> None:
    body = (await registry(api, "/buildpacks/heroku%2Fprocfile")).json()
    # Fetched like any download: no Accept, no Authorization.
    r = await api.http.get(httpx.URL(body["blob_url"]).raw_path.decode())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        names = tar.getnames()
        compile_ = tar.getmember("bin/compile")
    assert "bin/detect" in names
    assert compile_.mode & 0o111
    expected = {
        p.relative_to(BUILTIN["heroku/procfile"]).as_posix()
        for p in BUILTIN["heroku/procfile"].rglob("*")
    }
    assert set(names) == {n for n in expected if "__pycache__" not in n and not n.endswith(".pyc")}


async def test_unknown_buildpacks(api: ApiClient) -> None:
    for path in (
        "/buildpacks/heroku%2Fruby",
        "/buildpacks/nope",
        "/buildpacks/heroku%2Fruby/revisions",
        "/buildpacks/heroku%2Fruby/readme",
    ):
        r = await registry(api, path)
        assert r.status_code == 404, path
        assert r.json()["id"] == "not_found"
    # What the CLI installs after a lookup, whatever the status: a name it will refuse.
    r = await registry(api, "/buildpacks/heroku%2Fruby")
    assert r.json()["blob_url"] == "urn:buildpack:heroku/ruby"
    r = await api.http.get("/blobs/buildpacks/heroku/ruby.tgz")
    assert r.status_code == 404
    assert (await api.http.get("/blobs/buildpacks/heroku/python.zip")).status_code == 404


async def test_versions_readme_and_search(api: ApiClient) -> None:
    revisions = (await registry(api, "/buildpacks/heroku%2Fnodejs/revisions")).json()
    assert [r["release"] for r in revisions] == [1]
    assert revisions[0]["status"] == "published"
    readme = (await registry(api, "/buildpacks/heroku%2Fnodejs/readme")).json()
    assert readme["encoding"] == "base64"
    assert base64.b64decode(readme["content"])
    everything = (await registry(api, "/buildpacks")).json()
    assert {f"{b['namespace']}/{b['name']}" for b in everything} == set(BUILTIN)
    by_name = (await registry(api, "/buildpacks?in[name][]=python")).json()
    assert [b["name"] for b in by_name] == ["python"]
    by_namespace = (await registry(api, "/buildpacks?in[namespace][]=someone")).json()
    assert by_namespace == []
    by_description = (await registry(api, "/buildpacks?like[description]=NODE")).json()
    assert [b["name"] for b in by_description] == ["nodejs"]

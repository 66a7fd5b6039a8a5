"""buildpacks:* through the real CLI: installations, and the registry at Tenku."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Heroku, json_of, unique_app_name

pytestmark = pytest.mark.e2e


def installed(api: httpx.Client, app: str) -> list[tuple[int, str, str]]:
    body = json_of(api.get(f"/apps/{app}/buildpack-installations"))
    return [(b["ordinal"], b["buildpack"]["url"], b["buildpack"]["name"]) for b in body]


def test_buildpacks_set_by_registry_name(heroku: Heroku, app: str, api: httpx.Client) -> None:
    _, out, _ = heroku("buildpacks:set", "heroku/python", "-a", app)
    assert f"Buildpack set. Next release on {app} will use heroku/python." in out
    assert installed(api, app) == [(0, "urn:buildpack:heroku/python", "heroku/python")]
    _, out, _ = heroku("buildpacks", "-a", app)
    assert out.splitlines()[-1].strip() == "heroku/python"


def test_buildpacks_add_remove_clear(heroku: Heroku, app: str, api: httpx.Client) -> None:
    heroku("buildpacks:add", "heroku/python", "-a", app)
    heroku("buildpacks:add", "--index", "1", "heroku/nodejs", "-a", app)
    assert [name for _, _, name in installed(api, app)] == ["heroku/nodejs", "heroku/python"]
    code, _, err = heroku("buildpacks:add", "heroku/nodejs", "-a", app, check=False)
    assert code != 0
    assert "already set" in err
    heroku("buildpacks:remove", "heroku/nodejs", "-a", app)
    assert [name for _, _, name in installed(api, app)] == ["heroku/python"]
    heroku("buildpacks:clear", "-a", app)
    assert installed(api, app) == []


def test_buildpacks_set_an_url_and_refusals(heroku: Heroku, app: str, api: httpx.Client) -> None:
    url = "https://example.com/buildpacks/custom.tgz"
    heroku("buildpacks:set", url, "-a", app)
    assert installed(api, app) == [(0, url, url)]
    code, _, err = heroku("buildpacks:set", "heroku/ruby", "-a", app, check=False)
    assert code != 0
    assert "heroku/ruby" in err
    assert installed(api, app) == [(0, url, url)]


def test_apps_create_with_a_buildpack(heroku: Heroku, api: httpx.Client) -> None:
    name = unique_app_name()
    heroku("apps:create", name, "--buildpack", "heroku/nodejs")
    try:
        assert installed(api, name) == [(0, "urn:buildpack:heroku/nodejs", "heroku/nodejs")]
    finally:
        api.delete(f"/apps/{name}")


def test_registry_commands(heroku: Heroku) -> None:
    _, out, _ = heroku("buildpacks:search", "python")
    assert "heroku/python" in out
    _, out, _ = heroku("buildpacks:versions", "heroku/python")
    assert "published" in out
    _, out, _ = heroku("buildpacks:info", "heroku/python")
    assert "=== heroku/python" in out

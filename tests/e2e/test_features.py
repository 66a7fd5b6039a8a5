"""features and labs through the real CLI: both read the same lists and split them by state."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import Heroku, json_of

pytestmark = pytest.mark.e2e


def feature_lines(features: list[dict[str, object]]) -> list[str]:
    """The lines the CLI prints for a list of features, as it formats them."""
    ordered = sorted(features, key=lambda f: str(f["name"]))
    width = max((len(str(f["name"])) for f in ordered), default=0)
    return [
        f"{'[+]' if f['enabled'] else '[ ]'} {str(f['name']).ljust(width)}  {f['description']}"
        for f in ordered
    ]


def test_features(heroku: Heroku, app: str, api: httpx.Client) -> None:
    held = json_of(api.get(f"/apps/{app}/features"))
    general = [f for f in held if f["state"] == "general"]
    assert general, "the server offers no general app features to list"

    _, out, _ = heroku("features", "-a", app)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0] == f"=== App Features {app}"
    assert lines[1:] == feature_lines(general)

    _, out, _ = heroku("features", "-a", app, "--json")
    assert json.loads(out) == sorted(general, key=lambda f: f["name"])


def test_features_enable_shows(heroku: Heroku, app: str, api: httpx.Client) -> None:
    held = json_of(api.get(f"/apps/{app}/features"))
    off = next(f for f in held if f["state"] == "general" and not f["enabled"])
    _, _, err = heroku("features:enable", off["name"], "-a", app)
    assert f"Enabling {off['name']} for {app}... done" in err
    assert json_of(api.get(f"/apps/{app}/features/{off['name']}"))["enabled"] is True
    line = next(x for x in heroku("features", "-a", app).stdout.splitlines() if off["name"] in x)
    assert line.startswith("[+]")


def test_labs(heroku: Heroku, app: str, api: httpx.Client) -> None:
    account_features = json_of(api.get("/account/features"))
    app_features = json_of(api.get(f"/apps/{app}/features"))

    _, out, _ = heroku("labs", "-a", app)
    lines = out.splitlines()
    assert lines[0] == "=== User Features owner@example.com"
    split = lines.index(f"=== App Features {app}")
    user_part = [line for line in lines[1:split] if line.strip()]
    app_part = [line for line in lines[split + 1 :] if line.strip()]
    assert user_part == feature_lines([f for f in account_features if f["state"] != "general"])
    assert app_part == feature_lines([f for f in app_features if f["state"] != "general"])

"""domains:* through the real CLI."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import Heroku, json_of

pytestmark = pytest.mark.e2e


def custom_domains(api: httpx.Client, app: str) -> dict[str, dict[str, object]]:
    return held_custom(json_of(api.get(f"/apps/{app}/domains")))


def held_custom(held: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(d["hostname"]): d for d in held if d["kind"] == "custom"}


def test_domains_add(heroku: Heroku, app: str, api: httpx.Client) -> None:
    _, out, err = heroku("domains:add", "www.example.com", "-a", app)
    assert f"Adding www.example.com to {app}... done" in err
    held = custom_domains(api, app)
    assert set(held) == {"www.example.com"}
    cname = held["www.example.com"]["cname"]
    assert isinstance(cname, str)
    assert cname
    assert f"Configure your app's DNS provider to point to the DNS Target {cname}." in out


def test_domains_add_json(heroku: Heroku, app: str, api: httpx.Client) -> None:
    _, out, _ = heroku("domains:add", "api.example.com", "-a", app, "--json")
    shown = json.loads(out)
    assert shown["hostname"] == "api.example.com"
    assert shown["kind"] == "custom"
    assert shown == custom_domains(api, app)["api.example.com"]


def test_domains_lists_heroku_and_custom(heroku: Heroku, app: str, api: httpx.Client) -> None:
    for host in ("b.example.com", "a.example.com"):
        r = api.post(f"/apps/{app}/domains", json={"hostname": host, "sni_endpoint": None})
        assert r.status_code == 201, r.text
    held = json_of(api.get(f"/apps/{app}/domains"))
    default = [d["hostname"] for d in held if d["kind"] == "heroku"]
    assert len(default) == 1

    _, out, _ = heroku("domains", "-a", app)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0] == f"=== {app} Heroku Domain"
    assert lines[1] == default[0]
    assert f"=== {app} Custom Domains" in lines
    table = lines[lines.index(f"=== {app} Custom Domains") + 1 :]
    header = next(line for line in table if line.strip())
    assert "Domain Name" in header
    assert "DNS Target" in header
    rows = [line.strip() for line in table if line.strip().split(" ")[0].endswith(".example.com")]
    # Without --sort the CLI keeps the server's order.
    assert [row.split()[0] for row in rows] == list(held_custom(held))
    assert set(held_custom(held)) == {"a.example.com", "b.example.com"}
    for row in rows:
        assert str(held_custom(held)[row.split()[0]]["cname"]) in row


def test_domains_remove(heroku: Heroku, app: str, api: httpx.Client) -> None:
    api.post(f"/apps/{app}/domains", json={"hostname": "gone.example.com", "sni_endpoint": None})
    api.post(f"/apps/{app}/domains", json={"hostname": "stays.example.com", "sni_endpoint": None})
    _, _, err = heroku("domains:remove", "gone.example.com", "-a", app)
    assert f"Removing gone.example.com from {app}... done" in err
    assert set(custom_domains(api, app)) == {"stays.example.com"}
    _, out, _ = heroku("domains", "-a", app)
    assert "gone.example.com" not in out
    assert "stays.example.com" in out

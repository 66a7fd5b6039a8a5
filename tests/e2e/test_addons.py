"""addons:* through the real CLI: real PostgreSQL and Redis add-ons, and a partner's."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis

from tests.addons.fake_partner import FakePartner
from tests.addons.support import (
    PARTNER_PASSWORD,
    drop_pg,
    drop_redis,
    install_manifest,
    manifest,
    pg_exists,
    redis_user_exists,
)
from tests.e2e.conftest import Heroku, LiveServer, json_of, styled_object, unique_app_name

pytestmark = [pytest.mark.e2e, pytest.mark.backend("postgresql")]


@pytest.fixture
def addons_removed(api: httpx.Client, app: str) -> Iterator[None]:
    """Destroy whatever add-ons a test left, before its apps go (pass or fail)."""
    yield
    for addon in json_of(api.get("/addons")):
        path = f"/apps/{addon['app']['id']}/addons/{addon['id']}"
        api.request("DELETE", path, json={"force": True})
        drop_pg(uuid.UUID(addon["id"]))
        drop_redis(uuid.UUID(addon["id"]))


@pytest.fixture
def second_app(api: httpx.Client) -> Iterator[str]:
    name = unique_app_name("e2e-b")
    assert api.post("/apps", json={"name": name}).status_code == 201
    yield name
    api.delete(f"/apps/{name}")


@pytest.fixture(scope="module")
def live_partner(server: LiveServer) -> Iterator[FakePartner]:
    partner = FakePartner("fake-partner", PARTNER_PASSWORD)
    partner.start()

    def platform(method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        kw: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
        r = httpx.request(method, server.url + path, headers=headers, timeout=30, **kw)
        return r.status_code, r.json() if r.content else None

    partner.platform = platform
    path = install_manifest(server.data_dir, manifest(partner), "fake-e2e.json")
    try:
        yield partner
    finally:
        path.unlink()
        partner.stop()


def created_name(out: str) -> str:
    found = re.search(r"Created (\S+) as ", out)
    assert found, out
    return found.group(1)


def test_postgres_lifecycle(
    heroku: Heroku, app: str, second_app: str, api: httpx.Client, addons_removed: None
) -> None:
    _, out, err = heroku("addons:create", "heroku-postgresql:hobby-dev", "-a", app)
    assert f"Creating heroku-postgresql:hobby-dev on {app}... free" in err
    name = created_name(out)
    alias = re.search(r"as DATABASE_URL, (HEROKU_POSTGRESQL_[A-Z]+)_URL", out)
    assert alias, out
    color = alias.group(1)

    _, out, _ = heroku("addons", "-a", app)
    assert re.search(rf"heroku-postgresql \({name}\)\s+hobby-dev\s+free\s+free\s+created", out)
    assert "├─ as DATABASE" in out
    assert f"└─ as {color}" in out

    _, out, _ = heroku("addons:info", name)
    fields = styled_object(out)
    assert out.splitlines()[0] == f"=== {name}"
    assert fields["Plan"] == "heroku-postgresql:hobby-dev"
    assert fields["Price"] == "free"
    assert fields["Owning app"] == app
    assert fields["State"] == "created"
    assert f"{app}::DATABASE" in out
    assert f"{app}::{color}" in out

    _, out, _ = heroku("config", "-a", app, "--json")
    config = json.loads(out)
    assert config["DATABASE_URL"] == config[f"{color}_URL"]
    with psycopg.connect(config["DATABASE_URL"]) as conn:
        conn.execute("CREATE TABLE visits (n int)")
        conn.execute("INSERT INTO visits VALUES (7)")
        conn.commit()
        assert conn.execute("SELECT n FROM visits").fetchall() == [(7,)]

    _, out, _ = heroku("apps:info", "-a", app)
    assert styled_object(out)["Addons"] == "heroku-postgresql:hobby-dev"
    _, out, _ = heroku("releases", "-a", app)
    assert f"Attach DATABASE (@ref:{name})" in out

    _, _, err = heroku("addons:attach", name, "-a", second_app, "--as", "SHARED_DB")
    assert f"Attaching {name} as SHARED_DB to {second_app}... done" in err
    assert f"Setting SHARED_DB config vars and restarting {second_app}... done, v2" in err
    _, out, _ = heroku("config", "-a", second_app)
    assert f"SHARED_DB_URL: {config['DATABASE_URL']}" in out
    _, out, _ = heroku("addons", "-a", second_app)
    assert "as SHARED_DB" in out

    _, _, err = heroku("addons:detach", "shared_db", "-a", second_app)
    assert f"Unsetting SHARED_DB config vars and restarting {second_app}... done, v3" in err
    assert json_of(api.get(f"/apps/{second_app}/config-vars")) == {}

    _, _, err = heroku("addons:destroy", name, "-a", app, "--confirm", app)
    assert f"Destroying {name} on {app}... done" in err
    assert "DATABASE_URL" not in json_of(api.get(f"/apps/{app}/config-vars"))
    _, out, _ = heroku("addons", "-a", app)
    assert f"No add-ons for app {app}." in out


def test_destroyed_database_is_gone(
    heroku: Heroku, app: str, api: httpx.Client, addons_removed: None
) -> None:
    heroku("addons:create", "heroku-postgresql", "-a", app, "--name", f"db-{app}")
    addon = json_of(api.get(f"/addons/db-{app}"))
    assert pg_exists(uuid.UUID(addon["id"])) == (True, True)
    heroku("addons:destroy", f"db-{app}", "--confirm", app)
    assert pg_exists(uuid.UUID(addon["id"])) == (False, False)
    assert api.get(f"/addons/db-{app}").status_code == 404


def test_redis_and_plan_change(
    heroku: Heroku, app: str, api: httpx.Client, addons_removed: None
) -> None:
    _, out, _ = heroku("addons:create", "heroku-redis", "-a", app, "--as", "CACHE")
    name = created_name(out)
    assert "as CACHE_KEY_PREFIX, CACHE_URL" in out
    config = json_of(api.get(f"/apps/{app}/config-vars"))
    with redis.Redis.from_url(config["CACHE_URL"]) as client:
        client.set(config["CACHE_KEY_PREFIX"] + "hits", 1)
        assert client.incr(config["CACHE_KEY_PREFIX"] + "hits") == 2
    _, _, err = heroku("addons:upgrade", name, "premium-0", "-a", app)
    assert "from heroku-redis:hobby-dev to heroku-redis:premium-0... done" in err
    assert json_of(api.get(f"/addons/{name}"))["plan"]["name"] == "heroku-redis:premium-0"
    _, out, _ = heroku("addons", "-a", app)
    assert re.search(rf"heroku-redis \({name}\)\s+premium-0\s+~\$0\.021/hour\s+\$15/month", out)
    addon_id = uuid.UUID(json_of(api.get(f"/addons/{name}"))["id"])
    heroku("addons:destroy", name, "-a", app, "--confirm", app)
    assert not redis_user_exists(addon_id)


def test_catalogue_commands(heroku: Heroku) -> None:
    _, out, _ = heroku("addons:services")
    assert re.search(r"heroku-postgresql\s+Heroku Postgres\s+ga", out)
    assert re.search(r"heroku-redis\s+Heroku Redis\s+ga", out)
    _, out, _ = heroku("addons:plans", "heroku-postgresql")
    assert re.search(r"default\s+heroku-postgresql:hobby-dev\s+Hobby Dev\s+free\s+free", out)
    assert re.search(
        r"heroku-postgresql:standard-0\s+Standard 0\s+~\$0\.069/hour\s+\$50/month", out
    )


def test_other_users_cannot_touch_it(
    heroku: Heroku, heroku_other: Heroku, app: str, api: httpx.Client, addons_removed: None
) -> None:
    _, out, _ = heroku("addons:create", "heroku-redis", "-a", app)
    name = created_name(out)
    code, _, err = heroku_other("addons:destroy", name, "--confirm", app, check=False)
    assert code != 0
    assert "Couldn't find that add-on" in err
    code, _, err = heroku_other("addons:info", name, check=False)
    assert code != 0
    assert json_of(api.get(f"/addons/{name}"))["state"] == "provisioned"


def test_partner_add_on_with_wait(
    heroku: Heroku, app: str, api: httpx.Client, live_partner: FakePartner, addons_removed: None
) -> None:
    live_partner.done.clear()
    _, out, err = heroku("addons:create", "fake-partner:async", "-a", app, "--wait")
    assert "Your resource is being prepared." in out
    assert "Created" in out
    assert "as FAKE_PARTNER_TOKEN, FAKE_PARTNER_URL" in out
    name = created_name(out)
    config = json_of(api.get(f"/apps/{app}/config-vars"))
    assert config["FAKE_PARTNER_URL"].startswith("https://fake.example/")
    _, out, _ = heroku("releases", "-a", app)
    assert f"@ref:{name} completed provisioning" in out
    _, _, err = heroku("addons:destroy", name, "-a", app, "--confirm", app)
    assert f"Destroying {name} on {app}... done" in err
    assert live_partner.resources == {}


def test_partner_refusal_reaches_the_user(
    heroku: Heroku, app: str, api: httpx.Client, live_partner: FakePartner, addons_removed: None
) -> None:
    code, _, err = heroku("addons:create", "fake-partner:refuse", "-a", app, check=False)
    assert code != 0
    assert "Fake Partner is full; try again tomorrow." in err
    assert json_of(api.get(f"/apps/{app}/addons")) == []


def test_heroku3_add_ons(
    server: LiveServer, owner: Any, app: str, api: httpx.Client, addons_removed: None
) -> None:
    heroku3 = pytest.importorskip("heroku3")
    requests = pytest.importorskip("requests")
    session = requests.Session()
    session.trust_env = False
    client = heroku3.api.Heroku(session=session)
    client._heroku_url = server.url
    assert client.authenticate(owner.key) is True
    try:
        h3_app = client.app(app)
        installed = h3_app.install_addon("heroku-redis:hobby-dev", attachment_name="H3CACHE")
        assert installed.plan.name == "heroku-redis:hobby-dev"
        assert [a.name for a in h3_app.addons()] == [installed.name]
        upgraded = installed.upgrade("heroku-redis:premium-1")
        assert upgraded.plan.name == "heroku-redis:premium-1"
        assert "H3CACHE_URL" in json_of(api.get(f"/apps/{app}/config-vars"))
        h3_app.remove_addon(installed.id)
        assert json_of(api.get(f"/apps/{app}/addons")) == []
    finally:
        session.close()

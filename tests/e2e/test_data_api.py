"""pg:* and redis:* through the real CLI, which calls the Data API on HEROKU_DATA_HOST."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import psycopg
import pytest

from tenku.addons.postgres import names_for
from tenku.addons.redis import user_for
from tests.addons.support import redis_client
from tests.e2e.conftest import Heroku, json_of, styled_object
from tests.e2e.test_addons import addons_removed

__all__ = ["addons_removed"]
pytestmark = [pytest.mark.e2e, pytest.mark.backend("postgresql")]


def _config(heroku: Heroku, app: str) -> dict[str, str]:
    data: dict[str, str] = json.loads(heroku("config", "-a", app, "--json").stdout)
    return data


def _sql(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


def test_pg_commands(heroku: Heroku, app: str, api: httpx.Client, addons_removed: None) -> None:
    heroku("addons:create", "heroku-postgresql:hobby-dev", "-a", app)
    [addon] = json_of(api.get(f"/apps/{app}/addons"))
    database, role = names_for(uuid.UUID(addon["id"]))
    url = _config(heroku, app)["DATABASE_URL"]
    _sql(url, "CREATE TABLE visits (n int); INSERT INTO visits VALUES (1)")

    out = heroku("pg:info", "-a", app).stdout
    assert "DATABASE_URL" in out.splitlines()[0]
    fields = styled_object(out)
    assert fields["Plan"] == "Hobby Dev"
    assert fields["Status"] == "Available"
    assert fields["Tables"] == "1"
    version = str(_sql(url, "SHOW server_version")[0][0]).split()[0]
    assert fields["PG Version"] == version
    assert fields["Add-on"] == addon["name"]
    assert fields["Fork/Follow"] == "Unsupported"

    heroku("pg:wait", "-a", app)

    out = heroku("pg:settings", "-a", app).stdout
    assert styled_object(out)["track-functions"] == "none"
    out = heroku("pg:settings:track-functions", "DATABASE", "pl", "-a", app).stdout
    assert f"track-functions has been set to pl for {addon['name']}." in out
    assert _sql(url, "SHOW track_functions") == [("pl",)]
    out = heroku("data:maintenances:info", addon["name"], "-a", app).stdout
    assert styled_object(out)["status"] == "none"

    # pg:ps and pg:kill run psql on the URL itself (no Data API), which asks for TLS
    # unless told otherwise; this server speaks plain PostgreSQL.
    plain = {"PGSSLMODE": "disable"}
    with psycopg.connect(url, autocommit=True, application_name="held-open") as held:
        (pid,) = held.execute("SELECT pg_backend_pid()").fetchone() or (0,)
        out = heroku("pg:ps", "--verbose", "-a", app, env_extra=plain).stdout
        assert "held-open" in out
        heroku("pg:kill", str(pid), "--force", "-a", app, env_extra=plain)
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")

    out = heroku("pg:credentials", "-a", app).stdout
    assert re.search(r"^\s*default\s+active", out, re.M), out

    _, out, _ = heroku("pg:credentials:create", "-a", app, "--name", "x")
    assert f"heroku addons:attach {addon['name']} --credential x" in out
    out = heroku("pg:credentials", "-a", app).stdout
    assert re.search(r"\bx\b", out), out
    assert _sql(url, f"SELECT 1 FROM pg_roles WHERE rolname = '{role}_x'") == [(1,)]
    out = heroku("pg:credentials:url", "-a", app, "--name", "x").stdout
    found = re.search(r"Connection URL:\s+(\S+)", out)
    assert found, out
    assert f"{role}_x:" in found.group(1)
    as_x = found.group(1).replace("postgres://", "postgresql://", 1)
    assert _sql(as_x, "SELECT current_user") == [(f"{role}_x",)]
    heroku("pg:credentials:rotate", "-a", app, "--name", "x", "--confirm", app)
    out = heroku("pg:credentials:url", "-a", app, "--name", "x").stdout
    rotated = re.search(r"Connection URL:\s+(\S+)", out)
    assert rotated, out
    assert rotated.group(1) != found.group(1)

    with psycopg.connect(url) as held:
        heroku("pg:killall", "-a", app)
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")

    heroku("pg:reset", "-a", app, "--confirm", app)
    assert _sql(url, "SELECT to_regclass('public.visits')") == [(None,)]
    assert _sql(url, "SELECT current_database()") == [(database,)]

    heroku("pg:credentials:destroy", "-a", app, "--name", "x", "--confirm", app)
    assert _sql(url, f"SELECT 1 FROM pg_roles WHERE rolname = '{role}_x'") == []

    heroku("pg:credentials:rotate", "-a", app, "--confirm", app)
    new_url = _config(heroku, app)["DATABASE_URL"]
    assert new_url != url
    assert _sql(new_url, "SELECT 1") == [(1,)]
    assert "Update DATABASE by heroku-postgresql" in heroku("releases", "-a", app).stdout


def test_redis_commands(heroku: Heroku, app: str, api: httpx.Client, addons_removed: None) -> None:
    heroku("addons:create", "heroku-redis:hobby-dev", "-a", app)
    [addon] = json_of(api.get(f"/apps/{app}/addons"))
    user = user_for(uuid.UUID(addon["id"]))

    out = heroku("redis:info", "-a", app).stdout
    assert out.splitlines()[0].startswith(f"=== {addon['name']} (")
    fields = styled_object(out)
    with redis_client() as admin:
        version = admin.info("server")["redis_version"]
        policy = admin.config_get("maxmemory-policy")["maxmemory-policy"]
        timeout = admin.config_get("timeout")["timeout"]
    assert fields["Version"] == version
    assert fields["Maxmemory"] == policy
    assert fields["Plan"] == "Hobby Dev"

    heroku("redis:wait", "-a", app)
    _, out, _ = heroku("redis:maxmemory", "-a", app, "--policy", policy)
    assert f"set to {policy}." in out
    code, _, err = heroku("redis:maxmemory", "-a", app, "--policy", "volatile-ttl", check=False)
    if policy != "volatile-ttl":
        assert code != 0
        assert "shares its Redis server" in err

    _, out, _ = heroku("redis:timeout", "-a", app, "--seconds", timeout)
    assert f"set to {timeout} seconds." in out

    url = _config(heroku, app)["REDIS_URL"]
    assert heroku("redis:credentials", "-a", app).stdout.strip() == url

    # The CLI authenticates with the URL's password alone (Redis' default user); the
    # add-on's ACL user needs its name too, so the session starts with a full AUTH.
    password = url.split("//")[1].split("@")[0].split(":")[1]
    lines = f"AUTH {user} {password}\nSET {user}:greeting hello\nGET {user}:greeting\nSET x 1\n"
    result = heroku("redis:cli", "-a", app, "--confirm", app, input=lines)
    assert "hello" in result.stdout
    assert "NOPERM" in result.stdout
    with redis_client() as admin:
        assert admin.get(f"{user}:greeting") == b"hello"

    heroku("redis:credentials", "-a", app, "--reset")
    new_url = _config(heroku, app)["REDIS_URL"]
    assert new_url != url
    assert "Update REDIS by heroku-redis" in heroku("releases", "-a", app).stdout

"""The real CLI against Tenku's own PostgreSQL and Redis (TENKU_ADDON_*_URL=managed).

The server of this module runs both managed servers; the CLI gets its environment from
`tenku env --user`, as a user's shell would with `eval "$(tenku env --user ...)"`.
`heroku redis:cli` is left out: it asks the data API (`/redis/v0/databases/...`) first.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

from tests.conftest import shell_exports
from tests.e2e.conftest import (
    Heroku,
    LiveServer,
    free_port,
    launch,
    unique_app_name,
)

pytestmark = [pytest.mark.e2e]


def _missing() -> str | None:
    if not any(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return "the distribution's PostgreSQL server programs are not installed"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    if shutil.which("psql") is None:
        return "psql is not installed"
    return None


@pytest.fixture(scope="module")
def managed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    problem = _missing()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    pg_port = free_port()
    redis_port = free_port()
    while redis_port == pg_port:
        redis_port = free_port()
    extra = {
        "TENKU_ADDON_POSTGRES_URL": "managed",
        "TENKU_ADDON_REDIS_URL": "managed",
        "TENKU_ADDON_POSTGRES_PORT": str(pg_port),
        "TENKU_ADDON_REDIS_PORT": str(redis_port),
    }
    with launch("sqlite", tmp_path_factory.mktemp("tenku-managed"), extra_env=extra) as live:
        yield live


def test_pg_psql_and_rediss_on_tenkus_own_servers(
    heroku_bin: Path, managed: LiveServer, tmp_path: Path
) -> None:
    account = managed.create_user("managed@example.com")
    done = managed.tenku(
        "env",
        "--user",
        account.email,
        "--data-dir",
        str(managed.data_dir),
        "--port",
        str(managed.port),
    )
    assert done.returncode == 0, done.stderr
    shell_env = shell_exports(done.stdout)
    assert shell_env["HEROKU_HOST"] == managed.https_url
    assert shell_env["HEROKU_DATA_HOST"] == "127.0.0.1"
    heroku = Heroku(heroku_bin, managed, None, tmp_path / "home")
    app = unique_app_name("managed")
    heroku("apps:create", app, env_extra=shell_env)
    try:
        heroku("addons:create", "heroku-postgresql", "-a", app, env_extra=shell_env)
        _, out, err = heroku(
            "pg:psql", "-a", app, "-c", "select 40 + 2 as answer", env_extra=shell_env
        )
        assert "answer" in out, err
        assert "42" in out

        _, out, _ = heroku("config:get", "DATABASE_URL", "-a", app, env_extra=shell_env)
        url = out.strip()
        assert urlsplit(url).port == int(managed.env["TENKU_ADDON_POSTGRES_PORT"])
        with psycopg.connect(url, sslmode="verify-full", sslrootcert=str(managed.ca)) as conn:
            assert conn.execute("SELECT current_database()").fetchone()

        heroku("addons:create", "heroku-redis", "-a", app, env_extra=shell_env)
        _, out, _ = heroku("config", "-a", app, "--json", env_extra=shell_env)
        config = json.loads(out)
        kv = urlsplit(config["REDIS_URL"])
        assert (kv.scheme, kv.hostname) == ("rediss", "127.0.0.1")
        assert kv.port == int(managed.env["TENKU_ADDON_REDIS_PORT"])
        prefix = config["REDIS_KEY_PREFIX"]
        with redis.Redis.from_url(
            config["REDIS_URL"], ssl_ca_certs=str(managed.ca), ssl_cert_reqs="required"
        ) as client:
            client.set(f"{prefix}seen", "yes")
            assert client.get(f"{prefix}seen") == b"yes"
    finally:
        heroku("apps:destroy", app, "--confirm", app, env_extra=shell_env, check=False)

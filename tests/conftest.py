"""Fixtures: a migrated database per backend (SQLite and PostgreSQL), and API clients.

Every in-process API test (`api`) runs once per backend: that is where SQL differs.
Tests that drive a live Tenku (`live`: the runtime's real processes; `server`: `tenku
up` with the real CLI) run once, on SQLite unless marked `@pytest.mark.backend(
"postgresql")`. PostgreSQL tests are skipped when no server answers at 127.0.0.1:5432,
unless TENKU_REQUIRE_POSTGRES=1 (CI).
"""

from __future__ import annotations

import os
import secrets
import shlex
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.routing import APIRouter
from sqlalchemy import text

from tenku.app import create_app
from tenku.config import Settings
from tenku.db.base import Base
from tenku.db.engine import Database
from tenku.db.migrate import upgrade
from tenku.resources.account.service import create_account
from tenku.resources.oauth_authorization.tokens import mint_authorization
from tests.contract.reference import check_response

# Fixtures that start a live Tenku; a test using one runs on a single backend.
LIVE_FIXTURES = frozenset({"live", "server"})
DEFAULT_LIVE_BACKEND = "sqlite"
PG_ADMIN = os.environ.get("TENKU_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
V3 = "application/vnd.heroku+json; version=3"
PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        backend = params.get("db_url") or params.get("server")
        if backend is None or not LIVE_FIXTURES & set(getattr(item, "fixturenames", ())):
            kept.append(item)
            continue
        marker = item.get_closest_marker("backend")
        wanted = marker.args[0] if marker is not None else DEFAULT_LIVE_BACKEND
        (kept if backend == wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    # Argon2 at production cost takes ~100 ms and 64 MiB per hash; tests create many users.
    import tenku.security

    original = tenku.security._hasher
    tenku.security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    tenku.security._hasher = original


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if not _pg_available():
        if os.environ.get("TENKU_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (TENKU_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"tenku_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "tenku.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    yield db
    await db.dispose()


async def wipe(db: Database) -> None:
    # DELETE, children first, on both backends. A test leaves a few rows in a few tables,
    # which DELETE removes in milliseconds; PostgreSQL's TRUNCATE makes every table it
    # names new files (a third of a second for a dozen tables, on each of thousands of
    # tests).
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with db.writer.begin() as conn:
        for table in tables:
            await conn.execute(text(f'DELETE FROM "{table}"'))


# The route table of the first application `serving_app` made in this process.
_route_table: list[APIRouter] = []


def serving_app(settings: Settings, database: Database) -> FastAPI:
    """create_app(), on a route table shared by every test of this process.

    FastAPI works out each included route's dependencies and models the first time an
    application matches a request against it: some 0.2 s of CPU per new application, a
    good part of a small test. The table comes from the same module-level routers whatever
    the settings, so each test still gets an application of its own (its settings, context,
    state, middleware and exception handlers) around the table already worked out. The
    table's lifespan is the first application's: these applications are served without one.
    """
    app = create_app(settings, database)
    if _route_table:
        app.router = _route_table[0]
    else:
        _route_table.append(app.router)
    return app


# The test servers (fake partners, drain receivers, source servers) listen on loopback.
LOOPBACK = ("127.0.0.0/8", "::1", "localhost")


@pytest.fixture(scope="session")
def local_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests put the files `file://` sources and local buildpacks may name."""
    return tmp_path_factory.mktemp("local-sources")


def uid_base() -> int:
    """Uids of their own for the apps of each installation a test starts: installations
    side by side (other workers', a killed one's leftover network rule) never share one."""
    return 3_000_000 + 1_000 * secrets.randbelow(1_000_000)


@pytest.fixture
def settings(tmp_path: Path, db_url: str, local_sources: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=db_url,
        sandbox_uid_base=uid_base(),
        port=5000,
        allow_private_targets=LOOPBACK,
        local_source_dirs=(local_sources,),
        # The machine's PostgreSQL and Redis take the tests' connections without passwords.
        addon_unsafe_admin=True,
    )


@dataclass
class User:
    id: uuid.UUID
    email: str
    token: str
    password: str
    client: ApiClient

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request("GET", path, token=self.token, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request("POST", path, token=self.token, **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request("PATCH", path, token=self.token, **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request("PUT", path, token=self.token, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request("DELETE", path, token=self.token, **kw)

    async def create_app(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"name": name, **fields} if name else fields
        r = await self.post("/apps", json=body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data


class ApiClient:
    """An in-process HTTP client that checks every JSON body against the reference."""

    def __init__(self, http: httpx.AsyncClient, database: Database, app: Any = None) -> None:
        self.http = http
        self.database = database
        # The application served (its `state.ctx`: the clock tests set, the throttle...).
        self.app = app
        self.checked = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        hdrs = {"Accept": V3}
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        response = await self.http.request(method, path, headers=hdrs, **kw)
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            raw_path = httpx.URL(path).raw_path.decode().split("?")[0]
            problems = check_response(method, raw_path, response.status_code, body)
            assert not problems, problems
            if 200 <= response.status_code < 300:
                self.checked += 1
            else:
                assert isinstance(body, dict), body
                assert {"id", "message"} <= body.keys(), body
        return response

    async def user(self, email: str | None = None, scope: list[str] | None = None) -> User:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        async with self.database.session(write=True) as db:
            account = await create_account(db, email, PASSWORD)
            _, token, _ = await mint_authorization(
                db, account, description="API Key", scope=["global"], is_api_key=True
            )
            if scope is not None:
                _, token, _ = await mint_authorization(db, account, scope=scope)
            await db.commit()
        return User(account.id, account.email, token, PASSWORD, self)

    async def token_for(self, user: User, scope: list[str]) -> User:
        async with self.database.session(write=True) as db:
            from tenku.db.models import Account

            account = await db.get(Account, user.id)
            assert account is not None
            _, token, _ = await mint_authorization(db, account, scope=scope)
            await db.commit()
        return User(user.id, user.email, token, user.password, self)


@pytest.fixture
async def api(database: Database, settings: Settings) -> AsyncIterator[ApiClient]:
    await wipe(database)
    app = serving_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5000") as http:
        yield ApiClient(http, database, app)
    # What the app's lifespan would do on shutdown: write the budget it spent.
    await app.state.ctx.ratelimiter.close()


@pytest.fixture
async def alice(api: ApiClient) -> User:
    return await api.user("alice@example.com")


@pytest.fixture
async def bob(api: ApiClient) -> User:
    return await api.user("bob@example.com")


def shell_exports(out: str) -> dict[str, str]:
    """What `eval "$(tenku env)"` sets, read the way a POSIX shell reads it."""
    found = {}
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = shlex.split(value)[0]
    return found

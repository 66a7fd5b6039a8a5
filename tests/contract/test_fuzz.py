"""Fuzzing every operation of /openapi.json in-process: no input makes a server error, and
every answer has a documented status, media type and body, and the ranges its list
documents (Accept-Ranges).

Bounded for CI: a fixed number of examples per operation, derandomized (the same cases
every run), no shrinking and no example database. It runs once per backend (PostgreSQL
refuses what SQLite stores: NUL bytes, integers past their columns); the caller owns a
seeded app, which most app-scoped cases are steered to.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenku.app import create_app
from tenku.config import Settings
from tenku.db.engine import Database
from tenku.resources.account.service import create_account
from tenku.resources.oauth_authorization.tokens import mint_authorization
from tenku.resources.schema.links import links
from tenku.resources.schema.openapi import openapi
from tests.conftest import LOOPBACK, PASSWORD, V3, uid_base

# Per operation and backend; TENKU_FUZZ_EXAMPLES=200 digs deeper by hand.
EXAMPLES = int(os.environ.get("TENKU_FUZZ_EXAMPLES", "20"))
BASE = "http://testserver"

# Operations left out, each with the reason.
SKIPPED = {
    ("GET", "/streams/logs/{token}"): "a tailing log stream never ends",
    ("GET", "/streams/builds/{build_id}/{token}"): "a running build's output never ends",
    ("DELETE", "/account"): "deleting the caller ends the session for every later case",
    ("DELETE", "/users/{account_email_or_id_or_self}"): "the same, by name",
    ("GET", "/{app_name}.git/info/refs"): "git's protocol runs git processes per case",
    ("POST", "/{app_name}.git/git-upload-pack"): "git's protocol runs git processes per case",
    ("POST", "/{app_name}.git/git-receive-pack"): "git's protocol runs git processes per case",
}

# Every operation passes these; one that cannot yet would be listed here with its reason.
CONFORMANCE_PENDING: dict[tuple[str, str], str] = {}


class Env:
    def __init__(self, app: Any, token: str, app_id: str) -> None:
        self.app = app
        self.token = token
        self.app_id = app_id


async def _account(url: str) -> str:
    db = Database(url)
    try:
        async with db.session(write=True) as s:
            account = await create_account(s, "fuzz@example.com", PASSWORD)
            _, token, _ = await mint_authorization(
                s, account, description="API Key", scope=["global"], is_api_key=True
            )
            await s.commit()
        return token
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def env(
    db_url: str, local_sources: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    token = asyncio.run(_account(db_url))
    settings_ = Settings(
        data_dir=data_dir,
        database_url=db_url,
        sandbox_uid_base=uid_base(),
        port=5000,
        allow_private_targets=LOOPBACK,
        local_source_dirs=(local_sources,),
        # Thousands of calls: the budget is not what is under test.
        rate_limit_per_hour=10**9,
        # Nothing the fuzzer names may provision a real database or Redis user.
        addon_postgres_url="postgresql://nobody@127.0.0.1:1/none",
        addon_redis_url="redis://127.0.0.1:1",
    )
    app = create_app(settings_)
    with get_client(app) as client:
        served = client.get("/openapi.json")
        assert served.json()["paths"] == DOCUMENT["paths"]
        headers = {"Accept": V3, "Authorization": f"Bearer {token}"}
        made = client.post("/apps", json={"name": "fuzz-app"}, headers=headers)
        assert made.status_code == 201, made.text
        yield Env(app, token, made.json()["id"])


def _document() -> dict[str, Any]:
    # Collection needs the operations before any installation exists: the document of a
    # bare application's route table, which `env` checks is what the real one serves.
    data_dir = Path(tempfile.mkdtemp(prefix="tenku-openapi-"))
    bare = create_app(Settings(data_dir=data_dir, database_url="sqlite+aiosqlite://"))
    return openapi(links(bare.routes), BASE)


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
for method, path in SKIPPED:
    schema = schema.exclude(method=method, path=path)


def _ranges_match(ctx: Any, response: Any, case: Any) -> bool | None:
    """A successful list answers with the Range fields its operation documents."""
    if response.status_code not in (200, 206):
        return None
    documented = case.operation.definition.raw.get("x-ranges")
    answered = response.headers.get("accept-ranges")
    answered = answered[0] if isinstance(answered, list) else answered
    if documented is None and answered in (None, "bytes"):
        return True
    if documented is not None and answered == ", ".join(documented):
        return True
    raise AssertionError(f"Accept-Ranges {answered!r} is not the documented {documented}")


def _steer(case: Any, env: Env) -> None:
    """Most cases that name an app name the caller's own, which exists; the rest keep the
    generated name (a 404, or a 403 for an app of someone else's)."""
    params = case.path_parameters or {}
    value = params.get("app_id_or_name")
    deleting = case.method == "DELETE" and case.path == "/apps/{app_id_or_name}"
    if isinstance(value, str) and not deleting and len(value) % 4:
        params["app_id_or_name"] = env.app_id


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_fuzz(case: Any, env: Env) -> None:
    _steer(case, env)
    headers = {"Accept": V3, "Authorization": f"Bearer {env.token}"}
    response = case.call(headers=headers, app=env.app, base_url=BASE)
    checks = [not_a_server_error]
    if (case.method, case.path) not in CONFORMANCE_PENDING:
        checks += [
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            _ranges_match,
        ]
    case.validate_response(response, checks=checks, headers=headers)

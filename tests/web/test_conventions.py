"""Cross-cutting conventions: versioning, auth forms, errors, Request-Id, ETags, CORS."""

from __future__ import annotations

import base64
import dataclasses
import logging
import uuid
from hashlib import sha256
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from tenku.app import create_app
from tenku.config import Settings
from tenku.db.engine import Database
from tenku.web.middleware import ConventionsMiddleware
from tests.conftest import V3, ApiClient, User


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_missing_version_is_400(api: ApiClient, alice: User) -> None:
    r = await api.http.get("/account", headers={"Authorization": f"Bearer {alice.token}"})
    assert r.status_code == 400
    body = r.json()
    assert body["id"] == "missing_version"
    assert "version=3" in body["message"]
    assert body["error"] == body["message"]
    assert uuid.UUID(r.headers["request-id"])


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.heroku+json; version=3.sdk",
        "application/vnd.heroku+json; version=3.cedar-acm",
        "application/vnd.heroku+json; version=3.filters; indent=4",
        "application/vnd.heroku+json;version=3",
    ],
)
async def test_version_variants_are_v3(alice: User, accept: str) -> None:
    r = await alice.get("/account", headers={"Accept": accept})
    assert r.status_code == 200
    assert r.json()["email"] == alice.email


async def test_unknown_version_is_406(alice: User) -> None:
    r = await alice.get("/account", headers={"Accept": "application/vnd.heroku+json; version=4"})
    assert r.status_code == 406
    assert r.json()["id"] == "not_acceptable"


async def test_credentials_forms(api: ApiClient, alice: User) -> None:
    for auth in (
        f"Bearer {alice.token}",
        _basic("", alice.token),
        _basic(alice.email, alice.token),
        _basic("heroku", alice.token),
    ):
        r = await api.request("GET", "/account", headers={"Authorization": auth})
        assert r.status_code == 200, auth
        assert r.json()["email"] == alice.email


@pytest.mark.parametrize(
    "auth",
    [None, "Bearer nope", "Token abc", "Basic !!!notbase64", "Bearer "],
)
async def test_bad_credentials_are_401(api: ApiClient, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth is not None else {}
    r = await api.request("GET", "/apps", headers=headers)
    assert r.status_code == 401
    assert r.json()["id"] == "unauthorized"


async def test_password_is_not_a_credential_outside_login(api: ApiClient, alice: User) -> None:
    r = await api.request(
        "GET", "/account", headers={"Authorization": _basic(alice.email, alice.password)}
    )
    assert r.status_code == 401


async def test_request_id_is_new_and_echoes_the_chain(alice: User) -> None:
    chain = [str(uuid.uuid4()), str(uuid.uuid4())]
    r = await alice.get("/account", headers={"Request-Id": ",".join(chain)})
    ids = r.headers["request-id"].split(",")
    assert ids[1:] == chain
    assert ids[0] not in chain
    assert uuid.UUID(ids[0])
    other = await alice.get("/account")
    assert other.headers["request-id"].split(",")[0] != ids[0]


async def test_etag_and_304(alice: User) -> None:
    await alice.create_app("etag-app")
    first = await alice.get("/apps/etag-app")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    again = await alice.get("/apps/etag-app", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert "request-id" in again.headers
    await alice.patch("/apps/etag-app", json={"maintenance": True})
    changed = await alice.get("/apps/etag-app", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    listed = await alice.get("/apps")
    assert (
        await alice.get("/apps", headers={"If-None-Match": listed.headers["etag"]})
    ).status_code == 304


async def test_malformed_json_is_400_and_changes_nothing(alice: User) -> None:
    await alice.create_app("json-app")
    for raw in (b"{not json", b"[1, 2]", b'"text"'):
        r = await alice.patch(
            "/apps/json-app", content=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, raw
        assert r.json()["id"] == "bad_request"
    assert (await alice.get("/apps/json-app")).json()["maintenance"] is False


async def test_invalid_params_names_the_parameter_and_is_atomic(alice: User) -> None:
    await alice.create_app("atomic-app")
    r = await alice.patch("/apps/atomic-app", json={"maintenance": "maybe"})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert "maintenance" in r.json()["message"]
    r = await alice.patch("/apps/atomic-app", json={"maintenance": True, "name": "Bad Name"})
    assert r.status_code == 422
    assert (await alice.get("/apps/atomic-app")).json()["maintenance"] is False


async def test_unknown_route_and_method(alice: User) -> None:
    r = await alice.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json()["id"] == "not_found"
    r = await alice.put("/account")
    assert r.status_code == 405
    assert r.json()["id"] == "method_not_allowed"


async def test_method_override(alice: User) -> None:
    await alice.create_app("override-app")
    r = await alice.post(
        "/apps/override-app",
        json={"maintenance": True},
        headers={"X-Http-Method-Override": "PATCH"},
    )
    assert r.status_code == 200
    assert r.json()["maintenance"] is True


async def test_cors(alice: User, api: ApiClient) -> None:
    r = await api.http.options(
        "/apps", headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://dash.example"
    assert "PATCH" in r.headers["access-control-allow-methods"]
    r = await alice.get("/account", headers={"Origin": "https://dash.example"})
    assert "RateLimit-Remaining" in r.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # Found by the fuzzer: the name reached a PostgreSQL lookup, which refused it (a 500).
        ("POST", "/addon-attachments", {"addon": "db\x00", "app": "nul-app"}),
        ("POST", "/actions/addons/resolve", {"addon": "db\x00"}),
        ("PATCH", "/account", {"name": "Tina\x00"}),
        ("POST", "/apps/nul-app/domains", {"hostname": "www.example.com", "x\x00": 1}),
    ],
)
async def test_nul_in_any_body_string_is_422(
    alice: User, method: str, path: str, body: dict[str, object]
) -> None:
    await alice.create_app("nul-app")
    r = await alice.client.request(method, path, token=alice.token, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"
    assert "NUL" in r.json()["message"]


async def test_timestamps_are_zulu_seconds(alice: User) -> None:
    app = await alice.create_app("time-app")
    assert app["created_at"].endswith("Z")
    assert len(app["created_at"]) == len("2012-01-01T12:00:00Z")


async def test_unhandled_error_is_500_json_with_request_id(
    database: Database, settings: Settings, alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, database)

    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        with caplog.at_level(logging.ERROR, logger="tenku.api"):
            r = await http.get("/boom", headers={"Accept": V3})
    assert r.status_code == 500
    assert r.json()["id"] == "internal_server_error"
    rid = r.headers["request-id"]
    assert any(rid in rec.getMessage() for rec in caplog.records)


async def test_rate_limit_budget(database: Database, settings: Settings, alice: User) -> None:
    small = dataclasses.replace(settings, rate_limit_per_hour=3)
    app = create_app(small, database)
    transport = httpx.ASGITransport(app=app)
    headers = {"Accept": V3, "Authorization": f"Bearer {alice.token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        seen = []
        for _ in range(3):
            r = await http.get("/account", headers=headers)
            assert r.status_code == 200
            seen.append(int(r.headers["ratelimit-remaining"]))
        assert seen == [2, 1, 0]
        r = await http.get("/account", headers=headers)
        assert r.status_code == 429
        assert r.json()["id"] == "rate_limit"
        assert r.headers["ratelimit-remaining"] == "0"
        # Reading the budget is free, and says what is left.
        r = await http.get("/account/rate-limits", headers=headers)
        assert r.status_code == 200
        assert r.json() == {"remaining": 0}


async def test_rate_limit_is_per_account(
    database: Database, settings: Settings, alice: User, bob: User
) -> None:
    small = dataclasses.replace(settings, rate_limit_per_hour=2)
    app = create_app(small, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for _ in range(2):
            await http.get(
                "/account", headers={"Accept": V3, "Authorization": f"Bearer {alice.token}"}
            )
        a = await http.get(
            "/account", headers={"Accept": V3, "Authorization": f"Bearer {alice.token}"}
        )
        b = await http.get(
            "/account", headers={"Accept": V3, "Authorization": f"Bearer {bob.token}"}
        )
    assert a.status_code == 429
    assert b.status_code == 200


async def test_rate_limit_remaining_on_every_authenticated_response(alice: User) -> None:
    r1 = await alice.get("/apps")
    r2 = await alice.get("/apps/missing-app")
    assert r2.status_code == 404
    assert int(r2.headers["ratelimit-remaining"]) < int(r1.headers["ratelimit-remaining"])
    limits = (await alice.get("/account/rate-limits")).json()
    assert limits["remaining"] == int(r2.headers["ratelimit-remaining"])


@pytest.mark.parametrize("size", [10, 300 * 1024])
async def test_an_etag_is_the_bodys_digest_whatever_its_size(size: int) -> None:
    """Short bodies are hashed on the event loop, long ones on another thread: the ETag
    and the 304 are the same either way."""
    body = b"x" * size

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await Response(body, media_type="application/json")(scope, receive, send)

    transport = httpx.ASGITransport(app=ConventionsMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/apps", headers={"Accept": V3})
        assert r.status_code == 200
        assert r.content == body
        etag = r.headers["etag"]
        assert etag == '"' + sha256(body).hexdigest()[:32] + '"'
        again = await client.get("/apps", headers={"Accept": V3, "If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag

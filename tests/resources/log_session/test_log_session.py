"""Log sessions and the stream at their `logplex_url`: plain text, SSE, filters and tails."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tenku.logs import store
from tests.conftest import ApiClient, User

SSE = {"Accept": "text/event-stream"}


async def session(user: User, app: str, **params: Any) -> str:
    r = await user.post(f"/apps/{app}/log-sessions", json=params)
    assert r.status_code == 201, r.text
    url = httpx.URL(r.json()["logplex_url"])
    assert url.params.get("srv", "").isdigit()
    return url.raw_path.decode()


async def add_lines(api: ApiClient, app_id: str, *lines: tuple[str, str, str]) -> None:
    async with api.database.session(write=True) as db:
        for source, dyno, message in lines:
            await store.append(db, uuid.UUID(app_id), source, dyno, message)
        await db.commit()


def events(text: str) -> list[tuple[int, str]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "data" in fields:
            out.append((int(fields["id"]), fields["data"]))
    return out


def tails(lines: list[str]) -> list[str]:
    return [line.split(" ", 1)[1] for line in lines]


@pytest.fixture
async def app(alice: User, api: ApiClient) -> dict[str, Any]:
    created = await alice.create_app()
    await add_lines(
        api,
        created["id"],
        ("app", "web.1", "one"),
        ("app", "web.2", "two"),
        ("heroku", "router", "three"),
        ("app", "worker.1", "four"),
        ("app", "webhook.1", "five"),
    )
    return created


async def test_create_answers_a_session(alice: User, app: dict[str, Any]) -> None:
    r = await alice.post(
        f"/apps/{app['name']}/log-sessions",
        json={"dyno": "web.1", "lines": "10", "source": "app", "tail": True},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "logplex_url", "created_at", "updated_at"}
    assert body["logplex_url"].startswith("https://127.0.0.1:5000/streams/logs/")


@pytest.mark.parametrize(
    "params", [{"lines": 1501}, {"lines": -1}, {"lines": "many"}, {"tail": "sometimes"}]
)
async def test_create_validates(alice: User, app: dict[str, Any], params: Any) -> None:
    r = await alice.post(f"/apps/{app['name']}/log-sessions", json=params)
    assert r.status_code == 422, r.text


async def test_create_needs_access(bob: User, app: dict[str, Any]) -> None:
    r = await bob.post(f"/apps/{app['name']}/log-sessions", json={})
    assert r.status_code == 403


async def test_plain_text_returns_the_last_lines(
    alice: User, api: ApiClient, app: dict[str, Any]
) -> None:
    path = await session(alice, app["name"], lines=2)
    r = await api.request("GET", path, headers={"Accept": "*/*"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert tails(r.text.splitlines()) == ["app[worker.1]: four", "app[webhook.1]: five"]


async def test_sse_with_ids_and_resume(alice: User, api: ApiClient, app: dict[str, Any]) -> None:
    path = await session(alice, app["name"])
    r = await api.request("GET", path, headers=SSE)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    got = events(r.text)
    # Platform lines of the app's creation come first.
    assert tails([d for _, d in got][-5:]) == [
        "app[web.1]: one",
        "app[web.2]: two",
        "heroku[router]: three",
        "app[worker.1]: four",
        "app[webhook.1]: five",
    ]
    ids = [i for i, _ in got]
    assert ids == sorted(ids)
    r = await api.request("GET", path, headers={**SSE, "Last-Event-ID": str(ids[-3])})
    assert tails([d for _, d in events(r.text)]) == ["app[worker.1]: four", "app[webhook.1]: five"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"dyno": "web"}, ["app[web.1]: one", "app[web.2]: two"]),
        ({"dyno": "web.2"}, ["app[web.2]: two"]),
        ({"source": "heroku", "dyno": "router"}, ["heroku[router]: three"]),
        ({"source": "app", "lines": 1}, ["app[webhook.1]: five"]),
    ],
)
async def test_filters(
    alice: User, api: ApiClient, app: dict[str, Any], params: Any, expected: list[str]
) -> None:
    path = await session(alice, app["name"], **params)
    r = await api.request("GET", path, headers=SSE)
    assert tails([d for _, d in events(r.text)]) == expected


async def test_bad_token_is_not_found(api: ApiClient, alice: User, app: dict[str, Any]) -> None:
    path = await session(alice, app["name"])
    forged = path.replace("/streams/logs/", "/streams/logs/x")
    for p in (forged, "/streams/logs/nope"):
        r = await api.request("GET", p, headers=SSE)
        assert r.status_code == 404
        assert r.json()["id"] == "not_found"


async def _read_tail(
    app: Any,
    path: str,
    accept: str,
    until: str,
    chunks: list[bytes],
    arrived: asyncio.Event | None = None,
) -> None:
    """Drive the ASGI app directly: httpx's in-process transport buffers whole responses."""
    done = asyncio.Event()
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if arrived is not None:
                arrived.set()
            if until.encode() in b"".join(chunks):
                done.set()

    url = httpx.URL(path)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:5000"), (b"accept", accept.encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000),
    }
    await app(scope, receive, send)


@pytest.mark.parametrize("accept", ["text/event-stream", "*/*"])
async def test_tail_receives_new_lines(
    alice: User, api: ApiClient, app: dict[str, Any], accept: str
) -> None:
    path = await session(alice, app["name"], tail=True, lines=1)
    chunks: list[bytes] = []
    asgi = api.http._transport.app  # type: ignore[attr-defined]
    reader = asyncio.create_task(_read_tail(asgi, path, accept, "Set LATE config vars", chunks))
    await asyncio.sleep(0.3)
    assert b"five" in b"".join(chunks)
    r = await alice.patch(f"/apps/{app['name']}/config-vars", json={"LATE": "1"})
    assert r.status_code == 200, r.text
    await asyncio.wait_for(reader, timeout=10)
    text = b"".join(chunks).decode()
    assert "heroku[api]: Set LATE config vars by alice@example.com" in text


async def test_tail_gets_the_lines_of_two_writers_in_order(
    alice: User, api: ApiClient, app: dict[str, Any]
) -> None:
    """The writer that takes the first number commits last; the other waits for it."""
    path = await session(alice, app["name"], tail=True, lines=1)
    chunks: list[bytes] = []
    asgi = api.http._transport.app  # type: ignore[attr-defined]
    arrived = asyncio.Event()
    reader = asyncio.create_task(_read_tail(asgi, path, "*/*", "second", chunks, arrived))
    app_id = uuid.UUID(app["id"])
    # Once the backlog is out, the session has its position.
    async with asyncio.timeout(10):
        while b"five" not in b"".join(chunks):
            await arrived.wait()
            arrived.clear()

    async def second_writer() -> None:
        async with api.database.session(write=True) as db:
            await store.append(db, app_id, "app", "web.1", "second")
            await db.commit()

    async with api.database.session(write=True) as db:
        await store.append(db, app_id, "app", "web.1", "first")
        second = asyncio.create_task(second_writer())
        await asyncio.sleep(0.3)
        assert not second.done()
        await db.commit()
    await asyncio.wait_for(second, timeout=10)
    await asyncio.wait_for(reader, timeout=10)
    text = b"".join(chunks).decode()
    assert text.count("app[web.1]: first") == 1
    assert text.index("app[web.1]: first") < text.index("app[web.1]: second")


async def test_a_session_dies_with_its_readers_access(
    app: dict[str, Any], api: ApiClient, alice: User, bob: User
) -> None:
    name = app["name"]
    assert (await alice.post(f"/apps/{name}/collaborators", json={"user": bob.email})).is_success
    url = await session(bob, name)
    assert (await api.http.get(url)).status_code == 200
    assert (await alice.delete(f"/apps/{name}/collaborators/{bob.email}")).status_code == 200
    r = await api.http.get(url)
    assert r.status_code == 404
    assert r.json()["id"] == "not_found"

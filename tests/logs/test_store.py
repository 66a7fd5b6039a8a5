"""The app log stream: platform lines written with the changes they describe, and trimming."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tenku.db.models import LogLine
from tenku.logs import store
from tests.conftest import ApiClient, User
from tests.resources.formation.test_formation import deploy

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 (\w+)\[([\w.]+)\]: (.*)$")


async def messages(api: ApiClient, app_id: str) -> list[str]:
    async with api.database.session(write=False) as db:
        lines = await store.read(db, uuid.UUID(app_id), lines=store.MAX_LINES)
    out = []
    for line in lines:
        m = LINE.match(store.format_line(line))
        assert m, store.format_line(line)
        out.append(f"{m.group(1)}[{m.group(2)}]: {m.group(3)}")
    return out


async def test_config_changes_and_releases_are_logged(alice: User, api: ApiClient) -> None:
    app = await alice.create_app()
    r = await alice.patch(f"/apps/{app['name']}/config-vars", json={"FOO": "1", "BAR": "2"})
    assert r.status_code == 200, r.text
    r = await alice.patch(f"/apps/{app['name']}/config-vars", json={"FOO": None})
    assert r.status_code == 200, r.text
    got = await messages(api, app["id"])
    assert got == [
        "heroku[api]: Initial release by alice@example.com",
        "heroku[api]: Release v1 created by alice@example.com",
        "heroku[api]: Set FOO, BAR config vars by alice@example.com",
        "heroku[api]: Release v2 created by alice@example.com",
        "heroku[api]: Remove FOO config vars by alice@example.com",
        "heroku[api]: Release v3 created by alice@example.com",
    ]


async def test_rollback_and_scaling_are_logged(alice: User, api: ApiClient) -> None:
    app = await alice.create_app()
    await deploy(alice, app, {"web": "python app.py", "worker": "python worker.py"})
    r = await alice.post(f"/apps/{app['name']}/releases", json={"release": "v1"})
    assert r.status_code == 201, r.text
    r = await alice.patch(
        f"/apps/{app['name']}/formation",
        json={"updates": [{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}]},
    )
    assert r.status_code == 200, r.text
    got = await messages(api, app["id"])
    assert "heroku[api]: Rollback to v1 by alice@example.com" in got
    assert "heroku[api]: Release v3 created by alice@example.com" in got
    assert got[-1] == "heroku[api]: Scale to web=2, worker=1 by alice@example.com"
    # Scaling to what is already running changes nothing and logs nothing.
    r = await alice.patch(f"/apps/{app['name']}/formation/web", json={"quantity": 2})
    assert r.status_code == 200, r.text
    assert len(await messages(api, app["id"])) == len(got)


async def test_a_failed_change_logs_nothing(alice: User, api: ApiClient) -> None:
    app = await alice.create_app()
    before = await messages(api, app["id"])
    r = await alice.patch(f"/apps/{app['name']}/formation/nope", json={"quantity": 2})
    assert r.status_code == 404
    assert await messages(api, app["id"]) == before


async def test_trimming_keeps_the_last_lines(
    alice: User, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "KEEP", 40)
    app = await alice.create_app()
    app_id = uuid.UUID(app["id"])
    async with api.database.session(write=True) as db:
        for i in range(50):
            await store.append(db, app_id, "app", "web.1", f"line {i}")
        await db.commit()
    async with api.database.session(write=False) as db:
        count = (
            await db.execute(select(func.count()).where(LogLine.app_id == app_id))
        ).scalar_one()
        lines = await store.read(db, app_id, lines=store.MAX_LINES)
    assert count == 40
    assert [line.message for line in lines] == [f"line {i}" for i in range(10, 50)]


async def test_each_app_numbers_its_lines_without_gaps(alice: User, api: ApiClient) -> None:
    one = uuid.UUID((await alice.create_app())["id"])
    two = uuid.UUID((await alice.create_app())["id"])
    now = datetime.now(UTC)
    async with api.database.session(write=True) as db:
        await store.append_many(db, one, [("app", "web.1", "a", now), ("app", "web.1", "b", now)])
        await store.append(db, two, "app", "web.1", "c")
        await store.append_many(db, one, [("app", "web.1", "x" * 25000, now)])
        await db.commit()
    async with api.database.session(write=False) as db:
        ones = await store.read(db, one, lines=store.MAX_LINES)
        twos = await store.read(db, two, lines=store.MAX_LINES)
    # Each app's stream starts with the lines of its creation.
    assert [line.seq for line in ones] == list(range(1, len(ones) + 1))
    assert [line.seq for line in twos] == list(range(1, len(twos) + 1))
    assert [len(line.message) for line in ones[-5:]] == [1, 1, 10000, 10000, 5000]


async def test_a_reader_behind_the_kept_lines_counts_exactly_what_it_missed(
    alice: User, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "KEEP", 100)
    app_id = uuid.UUID((await alice.create_app())["id"])
    async with api.database.session(write=False) as db:
        position, _, _ = await store.start(db, app_id, store.Filters(), 0)
    now = datetime.now(UTC)
    async with api.database.session(write=True) as db:
        await store.append_many(db, app_id, [("app", "web.1", f"{i}", now) for i in range(250)])
        await db.commit()
    async with api.database.session(write=False) as db:
        await store.snapshot(db)
        page = await store.follow(db, app_id, position, limit=30)
    assert page.missed == 150
    assert page.start == position + 150
    assert [line.message for line in page.lines] == [f"{i}" for i in range(150, 180)]
    assert page.more
    assert page.position == page.lines[-1].seq
    # A filtered reader is told of every line trimmed before it passed it, matching or not.
    async with api.database.session(write=False) as db:
        page = await store.follow(db, app_id, position, store.Filters(source="heroku"))
    assert (page.missed, page.lines, page.more) == (150, [], False)
    assert page.position == position + 250


async def test_a_page_holds_about_so_many_characters(alice: User, api: ApiClient) -> None:
    app_id = uuid.UUID((await alice.create_app())["id"])
    async with api.database.session(write=False) as db:
        position, _, _ = await store.start(db, app_id, store.Filters(), 0)
    now = datetime.now(UTC)
    async with api.database.session(write=True) as db:
        await store.append_many(db, app_id, [("app", "web.1", "x" * 100, now)] * 10)
        await db.commit()
    async with api.database.session(write=False) as db:
        page = await store.follow(db, app_id, position, chars=250)
    # Lines are added while the page is under the budget: the one that crosses it too.
    assert (len(page.lines), page.more, page.position) == (3, True, position + 3)


async def test_long_messages_are_split(alice: User, api: ApiClient) -> None:
    app = await alice.create_app()
    async with api.database.session(write=True) as db:
        added = await store.append(db, uuid.UUID(app["id"]), "app", "web.1", "x" * 25000)
        await db.commit()
    assert [len(line.message) for line in added] == [10000, 10000, 5000]

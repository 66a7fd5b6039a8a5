"""The transfer and schedule routes of the Data API, as `heroku pg:backups*` and `pg:copy`
call them: shapes, numbering, lookups, rights and bad input. Transfers stay pending here
(no runtime), except where a test runs one."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import update

from tenku.config import Settings
from tenku.db.models import PgTransfer
from tenku.runtime.janitor import Janitor
from tests.conftest import ApiClient, User
from tests.data_api.backups.support import (
    app_with_databases,
    capture,
    dump_key,
    runner_for,
    settle,
    transfer,
)

TRANSFER_FIELDS = {
    "uuid",
    "num",
    "from_name",
    "from_type",
    "from_url",
    "to_name",
    "to_type",
    "to_url",
    "options",
    "source_bytes",
    "processed_bytes",
    "succeeded",
    "warnings",
    "num_keep",
    "schedule",
    "created_at",
    "started_at",
    "updated_at",
    "finished_at",
    "canceled_at",
    "deleted_at",
    "purged_at",
}


async def test_a_capture_is_recorded_pending_and_numbered_per_app(alice: User) -> None:
    first, second = await app_with_databases(alice, 2)
    (other,) = await app_with_databases(alice)
    backup = await capture(alice, first)
    assert set(backup) == TRANSFER_FIELDS
    assert backup["num"] == 1
    assert (backup["from_type"], backup["to_type"]) == ("pg_dump", "gof3r")
    assert backup["from_name"] == "DATABASE"
    assert backup["to_name"] == "BACKUP"
    assert backup["succeeded"] is None
    assert backup["started_at"] is None
    assert backup["schedule"] is None
    assert backup["num_keep"] == 2  # the default plan, Hobby Dev
    app_id = (await alice.get(f"/apps/{first.app}")).json()["id"]
    assert backup["to_url"] == (
        f"https://127.0.0.1:5000/client/v11/apps/{app_id}/transfers/{backup['uuid']}"
    )
    # Heroku's transfer timestamps, which the CLI shows and sorts as they are.
    assert backup["created_at"].endswith(" +0000")
    assert (await capture(alice, second))["num"] == 2
    assert (await capture(alice, other))["num"] == 1

    r = await alice.get(f"/client/v11/apps/{first.app}/transfers")
    assert [t["num"] for t in r.json()] == [1, 2]
    for ident in ("1", "b001", backup["uuid"]):
        found = await transfer(alice, first.app, ident, verbose=False)
        assert found["uuid"] == backup["uuid"]
        assert "logs" not in found
    verbose = await transfer(alice, first.app, "b001")
    assert verbose["logs"] == []
    r = await alice.get(f"/client/v11/apps/{first.app}/transfers/b009")
    assert r.status_code == 404
    assert r.json()["id"] == "not_found"


async def test_others_cannot_see_capture_or_restore(alice: User, bob: User) -> None:
    (db,) = await app_with_databases(alice)
    backup = await capture(alice, db)
    r = await bob.post(f"/client/v11/databases/{db.id}/backups")
    assert r.status_code == 404
    r = await bob.get(f"/client/v11/apps/{db.app}/transfers")
    assert r.status_code == 403
    r = await bob.post(f"/client/v11/apps/{db.app}/transfers/1/actions/public-url")
    assert r.status_code == 403
    # Restoring alice's backup into bob's own database would hand bob her data.
    (mine,) = await app_with_databases(bob)
    r = await bob.post(
        f"/client/v11/databases/{mine.id}/restores", json={"backup_url": backup["to_url"]}
    )
    assert r.status_code == 403, r.text
    # A copy out of alice's database likewise.
    r = await bob.post(
        f"/client/v11/databases/{mine.id}/transfers",
        json={"from_url": db.url, "to_url": mine.url, "from_name": "A", "to_name": "B"},
    )
    assert r.status_code == 422, r.text
    assert "source" in r.json()["message"]


async def test_a_read_only_token_lists_but_reaches_no_data(api: ApiClient, alice: User) -> None:
    (db,) = await app_with_databases(alice)
    await capture(alice, db)
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get(f"/client/v11/apps/{db.app}/transfers")).status_code == 200
    r = await reader.post(f"/client/v11/apps/{db.app}/transfers/1/actions/public-url")
    assert r.status_code == 403
    assert (await reader.post(f"/client/v11/databases/{db.id}/backups")).status_code == 403
    r = await reader.post(f"/client/v11/apps/{db.app}/transfers/1/actions/cancel")
    assert r.status_code == 403


async def test_cancel_and_delete(alice: User) -> None:
    (db,) = await app_with_databases(alice)
    await capture(alice, db)
    base = f"/client/v11/apps/{db.app}/transfers"
    r = await alice.delete(f"{base}/1")
    assert r.status_code == 422
    assert "cancel it first" in r.json()["message"]
    # Not started yet: it ends at once.
    r = await alice.post(f"{base}/1/actions/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["canceled_at"]
    assert r.json()["finished_at"]
    assert r.json()["succeeded"] is False
    assert (await alice.post(f"{base}/1/actions/cancel")).status_code == 422
    r = await alice.delete(f"{base}/1")
    assert r.status_code == 200
    assert r.json()["deleted_at"]
    assert (await alice.get(f"{base}/1")).status_code == 404
    assert (await alice.get(base)).json() == []
    # Numbers are never handed out twice.
    assert (await capture(alice, db))["num"] == 2


async def test_a_public_url_downloads_the_dump_until_the_backup_goes(
    api: ApiClient, alice: User
) -> None:
    (db,) = await app_with_databases(alice)
    backup = await capture(alice, db)
    url = f"/client/v11/apps/{db.app}/transfers/{backup['num']}/actions/public-url"
    assert (await alice.post(url)).status_code == 422  # not finished
    key = await dump_key(api, backup)

    async def dump() -> Any:
        yield b"PGDMP-not-really"

    await api.app.state.ctx.blobs.put(key, dump())
    async with api.database.session(write=True) as s:
        await s.execute(
            update(PgTransfer)
            .where(PgTransfer.id == uuid.UUID(backup["uuid"]))
            .values(succeeded=True, finished_at=PgTransfer.created_at, processed_bytes=16)
        )
        await s.commit()
    r = await alice.post(url)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"url", "expires_at"}
    download = httpx.URL(r.json()["url"])
    assert download.path.startswith("/blobs/")
    got = await api.http.get(download.path)
    assert got.status_code == 200
    assert got.content == b"PGDMP-not-really"
    assert (await alice.delete(f"/client/v11/apps/{db.app}/transfers/1")).status_code == 200
    assert (await api.http.get(download.path)).status_code == 404
    assert await api.app.state.ctx.blobs.size(key) is None


async def test_restore_input_is_checked(alice: User) -> None:
    (db,) = await app_with_databases(alice)
    restores = f"/client/v11/databases/{db.id}/restores"
    for url in ("", "ftp://example.com/x.dump", "file:///etc/passwd", "x" * 3000):
        r = await alice.post(restores, json={"backup_url": url})
        assert r.status_code == 422, url
    r = await alice.post(restores, json={"backup_url": "https://127.0.0.1:5000/apps/x"})
    assert r.status_code == 422
    assert "names no backup" in r.json()["message"]
    r = await alice.post(restores, json={"backup_url": "https://127.0.0.1:5000/blobs/forged"})
    assert r.status_code == 422
    backup = await capture(alice, db)
    r = await alice.post(restores, json={"backup_url": backup["to_url"]})
    assert r.status_code == 422
    assert "did not complete" in r.json()["message"]
    r = await alice.post(
        restores, json={"backup_url": "https://example.com/db.dump", "extensions": ["bad name"]}
    )
    assert r.status_code == 422
    r = await alice.post(
        restores,
        json={"backup_url": "https://u:secret@example.com/db.dump?sig=1", "extensions": ["hstore"]},
    )
    assert r.status_code == 201
    restore = r.json()
    assert (restore["from_type"], restore["to_type"]) == ("htcat", "pg_restore")
    # Shown without what may be a credential.
    assert restore["from_url"] == "https://example.com/db.dump"
    assert restore["options"] == {"extensions": ["hstore"]}


async def test_a_copy_takes_two_of_the_callers_databases(alice: User) -> None:
    source, target = await app_with_databases(alice, 2)
    copies = f"/client/v11/databases/{target.id}/transfers"
    r = await alice.post(copies, json={"from_url": target.url, "to_url": target.url})
    assert r.status_code == 422
    r = await alice.post(
        copies, json={"from_url": "postgres://u:p@db.example.com:5432/x", "to_url": target.url}
    )
    assert r.status_code == 422
    assert "db.example.com" in r.json()["message"]
    assert "u:p" not in r.json()["message"]
    r = await alice.post(
        copies,
        json={
            "from_name": "DATABASE",
            "from_url": source.url,
            "to_name": "RED",
            "to_url": target.url,
        },
    )
    assert r.status_code == 201, r.text
    copy = r.json()
    assert (copy["from_name"], copy["to_name"]) == ("DATABASE", "RED")
    assert (copy["from_type"], copy["to_type"]) == ("pg_dump", "pg_restore")
    # The path may name the source too (the CLI names the target when it can).
    r = await alice.post(
        f"/client/v11/databases/{source.id}/transfers",
        json={"from_url": source.url, "to_url": target.url},
    )
    assert r.status_code == 201


async def test_schedules(api: ApiClient, alice: User) -> None:
    (db,) = await app_with_databases(alice, plan="heroku-postgresql:standard-0")
    schedules = f"/client/v11/databases/{db.id}/transfer-schedules"
    assert (await alice.get(schedules)).json() == []
    for bad in ({"hour": "24"}, {"hour": "x"}, {"hour": 2, "timezone": "Mars/Olympus"}, {}):
        r = await alice.post(schedules, json=bad)
        assert r.status_code == 422, bad
    r = await alice.post(
        schedules,
        json={"hour": "02", "timezone": "America/New_York", "schedule_name": "DATABASE_URL"},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["name"], made["hour"], made["timezone"]) == ("DATABASE_URL", 2, "America/New_York")
    # Standard keeps four weeks of scheduled backups.
    assert (made["retain_weeks"], made["retain_months"]) == (4, 0)
    # One schedule per database: scheduling again moves it.
    r = await alice.post(schedules, json={"hour": 5, "timezone": "UTC"})
    assert r.status_code == 201
    (listed,) = (await alice.get(schedules)).json()
    assert (listed["uuid"], listed["hour"], listed["timezone"]) == (made["uuid"], 5, "UTC")
    viewer = await api.token_for(alice, ["read"])
    assert (await viewer.post(schedules, json={"hour": 1})).status_code == 403
    assert (await alice.delete(f"{schedules}/{uuid.uuid4()}")).status_code == 404
    r = await alice.delete(f"{schedules}/{made['uuid']}")
    assert r.status_code == 200
    assert (await alice.get(schedules)).json() == []


async def test_the_backups_of_a_deleted_app_go_with_it(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    (db,) = await app_with_databases(alice)
    db.sql("CREATE TABLE t (x int)")
    backup = await capture(alice, db)
    await settle(runner_for(api, settings))
    key = await dump_key(api, backup)
    ctx = api.app.state.ctx
    assert await ctx.blobs.size(key)
    assert (await alice.delete(f"/apps/{db.app}")).status_code == 200
    async with api.database.session(write=False) as s:
        assert await s.get(PgTransfer, uuid.UUID(backup["uuid"])) is None
    # The janitor takes the dump nothing names any more (on its second look).
    janitor = Janitor(settings, api.database, ctx.blobs, ctx.signer, grace=0)
    assert (await janitor.sweep()).backups == 0
    assert (await janitor.sweep()).backups == 1
    assert await ctx.blobs.size(key) is None

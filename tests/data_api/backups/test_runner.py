"""Transfers carried out by the runtime against real databases: a backup captured into the
blob store and restored into another database, a restore from a URL under the egress
policy, a copy, cancellation, limits, restart recovery, schedules and retention."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tenku.config import Settings
from tenku.data_api.backups.retention import Kept, Retention, expired_manual, expired_scheduled
from tenku.db.models import PgTransfer, PgTransferSchedule
from tenku.runtime.pg_transfers import MARKER, RESTARTED
from tests.conftest import ApiClient, User
from tests.data_api.backups.support import (
    Db,
    app_with_databases,
    capture,
    dump_key,
    runner_for,
    settle,
    transfer,
)


def messages(data: dict[str, object]) -> str:
    logs = data["logs"]
    assert isinstance(logs, list)
    return "\n".join(line["message"] for line in logs)


def fill(db: Db, *values: str) -> None:
    db.sql("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text NOT NULL)")
    for value in values:
        db.sql("INSERT INTO notes (body) VALUES (%s)", value)


def notes(db: Db) -> list[str]:
    return [row[0] for row in db.sql("SELECT body FROM notes ORDER BY id")]


async def test_a_backup_restored_into_another_database_brings_its_rows(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    source, target = await app_with_databases(alice, 2)
    fill(source, "first", "second")
    backup = await capture(alice, source)
    assert (backup["num"], backup["from_type"], backup["to_type"]) == (1, "pg_dump", "gof3r")
    runner = runner_for(api, settings)
    await settle(runner)

    done = await transfer(alice, source.app, "b001")
    assert done["succeeded"] is True, messages(done)
    assert done["finished_at"]
    assert done["started_at"]
    assert done["source_bytes"] > 0
    assert "pg_dump: dumping contents of table" in messages(done)
    ctx = api.app.state.ctx
    key = await dump_key(api, done)
    assert done["processed_bytes"] == await ctx.blobs.size(key)
    head = b"".join([chunk async for chunk in ctx.blobs.get(key, 0, 5)])
    assert head == b"PGDMP"

    r = await alice.post(
        f"/client/v11/databases/{target.id}/restores", json={"backup_url": done["to_url"]}
    )
    assert r.status_code == 201, r.text
    assert (r.json()["from_type"], r.json()["to_type"]) == ("gof3r", "pg_restore")
    await settle(runner)
    restored = await transfer(alice, source.app, r.json()["num"])
    assert restored["succeeded"] is True, messages(restored)
    assert restored["processed_bytes"] == done["processed_bytes"]
    assert notes(target) == ["first", "second"]
    # Restored as the target's own role, whatever role owned the tables before.
    (owner,) = target.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'notes'")[0]
    (role,) = target.sql("SELECT current_user")[0]
    assert owner == role


async def test_a_restore_brings_back_a_row_deleted_after_the_capture(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    (db,) = await app_with_databases(alice)
    fill(db, "keep me")
    backup = await capture(alice, db)
    runner = runner_for(api, settings)
    await settle(runner)
    db.sql("DELETE FROM notes")
    fill(db, "written later")
    r = await alice.post(
        f"/client/v11/databases/{db.id}/restores", json={"backup_url": backup["to_url"]}
    )
    assert r.status_code == 201, r.text
    await settle(runner)
    assert (await transfer(alice, db.app, r.json()["uuid"]))["succeeded"] is True
    assert notes(db) == ["keep me"]


@contextlib.contextmanager
def serving(
    body: bytes, hold: threading.Event | None = None, sent: threading.Event | None = None
) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering every GET with `body` (with `hold`: its first
    bytes, then `sent` is set and the rest waits for `hold`)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if hold is None:
                self.wfile.write(body)
                return
            self.wfile.write(body[:100])
            self.wfile.flush()
            if sent is not None:
                sent.set()
            hold.wait(30)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/latest.dump"
    finally:
        server.shutdown()
        server.server_close()


async def dump_of(api: ApiClient, alice: User, db: Db, settings: Settings) -> bytes:
    backup = await capture(alice, db)
    await settle(runner_for(api, settings))
    done = await transfer(alice, db.app, backup["num"])
    assert done["succeeded"], messages(done)
    key = await dump_key(api, done)
    return b"".join([chunk async for chunk in api.app.state.ctx.blobs.get(key)])


async def test_a_url_restore_is_fetched_under_the_egress_policy(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    source, target = await app_with_databases(alice, 2)
    fill(source, "from a url")
    dump = await dump_of(api, alice, source, settings)
    with serving(dump) as url:
        restore = f"/client/v11/databases/{target.id}/restores"
        # The tests' allow-list lets loopback in, as an operator's TENKU_ALLOW_PRIVATE_TARGETS.
        r = await alice.post(restore, json={"backup_url": url})
        assert r.status_code == 201, r.text
        assert r.json()["from_type"] == "htcat"
        await settle(runner_for(api, settings))
        done = await transfer(alice, target.app, r.json()["num"])
        assert done["succeeded"] is True, messages(done)
        assert done["source_bytes"] == len(dump)
        assert notes(target) == ["from a url"]

        # Without it, a private address is refused, and nothing is restored.
        target.sql("DELETE FROM notes")
        r = await alice.post(restore, json={"backup_url": url})
        await settle(runner_for(api, settings, allow_private_targets=()))
        refused = await transfer(alice, target.app, r.json()["num"])
    assert refused["succeeded"] is False
    assert "refused by the egress policy" in messages(refused)
    assert notes(target) == []


async def test_a_copy_dumps_one_database_into_another(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    source, target = await app_with_databases(alice, 2)
    fill(source, "copied")
    fill(target, "overwritten")
    target.sql("CREATE TABLE stale (x int)")
    r = await alice.post(
        f"/client/v11/databases/{target.id}/transfers",
        json={
            "from_name": source.attachment,
            "from_url": source.url,
            "to_name": "RED",
            "to_url": target.url,
        },
    )
    assert r.status_code == 201, r.text
    copy = r.json()
    assert (copy["from_type"], copy["to_type"], copy["to_name"]) == ("pg_dump", "pg_restore", "RED")
    await settle(runner_for(api, settings))
    done = await transfer(alice, target.app, copy["num"])
    assert done["succeeded"] is True, messages(done)
    assert done["processed_bytes"] > 0
    assert notes(target) == ["copied"]
    assert target.sql("SELECT to_regclass('public.stale')") == [(None,)]
    assert notes(source) == ["copied"]


async def test_a_cancelled_restore_stops_and_fails(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    source, target = await app_with_databases(alice, 2)
    fill(source, "x")
    dump = await dump_of(api, alice, source, settings)
    hold, sent = threading.Event(), threading.Event()
    with serving(dump, hold, sent) as url:
        try:
            r = await alice.post(
                f"/client/v11/databases/{target.id}/restores", json={"backup_url": url}
            )
            num = r.json()["num"]
            runner = runner_for(api, settings)
            await runner.claim()
            running = asyncio.gather(*runner._tasks.values())
            # The runtime is mid-transfer once the server has sent it the first bytes.
            assert await asyncio.to_thread(sent.wait, 30)
            r = await alice.post(f"/client/v11/apps/{target.app}/transfers/{num}/actions/cancel")
            assert r.status_code == 200, r.text
            await running
        finally:
            hold.set()
    done = await transfer(alice, target.app, num)
    assert done["succeeded"] is False
    assert done["canceled_at"]
    assert done["finished_at"]
    assert "Canceled." in messages(done)


async def test_a_transfer_past_the_size_limit_fails(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    (db,) = await app_with_databases(alice)
    fill(db, "too much")
    backup = await capture(alice, db)
    await settle(runner_for(api, settings, pg_transfer_max_mb=0))
    done = await transfer(alice, db.app, backup["num"])
    assert done["succeeded"] is False
    assert "TENKU_PG_TRANSFER_MAX_MB" in messages(done)
    assert await api.app.state.ctx.blobs.size(await dump_key(api, done)) is None


async def test_a_restart_fails_the_transfers_it_cut_off_and_kills_their_tools(
    api: ApiClient, alice: User, settings: Settings, tmp_path: Path
) -> None:
    (db,) = await app_with_databases(alice)
    backup = await capture(alice, db)
    transfer_id = uuid.UUID(backup["uuid"])
    async with api.database.session(write=True) as s:
        await s.execute(
            update(PgTransfer)
            .where(PgTransfer.id == transfer_id)
            .values(runner="a-runtime-that-died", started_at=datetime.now(UTC))
        )
        await s.commit()
    # What that runtime's pg_dump would be: a process carrying the transfer's marker.
    leftover = await asyncio.create_subprocess_exec(
        "sleep", "300", env={"PATH": "/usr/bin:/bin", MARKER: str(transfer_id)}, cwd=tmp_path
    )
    try:
        runner = runner_for(api, settings)
        assert await runner.recover() == 1
        assert await asyncio.wait_for(leftover.wait(), 10) != 0
    finally:
        if leftover.returncode is None:
            leftover.kill()
            await leftover.wait()
    done = await transfer(alice, db.app, backup["num"])
    assert done["succeeded"] is False
    assert done["finished_at"]
    assert RESTARTED in messages(done)
    # Nothing is left for anyone to claim, and a second start finds nothing more.
    await settle(runner)
    assert await runner.recover() == 0


async def schedule_at(alice: User, db: Db, hour: str, zone: str, created: datetime) -> str:
    r = await alice.post(
        f"/client/v11/databases/{db.id}/transfer-schedules",
        json={"hour": hour, "timezone": zone, "schedule_name": "DATABASE_URL"},
    )
    assert r.status_code == 201, r.text
    schedule_id = uuid.UUID(r.json()["uuid"])
    async with alice.client.database.session(write=True) as s:
        await s.execute(
            update(PgTransferSchedule)
            .where(PgTransferSchedule.id == schedule_id)
            .values(created_at=created)
        )
        await s.commit()
    return str(schedule_id)


async def test_a_schedule_fires_once_at_its_hour_in_its_zone(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    (db,) = await app_with_databases(alice)
    made = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    schedule_id = await schedule_at(alice, db, "02", "America/New_York", made)
    runner = runner_for(api, settings)
    # 02:00 in New York in January is 07:00 UTC.
    assert await runner.fire(datetime(2030, 1, 2, 6, 59, tzinfo=UTC)) == 0
    assert await runner.fire(datetime(2030, 1, 2, 7, 0, tzinfo=UTC)) == 1
    assert await runner.fire(datetime(2030, 1, 2, 7, 0, tzinfo=UTC)) == 0
    assert await runner.fire(datetime(2030, 1, 2, 23, 0, tzinfo=UTC)) == 0
    r = await alice.get(f"/client/v11/apps/{db.app}/transfers")
    (scheduled,) = r.json()
    assert scheduled["schedule"] == {"uuid": schedule_id}
    assert (scheduled["from_type"], scheduled["to_type"]) == ("pg_dump", "gof3r")
    # A runtime that was away for days makes the one backup it owes now, once.
    assert await runner.fire(datetime(2030, 1, 5, 9, 0, tzinfo=UTC)) == 1
    assert await runner.fire(datetime(2030, 1, 5, 9, 0, tzinfo=UTC)) == 0
    await settle(runner)
    # Both ran today: a schedule keeps one backup a day, the newest.
    r = await alice.get(f"/client/v11/apps/{db.app}/transfers")
    assert [(t["num"], t["succeeded"]) for t in r.json()] == [(2, True)]


async def test_a_succeeded_capture_expires_the_oldest_past_the_plan_limit(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    # Hobby Dev keeps two manual backups.
    (db,) = await app_with_databases(alice, plan="heroku-postgresql:hobby-dev")
    fill(db, "x")
    runner = runner_for(api, settings)
    kept = []
    for _ in range(3):
        kept.append(await capture(alice, db))
        await settle(runner)
    r = await alice.get(f"/client/v11/apps/{db.app}/transfers")
    assert [t["num"] for t in r.json()] == [2, 3]
    assert {t["num_keep"] for t in r.json()} == {2}
    assert await api.app.state.ctx.blobs.size(await dump_key(api, kept[0])) is None
    r = await alice.get(f"/client/v11/apps/{db.app}/transfers/1")
    assert r.status_code == 404


def newest_per(backups: list[Kept], period: object, count: int) -> set[uuid.UUID]:
    groups: dict[object, Kept] = {}
    for backup in backups:
        key = period(backup.created_at)  # type: ignore[operator]
        if key not in groups or groups[key].created_at < backup.created_at:
            groups[key] = backup
    newest = sorted(groups.values(), key=lambda b: b.created_at)[-count:] if count else []
    return {b.id for b in newest}


def test_retention_keeps_days_weeks_and_months() -> None:
    start = datetime(2030, 1, 1, 2, tzinfo=UTC)
    daily = [Kept(uuid.uuid4(), start + timedelta(days=n), True) for n in range(100)]
    retention = Retention(manual=50, weeks=8, months=12)
    kept = {b.id for b in daily} - expired_scheduled(daily, retention)
    assert kept == (
        {b.id for b in daily[-7:]}
        | newest_per(daily, lambda t: t.isocalendar()[:2], 8)
        | newest_per(daily, lambda t: (t.year, t.month), 12)
    )
    assert len(kept) < len(daily)
    # Essential keeps the last 7 days only.
    assert {b.id for b in daily} - expired_scheduled(daily, Retention()) == {
        b.id for b in daily[-7:]
    }

    manual = [Kept(uuid.uuid4(), start + timedelta(hours=n), n != 3) for n in range(6)]
    gone = expired_manual(manual, Retention(manual=2))
    assert {b.id for b in manual} - gone == {manual[5].id, manual[4].id, manual[3].id}


@pytest.mark.parametrize(
    ("settings_json", "expected"),
    [
        (None, Retention()),
        ({"backups": {"manual": 25, "weeks": 4}}, Retention(manual=25, weeks=4, months=0)),
        ({"backups": {"manual": -1, "weeks": True}}, Retention()),
    ],
)
def test_retention_by_plan(settings_json: dict[str, object] | None, expected: Retention) -> None:
    assert Retention.of(settings_json) == expected

"""SQLite writers wait for another process's lock without stalling the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select, text

from tenku.db.engine import Database
from tenku.db.migrate import upgrade
from tenku.db.models import RateLimitBucket
from tests.conftest import User


async def test_a_writer_waits_for_another_connections_lock_while_the_loop_runs(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tenku.db'}"
    upgrade(url)
    # Two Databases over one file stand for two processes: each has its own writer.
    other, ours = Database(url), Database(url)
    try:
        async with other.session(write=True) as holder:
            await holder.execute(text("INSERT INTO rate_limit_buckets VALUES ('held', 1.0)"))

            async def write() -> None:
                async with ours.session(write=True) as s, s.begin():
                    await s.execute(text("INSERT INTO rate_limit_buckets VALUES ('ours', 2.0)"))

            waiting = asyncio.create_task(write())
            await asyncio.sleep(0.05)
            # While our writer waits for the lock, the loop still serves reads.
            for _ in range(5):
                async with ours.session(write=False) as s, s.begin():
                    found = await s.execute(select(RateLimitBucket.subject))
                    assert found.scalars().all() == []
            assert not waiting.done()
            await holder.commit()
        await waiting
        async with ours.session(write=False) as s, s.begin():
            subjects = (await s.execute(select(RateLimitBucket.subject))).scalars().all()
        assert sorted(subjects) == ["held", "ours"]
    finally:
        await other.dispose()
        await ours.dispose()


async def test_a_post_that_only_reads_is_not_held_up_by_another_writer(
    alice: User, db_url: str
) -> None:
    await alice.create_app("rd-one")
    other = Database(db_url)
    try:
        async with other.session(write=True) as holder:
            # Another process holds a write transaction (on SQLite, the database's lock).
            await holder.execute(text("INSERT INTO rate_limit_buckets VALUES ('held', 1.0)"))
            async with asyncio.timeout(10):
                r = await alice.post("/filters/apps", json={"in": {"id": []}})
                resolved = await alice.post("/actions/addons/resolve", json={"addon": "x"})
            assert r.status_code == 200, r.text
            assert resolved.status_code == 404, resolved.text
            await holder.rollback()
    finally:
        await other.dispose()

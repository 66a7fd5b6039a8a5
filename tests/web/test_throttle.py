"""Lock-outs after failed attempts, on a clock the test moves (no waiting, no timing)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tenku.db.engine import Database
from tenku.db.models import AuthThrottle
from tenku.web.throttle import Clock, Policy, Throttle
from tests.conftest import wipe
from tests.two_factor import T0

POLICY = Policy("test", 3, timedelta(minutes=10), timedelta(minutes=15), "test failures")
OTHER = Policy("other", 3, timedelta(minutes=10), timedelta(minutes=15))


async def throttle(database: Database) -> tuple[Throttle, Clock]:
    await wipe(database)
    clock = Clock()
    clock.set(T0)
    return Throttle(database, clock), clock


async def test_the_limit_th_failure_locks_until_the_lock_ends(database: Database) -> None:
    t, clock = await throttle(database)
    hits = [(POLICY, "alice@example.com")]
    assert await t.fail(hits) is None
    assert await t.fail(hits) is None
    assert await t.locked(hits) is None
    lock = await t.fail(hits)
    assert lock is not None
    assert lock.until == T0 + timedelta(minutes=15)
    assert lock.seconds == 15 * 60
    assert lock.policy is POLICY
    clock.advance(timedelta(minutes=14, seconds=59))
    locked = await t.locked(hits)
    assert locked is not None
    assert locked.seconds == 1
    # Failures while locked neither count nor extend the lock.
    again = await t.fail(hits)
    assert again is not None
    assert again.until == lock.until
    clock.advance(timedelta(seconds=1))
    assert await t.locked(hits) is None
    # A fresh start after the lock: the limit applies again from zero.
    assert await t.fail(hits) is None
    assert await t.fail(hits) is None
    assert await t.fail(hits) is not None


async def test_failures_outside_the_window_start_over(database: Database) -> None:
    t, clock = await throttle(database)
    hits = [(POLICY, "bob@example.com")]
    await t.fail(hits)
    await t.fail(hits)
    clock.advance(timedelta(minutes=10))
    assert await t.fail(hits) is None
    assert await t.fail(hits) is None
    assert await t.fail(hits) is not None


async def test_subjects_and_policies_are_counted_apart(database: Database) -> None:
    t, _ = await throttle(database)
    for _ in range(3):
        await t.fail([(POLICY, "a"), (OTHER, "a")])
    await t.fail([(POLICY, "b")])
    locked = await t.locked([(POLICY, "b"), (OTHER, "a")])
    assert locked is not None
    assert locked.policy is OTHER
    assert await t.locked([(POLICY, "b"), (OTHER, "b")]) is None


async def test_clear_forgets_failures_and_lift_ends_locks(database: Database) -> None:
    t, _ = await throttle(database)
    hits = [(POLICY, "c")]
    await t.fail(hits)
    await t.fail(hits)
    await t.clear(hits)
    assert await t.fail(hits) is None
    assert await t.fail(hits) is None
    assert await t.fail(hits) is not None
    await t.clear(hits)
    assert await t.locked(hits) is not None, "a success does not end a lock"
    await t.clear(hits, lift=True)
    assert await t.locked(hits) is None


async def test_subjects_are_stored_by_digest_and_old_rows_go(database: Database) -> None:
    t, clock = await throttle(database)
    await t.fail([(POLICY, "carol@example.com")])
    async with database.session(write=False) as s:
        subjects = list((await s.execute(select(AuthThrottle.subject))).scalars())
    assert len(subjects) == 1
    assert "carol" not in subjects[0]
    assert subjects[0].startswith("test:")
    clock.advance(timedelta(days=2))
    await t.fail([(POLICY, "dave@example.com")])
    async with database.session(write=False) as s:
        subjects = list((await s.execute(select(AuthThrottle.subject))).scalars())
    assert subjects == [POLICY.subject("dave@example.com")]

"""The rate limiter's batches: workers admit from memory, write later, and stay in bounds."""

from __future__ import annotations

import time

from sqlalchemy import select

from tenku.db.engine import Database
from tenku.db.models import RateLimitBucket
from tenku.web.ratelimit import RateLimiter
from tests.conftest import wipe


async def stored(database: Database, subject: str) -> float | None:
    async with database.session(write=False) as s, s.begin():
        tat: float | None = (
            await s.execute(select(RateLimitBucket.tat).where(RateLimitBucket.subject == subject))
        ).scalar_one_or_none()
    return tat


async def test_reads_are_admitted_from_memory_and_written_in_a_batch(database: Database) -> None:
    await wipe(database)
    limiter = RateLimiter(database, 4500, workers=2)
    assert limiter.slack == 22
    started = time.time()
    seen = [(await limiter.consume("account:a"))[1] for _ in range(11)]
    assert seen == list(range(4499, 4488, -1))
    # Nothing written yet, and what is left is this worker's count all the same.
    assert await stored(database, "account:a") is None
    assert await limiter.remaining("account:a") == 4489
    await limiter.close()
    after = await stored(database, "account:a")
    assert after is not None
    assert round((after - started) / limiter.interval) == 11


async def test_workers_together_never_pass_more_than_the_bound(database: Database) -> None:
    await wipe(database)
    # 200 an hour: 1% is 2 requests, one for each of two workers.
    workers = [RateLimiter(database, 200, workers=2) for _ in range(2)]
    assert [w.slack for w in workers] == [1, 1]
    admitted = 0
    for _ in range(150):
        for worker in workers:
            allowed, _ = await worker.consume("account:b")
            admitted += allowed
    for worker in workers:
        await worker.close()
    assert 200 <= admitted <= 202
    # What passed beyond the budget is owed: the next request waits for it to be repaid.
    fresh = RateLimiter(database, 200, workers=2)
    assert await fresh.consume("account:b") == (False, 0)


async def test_a_worker_alone_never_waits_for_a_write(database: Database) -> None:
    await wipe(database)
    limiter = RateLimiter(database, 4500)
    assert limiter.slack == 4500
    # Far more than a shared worker's share, all admitted from memory, none written yet:
    # a worker alone holds the whole bucket.
    seen = [await limiter.consume("account:d") for _ in range(200)]
    assert seen == [(True, 4499 - n) for n in range(200)]
    assert await stored(database, "account:d") is None
    # Near the end of its budget it writes every request, and passes none beyond it.
    limiter_small = RateLimiter(database, 150)
    admitted = [(await limiter_small.consume("account:e"))[0] for _ in range(160)]
    assert 149 <= sum(admitted) <= 150
    assert admitted[-5:] == [False] * 5
    await limiter.close()
    await limiter_small.close()
    assert await stored(database, "account:d") is not None


async def test_small_budgets_write_every_request(database: Database) -> None:
    await wipe(database)
    limiter = RateLimiter(database, 99)
    assert limiter.slack == 0
    await limiter.consume("account:c")
    one = await stored(database, "account:c")
    await limiter.consume("account:c")
    two = await stored(database, "account:c")
    assert one is not None
    assert two is not None
    assert round((two - one) / limiter.interval) == 1

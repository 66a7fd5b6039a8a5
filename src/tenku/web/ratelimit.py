"""Per-account request budget (GCRA), shared by every worker through the database.

A database write per request would put every read behind SQLite's one write lock, so
each worker admits requests from its own copy of a bucket and writes what it admitted in
batches. What it may admit unwritten is bounded (`slack`; unbounded for a worker alone),
and only while its copy shows more room than all workers' unwritten requests together;
so across all workers, at most
`min(1% of the budget, 50)` requests pass that the shared bucket would have refused.
Those are charged when written (the bucket goes into debt and refuses until it is paid
back), so over any stretch of time an account gets no more than its budget plus that
bound. Budgets under 100 requests an hour get no slack: every request is written.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.engine import Database
from tenku.db.models import RateLimitBucket

# How often admitted requests are written, and how old a copy may be before it is read
# again: other workers' requests show up in a bucket no later than this.
FLUSH_EVERY = 0.2
FRESH_FOR = 0.25
# Copies of buckets not used for this long are forgotten.
FORGET_AFTER = 60.0


@dataclass
class _Bucket:
    # The shared bucket's tat as last read or written, plus what was admitted since.
    tat: float
    synced: float
    used: float
    pending: int = 0


class RateLimiter:
    def __init__(self, db: Database, per_hour: int, workers: int = 1) -> None:
        self.db = db
        self.capacity = max(per_hour, 1)
        self.interval = 3600.0 / self.capacity
        self.horizon = self.capacity * self.interval
        workers = max(workers, 1)
        self.overshoot = min(self.capacity // 100, 50)
        # A worker leaves room in the bound for the other workers' unwritten requests, so
        # it may keep only its share unwritten. A worker alone has no one to leave room
        # for: its copy is the whole bucket, it writes it for the record, and requests
        # never wait for a write (under load one waits behind every request in flight).
        alone = workers == 1 and self.overshoot > 0
        self.slack = self.capacity if alone else self.overshoot // workers
        # A worker alone writes every change to the bucket itself: its copy never goes stale.
        self.fresh_for = math.inf if alone else FRESH_FOR
        self._buckets: dict[str, _Bucket] = {}
        # Reads of buckets under way: requests that find a copy stale at the same moment
        # share one read.
        self._reading: dict[str, asyncio.Task[_Bucket]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        # Writes of one worker go one at a time, so no admitted request is written twice.
        self._writing = asyncio.Lock()

    def _remaining(self, tat: float, now: float) -> int:
        used = max(tat - now, 0.0) / self.interval
        return max(math.floor(self.capacity - used + 1e-9), 0)

    async def consume(self, subject: str) -> tuple[bool, int]:
        """Take one request from `subject`'s budget: (admitted, what is left)."""
        now = time.time()
        if self.slack:
            bucket = self._buckets.get(subject)
            if bucket is None or now - bucket.synced > self.fresh_for:
                bucket = await self._read_shared(subject, now)
            admitted = self._admit_locally(bucket, now)
            if admitted is None and bucket.pending >= self.slack:
                # Out of slack, not of budget: wait for the batch being written, which
                # every request in the same position shares, rather than write in line.
                await self._flush_soon()
                now = time.time()
                admitted = self._admit_locally(self._buckets.get(subject) or bucket, now)
            if admitted is not None:
                return admitted
        return await self._consume_written(subject, now)

    async def _flush_soon(self) -> None:
        if self._flushing is None:
            if self._timer is not None:
                self._timer.cancel()
            self._start_flush()
        assert self._flushing is not None
        await asyncio.shield(self._flushing)

    def _admit_locally(self, bucket: _Bucket, now: float) -> tuple[bool, int] | None:
        if bucket.pending >= self.slack:
            return None
        tat = max(bucket.tat, now) + self.interval
        # Room must remain for every worker's unwritten requests, or the bound would not hold.
        if tat - now > self.horizon - self.overshoot * self.interval:
            return None
        bucket.tat = tat
        bucket.used = now
        bucket.pending += 1
        # Written early, so a busy worker rarely reaches `slack` and has to write in line.
        self._schedule_flush(soon=bucket.pending * 2 >= self.slack)
        return True, self._remaining(tat, now)

    async def _read_shared(self, subject: str, now: float) -> _Bucket:
        reading = self._reading.get(subject)
        if reading is None:
            reading = asyncio.get_running_loop().create_task(self._read(subject, now))
            self._reading[subject] = reading
            reading.add_done_callback(lambda _: self._reading.pop(subject, None))
        return await asyncio.shield(reading)

    async def _read(self, subject: str, now: float) -> _Bucket:
        async with self.db.session(write=False) as s, s.begin():
            tat = (
                await s.execute(
                    select(RateLimitBucket.tat).where(RateLimitBucket.subject == subject)
                )
            ).scalar_one_or_none()
        bucket = self._buckets.get(subject)
        pending = bucket.pending if bucket is not None else 0
        # What this worker admitted and has not written yet is not in the row.
        shared = tat if tat is not None else now
        bucket = _Bucket(max(shared, now) + pending * self.interval, now, now, pending)
        self._buckets[subject] = bucket
        return bucket

    async def _consume_written(self, subject: str, now: float) -> tuple[bool, int]:
        async with self._writing:
            bucket = self._buckets.get(subject)
            pending = bucket.pending if bucket is not None else 0
            async with self.db.session(write=True) as s, s.begin():
                if pending:
                    await self._charge(s, subject, pending)
                allowed, tat = await self._take(s, subject, now)
            if self.slack:
                # Requests admitted while this one waited are still unwritten.
                left = self._buckets[subject].pending - pending if subject in self._buckets else 0
                self._buckets[subject] = _Bucket(tat + left * self.interval, now, now, left)
        return allowed, self._remaining(tat, now) if allowed else 0

    async def _take(self, session: AsyncSession, subject: str, now: float) -> tuple[bool, float]:
        """One request from the shared bucket: (admitted, the bucket's tat after)."""
        start = case((RateLimitBucket.tat > now, RateLimitBucket.tat), else_=now)
        take = (
            update(RateLimitBucket)
            .where(RateLimitBucket.subject == subject, start + self.interval - now <= self.horizon)
            .values(tat=start + self.interval)
            .returning(RateLimitBucket.tat)
        )
        tat = (await session.execute(take)).scalar_one_or_none()
        if tat is not None:
            return True, tat
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        created = await session.execute(
            insert(RateLimitBucket)
            .values(subject=subject, tat=now + self.interval)
            .on_conflict_do_nothing()
            .returning(RateLimitBucket.tat)
        )
        if created.scalar_one_or_none() is not None:
            return True, now + self.interval
        # The row exists, so the conditional update found the budget spent (or another
        # worker created the row a moment ago: one more try settles which).
        tat = (await session.execute(take)).scalar_one_or_none()
        if tat is not None:
            return True, tat
        current = (
            await session.execute(
                select(RateLimitBucket.tat).where(RateLimitBucket.subject == subject)
            )
        ).scalar_one()
        return False, current

    async def _charge(self, session: AsyncSession, subject: str, count: int) -> float:
        """Write `count` requests already admitted; the bucket may go into debt."""
        now = time.time()
        start = case((RateLimitBucket.tat > now, RateLimitBucket.tat), else_=now)
        tat = (
            await session.execute(
                update(RateLimitBucket)
                .where(RateLimitBucket.subject == subject)
                .values(tat=start + count * self.interval)
                .returning(RateLimitBucket.tat)
            )
        ).scalar_one_or_none()
        if tat is not None:
            return tat
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        await session.execute(
            insert(RateLimitBucket)
            .values(subject=subject, tat=now + count * self.interval)
            .on_conflict_do_update(
                index_elements=[RateLimitBucket.subject],
                set_={"tat": start + count * self.interval},
            )
        )
        return now + count * self.interval

    def _schedule_flush(self, soon: bool = False) -> None:
        if self._flushing is not None:
            return
        if soon and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(0 if soon else FLUSH_EVERY, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._flushing = asyncio.get_running_loop().create_task(self._flush_and_reschedule())

    async def _flush_and_reschedule(self) -> None:
        try:
            await self.flush()
        finally:
            self._flushing = None
        if any(b.pending for b in self._buckets.values()):
            self._schedule_flush()

    async def flush(self) -> None:
        """Write every request admitted but not yet written, in one transaction."""
        now = time.time()
        for subject in [s for s, b in self._buckets.items() if now - b.used > FORGET_AFTER]:
            if not self._buckets[subject].pending:
                del self._buckets[subject]
        async with self._writing:
            await self._write_owed()

    async def _write_owed(self) -> None:
        owed = {subject: b.pending for subject, b in self._buckets.items() if b.pending}
        if not owed:
            return
        written: dict[str, float] = {}
        async with self.db.session(write=True) as s, s.begin():
            for subject, count in owed.items():
                written[subject] = await self._charge(s, subject, count)
        now = time.time()
        for subject, tat in written.items():
            bucket = self._buckets.get(subject)
            if bucket is None:
                continue
            bucket.pending -= owed[subject]
            bucket.tat = max(tat, now) + bucket.pending * self.interval
            bucket.synced = now

    async def close(self) -> None:
        """Write what is owed (a worker shutting down)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        await self.flush()

    async def remaining(self, subject: str) -> int:
        now = time.time()
        bucket = self._buckets.get(subject)
        if bucket is None or now - bucket.synced > self.fresh_for:
            async with self.db.session(write=False) as s, s.begin():
                tat = (
                    await s.execute(
                        select(RateLimitBucket.tat).where(RateLimitBucket.subject == subject)
                    )
                ).scalar_one_or_none()
            pending = bucket.pending if bucket is not None else 0
            if tat is None and not pending:
                return self.capacity
            return self._remaining(max(tat or now, now) + pending * self.interval, now)
        return self._remaining(bucket.tat, now)

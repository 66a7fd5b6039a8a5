"""Per-account request budget kept in the database (GCRA), shared by every worker."""

from __future__ import annotations

import math
import time

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.engine import Database
from tenku.db.models import RateLimitBucket


class RateLimiter:
    def __init__(self, db: Database, per_hour: int) -> None:
        self.db = db
        self.capacity = max(per_hour, 1)
        self.interval = 3600.0 / self.capacity

    def _remaining(self, tat: float, now: float) -> int:
        used = max(tat - now, 0.0) / self.interval
        return max(math.floor(self.capacity - used + 1e-9), 0)

    async def consume_in(self, session: AsyncSession, subject: str) -> tuple[bool, int]:
        """Take one request from the budget inside `session`'s (write) transaction."""
        now = time.time()
        horizon = self.capacity * self.interval
        start = case((RateLimitBucket.tat > now, RateLimitBucket.tat), else_=now)
        take = (
            update(RateLimitBucket)
            .where(RateLimitBucket.subject == subject, start + self.interval - now <= horizon)
            .values(tat=start + self.interval)
            .returning(RateLimitBucket.tat)
        )
        tat = (await session.execute(take)).scalar_one_or_none()
        if tat is not None:
            return True, self._remaining(tat, now)
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        created = await session.execute(
            insert(RateLimitBucket)
            .values(subject=subject, tat=now + self.interval)
            .on_conflict_do_nothing()
            .returning(RateLimitBucket.tat)
        )
        if created.scalar_one_or_none() is not None:
            return True, self._remaining(now + self.interval, now)
        # The row exists, so the conditional update found the budget spent (or another
        # worker created the row a moment ago: one more try settles which).
        tat = (await session.execute(take)).scalar_one_or_none()
        return (True, self._remaining(tat, now)) if tat is not None else (False, 0)

    async def consume(self, subject: str) -> tuple[bool, int]:
        async with self.db.session(write=True) as s, s.begin():
            return await self.consume_in(s, subject)

    async def remaining(self, subject: str) -> int:
        async with self.db.session(write=False) as s, s.begin():
            tat = (
                await s.execute(
                    select(RateLimitBucket.tat).where(RateLimitBucket.subject == subject)
                )
            ).scalar_one_or_none()
        return self.capacity if tat is None else self._remaining(tat, time.time())

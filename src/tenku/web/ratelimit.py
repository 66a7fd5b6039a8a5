"""Per-account request budget kept in the database (GCRA), shared by every worker."""

from __future__ import annotations

import math
import time

from sqlalchemy import case, insert, select, update
from sqlalchemy.exc import IntegrityError

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

    async def consume(self, subject: str) -> tuple[bool, int]:
        """Take one request from the subject's budget: (allowed, remaining)."""
        now = time.time()
        horizon = self.capacity * self.interval
        start = case((RateLimitBucket.tat > now, RateLimitBucket.tat), else_=now)
        stmt = (
            update(RateLimitBucket)
            .where(RateLimitBucket.subject == subject, start + self.interval - now <= horizon)
            .values(tat=start + self.interval)
            .returning(RateLimitBucket.tat)
        )
        for _ in range(2):
            async with self.db.session(write=True) as s, s.begin():
                tat = (await s.execute(stmt)).scalar_one_or_none()
                if tat is not None:
                    return True, self._remaining(tat, now)
                current = (
                    await s.execute(
                        select(RateLimitBucket.tat).where(RateLimitBucket.subject == subject)
                    )
                ).scalar_one_or_none()
                if current is not None:
                    return False, 0
            try:
                async with self.db.session(write=True) as s, s.begin():
                    await s.execute(insert(RateLimitBucket).values(subject=subject, tat=now))
            except IntegrityError:
                pass  # another worker created it first; take the update path again
        return False, 0

    async def remaining(self, subject: str) -> int:
        async with self.db.session(write=False) as s, s.begin():
            tat = (
                await s.execute(
                    select(RateLimitBucket.tat).where(RateLimitBucket.subject == subject)
                )
            ).scalar_one_or_none()
        return self.capacity if tat is None else self._remaining(tat, time.time())

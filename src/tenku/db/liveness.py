"""Whether the runtime running a dyno or a build is alive: the heartbeat it writes.

Every runtime writes its row of `runtime_beats` every `interval` seconds while it runs and
removes it when it stops cleanly. A runtime killed outright leaves a row that stops
moving: once it is `STALE_BEATS` intervals old, what that runtime ran is reported as it
truly is (its dynos crashed, its builds failed) until a new runtime takes over.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.base import utcnow
from tenku.db.models import RuntimeBeat

STALE_BEATS = 4


async def beat(db: AsyncSession, runner: str) -> None:
    now = utcnow()
    done = await db.execute(
        update(RuntimeBeat)
        .where(RuntimeBeat.runner == runner)
        .values(beat_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(done, "rowcount", 0):
        db.add(RuntimeBeat(runner=runner, started_at=now, beat_at=now))


async def forget(db: AsyncSession, *runners: str) -> None:
    await db.execute(
        delete(RuntimeBeat)
        .where(RuntimeBeat.runner.in_(runners))
        .execution_options(synchronize_session=False)
    )


async def forget_all_but(db: AsyncSession, runners: set[str] | frozenset[str]) -> None:
    """Drop the rows of runtimes that are gone."""
    await db.execute(
        delete(RuntimeBeat)
        .where(RuntimeBeat.runner.not_in(runners))
        .execution_options(synchronize_session=False)
    )


async def live_runners(db: AsyncSession, interval: float) -> frozenset[str]:
    """The runtimes whose heartbeat is recent."""
    since = utcnow() - timedelta(seconds=interval * STALE_BEATS)
    rows = await db.scalars(select(RuntimeBeat.runner).where(RuntimeBeat.beat_at >= since))
    return frozenset(rows)

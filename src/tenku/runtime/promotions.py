"""Pipeline promotions: the runtime releases the promoted slug on each target.

`POST /pipeline-promotions` records a pending promotion and its targets and nudges the
runtime. The runtime that holds the data directory claims it (`runner`), then settles
the targets one by one, each in a transaction of its own in which the target's release
and its status commit together: a runtime that dies leaves every target either done or
untouched. The next runtime takes over what the dead one had claimed and resumes it, so
a promotion never stays pending for want of a runtime; the targets already done are not
promoted again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from sqlalchemy import or_, update
from sqlalchemy.exc import InterfaceError, OperationalError

from tenku.db.engine import Database
from tenku.db.models import PipelinePromotion
from tenku.loops import WAKE_GAP, Passes, Periodic
from tenku.resources.pipeline_promotion import service
from tenku.web.errors import ApiError

log = logging.getLogger("tenku.runtime.promotions")

# Promotions claimed in one pass; the next pass (at once, after a wake) takes more.
BATCH = 20
INTERNAL = "Promotion failed: an internal error (the platform's log says more)."


class Promoter(Periodic):
    def __init__(
        self,
        db: Database,
        runner: str,
        interval: float,
        released: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.runner = runner
        # Called after a target's release commits: its dynos are to restart.
        self.released = released
        self._passes = Passes(
            "tenku-promotions",
            self.sweep,
            interval,
            logger=log,
            failure="could not carry out pipeline promotions",
            gap=WAKE_GAP,
        )

    async def recover(self) -> int:
        """Take over the promotions an earlier runtime claimed and never finished (this
        runtime holds the data directory, so that one is gone); how many."""
        async with self.db.session(write=True) as db:
            result = await db.execute(
                update(PipelinePromotion)
                .where(
                    PipelinePromotion.status == service.PENDING,
                    PipelinePromotion.runner.is_not(None),
                    PipelinePromotion.runner != self.runner,
                )
                .values(runner=None)
                .execution_options(synchronize_session=False)
            )
            await db.commit()
        taken: int = getattr(result, "rowcount", 0) or 0
        if taken:
            log.warning("resuming %d promotions a restart interrupted", taken)
        return taken

    async def sweep(self) -> int:
        """Claim waiting promotions and carry them out; how many were completed."""
        async with self.db.session(write=False) as db:
            waiting = list((await db.execute(service.waiting().limit(BATCH))).scalars())
        if not waiting:
            return 0
        claimed: list[uuid.UUID] = []
        async with self.db.session(write=True) as db:
            for promotion_id in waiting:
                result = await db.execute(
                    update(PipelinePromotion)
                    .where(
                        PipelinePromotion.id == promotion_id,
                        PipelinePromotion.status == service.PENDING,
                        or_(
                            PipelinePromotion.runner.is_(None),
                            PipelinePromotion.runner == self.runner,
                        ),
                    )
                    .values(runner=self.runner)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(promotion_id)
            await db.commit()
        done = 0
        for promotion_id in claimed:
            done += await self.promote(promotion_id)
        if len(waiting) == BATCH:
            self.wake()
        return done

    async def promote(self, promotion_id: uuid.UUID) -> bool:
        async with self.db.session(write=False) as db:
            targets = await service.pending_targets(db, promotion_id)
        for target_id in targets:
            await self._target(target_id)
        async with self.db.session(write=True) as db:
            completed = await service.complete(db, promotion_id)
            await db.commit()
        return completed

    async def _target(self, target_id: uuid.UUID) -> None:
        try:
            async with self.db.session(write=True) as db:
                target = await service.promote_target(db, target_id)
                await db.commit()
        except ApiError as exc:
            await self._fail(target_id, exc.message)
            return
        except (OperationalError, InterfaceError):
            # The database is away for a moment (or chose this transaction to abort a
            # deadlock): the next pass tries again. Anything else would fail again.
            raise
        except Exception:
            log.exception("promotion target %s failed", target_id)
            await self._fail(target_id, INTERNAL)
            return
        if target is not None:
            self.released()

    async def _fail(self, target_id: uuid.UUID, message: str) -> None:
        async with self.db.session(write=True) as db:
            await service.fail_target(db, target_id, message)
            await db.commit()
        log.info("promotion target %s failed: %s", target_id, message)

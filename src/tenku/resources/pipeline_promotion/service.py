"""Promotions: the source app's current slug released on each target app.

The request records the promotion `pending` with a `pending` row per target and commits;
the runtime (`runtime/promotions.py`) settles the targets one by one with `promote_target`,
each in a transaction of its own, and `complete`s the promotion once none is pending.

A target is released with the promoting user's rights as they are when the runtime gets
to it: a target they may not deploy to, one no longer in the pipeline, or one whose stack
differs from the slug's fails with the reason, and the others go ahead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import (
    Account,
    App,
    PipelineCoupling,
    PipelinePromotion,
    PipelinePromotionTarget,
    Release,
    Slug,
)
from tenku.ids import as_uuid
from tenku.resources.app.access import access_to, denied, resolve_app
from tenku.resources.pipeline.access import find_pipeline, visible_pipeline_ids
from tenku.resources.release.service import current_release, deploy_slug
from tenku.web.deps import Principal
from tenku.web.errors import Forbidden, InvalidParams, NotFound

PENDING = "pending"
COMPLETED = "completed"
SUCCEEDED = "succeeded"
FAILED = "failed"
# The reference's words for a target its promoter may not reach.
NO_ACCESS = "User does not have access to that app"


def description(source: App, release: Release) -> str:
    return f"Promote {source.name} v{release.version}"


async def create_promotion(
    db: AsyncSession,
    caller: Principal,
    pipeline_id: uuid.UUID,
    source_id: uuid.UUID,
    target_ids: Sequence[uuid.UUID],
) -> PipelinePromotion:
    pipeline = await find_pipeline(db, caller.account.id, str(pipeline_id), by_name=False)
    source, _ = await resolve_app(db, caller, str(source_id), "code:push")
    coupled = dict(
        (
            await db.execute(
                select(PipelineCoupling.app_id, App.name)
                .join(App, App.id == PipelineCoupling.app_id)
                .where(PipelineCoupling.pipeline_id == pipeline.id)
            )
        ).all()
    )
    if source.id not in coupled:
        raise InvalidParams(f"{source.name} is not in the {pipeline.name} pipeline.")
    targets = list(dict.fromkeys(target_ids))
    for target in targets:
        if target == source.id:
            raise InvalidParams(
                f"Cannot promote from an app to itself: {source.name}. "
                "Specify a different target app."
            )
        if target not in coupled:
            raise InvalidParams(f"Couldn't find app {target} in the {pipeline.name} pipeline.")
    release = await current_release(db, source.id)
    if release is None or release.slug_id is None:
        raise InvalidParams(
            f"{source.name} has no release with code to promote: deploy to it first."
        )
    promotion = PipelinePromotion(
        pipeline_id=pipeline.id,
        source_app_id=source.id,
        source_release_id=release.id,
        user_id=caller.account.id,
        status=PENDING,
    )
    db.add(promotion)
    await db.flush()
    db.add_all(PipelinePromotionTarget(promotion_id=promotion.id, app_id=t) for t in targets)
    await db.flush()
    return promotion


def visible_promotions(account_id: uuid.UUID) -> Select[PipelinePromotion]:
    """Promotions in the pipelines the account sees."""
    return select(PipelinePromotion).where(
        PipelinePromotion.pipeline_id.in_(visible_pipeline_ids(account_id))
    )


async def get_promotion(db: AsyncSession, account_id: uuid.UUID, ident: str) -> PipelinePromotion:
    uid = as_uuid(ident)
    found = None
    if uid is not None:
        stmt = visible_promotions(account_id).where(PipelinePromotion.id == uid)
        found = (await db.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound("pipeline_promotion")
    return found


def targets_of(promotion_id: uuid.UUID) -> Select[PipelinePromotionTarget]:
    return select(PipelinePromotionTarget).where(
        PipelinePromotionTarget.promotion_id == promotion_id
    )


# --- carried out by the runtime ------------------------------------------------------


async def pending_targets(db: AsyncSession, promotion_id: uuid.UUID) -> list[uuid.UUID]:
    stmt = (
        select(PipelinePromotionTarget.id)
        .where(
            PipelinePromotionTarget.promotion_id == promotion_id,
            PipelinePromotionTarget.status == PENDING,
        )
        .order_by(PipelinePromotionTarget.id)
    )
    return list((await db.execute(stmt)).scalars())


async def promote_target(db: AsyncSession, target_id: uuid.UUID) -> PipelinePromotionTarget | None:
    """Release the promotion's slug on one target, in the caller's transaction; the target
    (succeeded, with its release) or None when it was settled already or is gone.

    Raises an ApiError saying why the target cannot be promoted to: the caller rolls back
    and records it with `fail_target`."""
    target = (
        await db.execute(
            select(PipelinePromotionTarget)
            .where(PipelinePromotionTarget.id == target_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if target is None or target.status != PENDING:
        return None
    promotion = await db.get(PipelinePromotion, target.promotion_id)
    app = await db.get(App, target.app_id)
    if promotion is None or app is None:
        return None
    user = await db.get(Account, promotion.user_id)
    source = await db.get(App, promotion.source_app_id)
    if user is None or source is None:
        return None
    access = await access_to(db, app.id, user.id)
    if access is None:
        raise Forbidden(NO_ACCESS)
    if not access.allows("code:push"):
        raise denied(app, "code:push")
    still_coupled = (
        await db.execute(
            select(PipelineCoupling.id).where(
                PipelineCoupling.app_id == app.id,
                PipelineCoupling.pipeline_id == promotion.pipeline_id,
            )
        )
    ).first()
    if still_coupled is None:
        raise InvalidParams(f"{app.name} is no longer in the pipeline.")
    release = (
        await db.get(Release, promotion.source_release_id)
        if promotion.source_release_id is not None
        else None
    )
    slug = await db.get(Slug, release.slug_id) if release and release.slug_id else None
    if release is None or slug is None:
        raise InvalidParams(f"The release of {source.name} being promoted no longer exists.")
    if slug.stack != app.stack:
        raise InvalidParams(
            f"{source.name} v{release.version} was built for the {slug.stack} stack, "
            f"but {app.name} runs on {app.stack}."
        )
    made = await deploy_slug(db, app, user, str(slug.id), description(source, release))
    target.status = SUCCEEDED
    target.release_id = made.id
    target.error_message = None
    await db.flush()
    return target


async def fail_target(db: AsyncSession, target_id: uuid.UUID, message: str) -> None:
    await db.execute(
        update(PipelinePromotionTarget)
        .where(
            PipelinePromotionTarget.id == target_id,
            PipelinePromotionTarget.status == PENDING,
        )
        .values(status=FAILED, error_message=message[:1000])
        .execution_options(synchronize_session=False)
    )


async def complete(db: AsyncSession, promotion_id: uuid.UUID) -> bool:
    """Mark the promotion completed if none of its targets is pending; whether it is."""
    left = (
        await db.execute(
            select(func.count())
            .select_from(PipelinePromotionTarget)
            .where(
                PipelinePromotionTarget.promotion_id == promotion_id,
                PipelinePromotionTarget.status == PENDING,
            )
        )
    ).scalar_one()
    if left:
        return False
    promotion = await db.get(PipelinePromotion, promotion_id)
    if promotion is not None and promotion.status == PENDING:
        promotion.status = COMPLETED
        await db.flush()
    return True


def waiting() -> Select[uuid.UUID]:
    """Promotions the runtime has to carry out, oldest first."""
    return (
        select(PipelinePromotion.id)
        .where(PipelinePromotion.status == PENDING)
        .order_by(PipelinePromotion.created_at, PipelinePromotion.id)
    )

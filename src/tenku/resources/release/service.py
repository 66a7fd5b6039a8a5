from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, App, Release, Slug
from tenku.resources.common import as_uuid
from tenku.resources.config_var.store import current_config, replace_config
from tenku.resources.formation.service import sync_formation
from tenku.web.errors import InvalidParams, NotFound


async def lock_app(db: AsyncSession, app: App) -> None:
    """Row-lock the app until commit (PostgreSQL); SQLite writers are already serial."""
    await db.execute(
        update(App)
        .where(App.id == app.id)
        .values(release_seq=App.release_seq)
        .execution_options(synchronize_session=False)
    )


async def _allocate_version(db: AsyncSession, app: App) -> int:
    version: int = (
        await db.execute(
            update(App)
            .where(App.id == app.id)
            .values(release_seq=App.release_seq + 1)
            .returning(App.release_seq)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one()
    return version


async def create_release(
    db: AsyncSession,
    app: App,
    user: Account,
    description: str,
    *,
    config: dict[str, str] | None = None,
    slug_id: uuid.UUID | None = None,
    status: str = "succeeded",
) -> Release:
    version = await _allocate_version(db, app)
    if config is None:
        config = await current_config(db, app.id)
    release = Release(
        app_id=app.id,
        version=version,
        description=description,
        status=status,
        slug_id=slug_id,
        user_id=user.id,
        user_email=user.email,
        config=config,
        addon_plan_names=[],
    )
    db.add(release)
    now = datetime.now(UTC)
    app.release_seq = version
    app.released_at = now
    await db.flush()
    return release


def current_version_of(app_id: uuid.UUID) -> Select[int | None]:
    return select(func.max(Release.version)).where(
        Release.app_id == app_id, Release.status == "succeeded"
    )


async def current_version(db: AsyncSession, app_id: uuid.UUID) -> int | None:
    return (await db.execute(current_version_of(app_id))).scalar_one()


async def current_release(db: AsyncSession, app_id: uuid.UUID) -> Release | None:
    version = await current_version(db, app_id)
    if version is None:
        return None
    return await find_release(db, app_id, str(version))


async def find_release(db: AsyncSession, app_id: uuid.UUID, ident: str) -> Release | None:
    uid = as_uuid(ident)
    stmt = select(Release).where(Release.app_id == app_id)
    if uid is not None:
        stmt = stmt.where(Release.id == uid)
    else:
        digits = ident[1:] if ident[:1] in ("v", "V") else ident
        if not digits.isdigit():
            return None
        stmt = stmt.where(Release.version == int(digits))
    return (await db.execute(stmt)).scalar_one_or_none()


async def get_release(db: AsyncSession, app_id: uuid.UUID, ident: str) -> Release:
    release = await find_release(db, app_id, ident)
    if release is None:
        raise NotFound("release")
    return release


async def rollback(db: AsyncSession, app: App, user: Account, ident: str) -> Release:
    await lock_app(db, app)
    target = await find_release(db, app.id, ident)
    if target is None:
        raise NotFound("release")
    if target.status != "succeeded":
        raise InvalidParams(f"Cannot roll back to v{target.version}: it did not succeed.")
    config = dict(target.config)
    await replace_config(db, app.id, config)
    release = await create_release(
        db, app, user, f"Rollback to v{target.version}", config=config, slug_id=target.slug_id
    )
    release.addon_plan_names = list(target.addon_plan_names)
    slug = await db.get(Slug, target.slug_id) if target.slug_id is not None else None
    if slug is not None:
        await sync_formation(db, app, slug)
    await db.flush()
    return release


async def deploy_slug(
    db: AsyncSession, app: App, user: Account, slug_ident: str, description: str | None = None
) -> Release:
    uid = as_uuid(slug_ident)
    slug = await db.get(Slug, uid) if uid is not None else None
    if slug is None or slug.app_id != app.id:
        raise NotFound("slug")
    await lock_app(db, app)
    text = description or (f"Deploy {slug.commit[:7]}" if slug.commit else "Deploy")
    release = await create_release(db, app, user, text, slug_id=slug.id)
    await sync_formation(db, app, slug)
    return release

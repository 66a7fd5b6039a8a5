from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from tenku.db import changes
from tenku.db.base import new_id
from tenku.db.engine import is_sqlite
from tenku.db.models import (
    Account,
    App,
    Release,
    ReleaseAddonVars,
    Slug,
)
from tenku.db.prepared import Prepared
from tenku.db.statements import adopt, statements
from tenku.ids import as_uuid
from tenku.logs import store as logs
from tenku.resources.app.access import access_to
from tenku.resources.config_var.store import (
    Attached,
    attached,
    merged,
    own_config,
    replace_config,
)
from tenku.resources.formation.service import sync_formation
from tenku.web.errors import Forbidden, InvalidParams, NotFound
from tenku.web.lookup import find_one

# Built once, and run straight by SQLite's driver (`tenku.db.statements`): a release is
# made on every config change, and building a statement, or SQLAlchemy's execution of
# one, cost more than running it.
_APP = bindparam("app_id", type_=App.id.type)
_LOCK = select(App.id).where(App.id == _APP).with_for_update()
_NOW = bindparam("now", type_=App.released_at.type)
_APPS = cast(Table, App.__table__)
# The next version and the app's release time in one statement; the app object is told
# the values it wrote, so that its flush has nothing left to write.
_NEXT_VERSION = Prepared(
    update(_APPS)
    .where(_APPS.c.id == _APP)
    .values(release_seq=_APPS.c.release_seq + 1, released_at=_NOW, updated_at=_NOW)
    .returning(_APPS.c.release_seq)
)
_RUNNING_SLUG = Prepared(
    select(Release.slug_id)
    .where(Release.app_id == _APP, Release.status == "succeeded")
    .order_by(Release.version.desc())
    .limit(1)
)
_RELEASE_COLUMNS = tuple(column.key for column in cast(Table, Release.__table__).columns)
_INSERT = Prepared(insert(cast(Table, Release.__table__)), columns=_RELEASE_COLUMNS)


async def lock_app(db: AsyncSession, app: App) -> None:
    """Row-lock the app until commit (PostgreSQL). SQLite's writers are already serial: a
    write transaction begins IMMEDIATE, holding the database's one write lock."""
    if not is_sqlite(db):
        await db.execute(_LOCK, {"app_id": app.id})


async def _allocate_version(db: AsyncSession, app: App, now: datetime) -> int:
    run = await statements(db)
    version: int = await run.scalar(_NEXT_VERSION, {"app_id": app.id, "now": now})
    for name, value in (("release_seq", version), ("released_at", now), ("updated_at", now)):
        set_committed_value(app, name, value)
    return version


async def create_release(
    db: AsyncSession,
    app: App,
    user: Account,
    description: str,
    *,
    config: dict[str, str] | None = None,
    addons: Attached | None = None,
    slug_id: uuid.UUID | None = None,
    status: str = "succeeded",
) -> Release:
    """`addons`: what the app's attachments give it, when the caller has just read it."""
    if slug_id is None:
        # A config or add-on release runs the code already released, as on Heroku.
        running = await (await statements(db)).first(_RUNNING_SLUG, {"app_id": app.id})
        slug_id = None if running is None else running[0]
    now = datetime.now(UTC)
    version = await _allocate_version(db, app, now)
    if addons is None:
        addons = await attached(db, app.id)
    if config is None:
        config = merged(await own_config(db, app.id), addons)
    row = {
        "id": new_id(),
        "app_id": app.id,
        "version": version,
        "description": description,
        "status": status,
        "slug_id": slug_id,
        "user_id": user.id,
        "user_email": user.email,
        "config": config,
        "addon_plan_names": addons.plans,
        "output_stream_url": None,
        "created_at": now,
        "updated_at": now,
    }
    # Written as a row, then handed to the session as if loaded: the unit of work's flush
    # of one new object cost more than all the release's other statements together.
    await (await statements(db)).run(_INSERT, row)
    await changes.journal(db, [app.id])
    release = adopt(db, Release, row)
    # Remembered so a rollback restores the app's own vars and leaves add-on vars alone.
    from_addons = sorted(k for k in addons.config if k in config)
    if from_addons:
        db.add(ReleaseAddonVars(release_id=release.id, keys=from_addons))
        await db.flush()
    await logs.append_many(
        db,
        app.id,
        [
            ("heroku", "api", f"{description} by {user.email}", now),
            ("heroku", "api", f"Release v{version} created by {user.email}", now),
        ],
    )
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


def _version(ident: str) -> int | None:
    """A release version from `42` or `v42`; None for anything else, a number past what a
    version column holds included (it names no release)."""
    digits = ident[1:] if ident[:1] in ("v", "V") else ident
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


def releases_of(app_id: uuid.UUID) -> Select[Release]:
    return select(Release).where(Release.app_id == app_id)


async def find_release(db: AsyncSession, app_id: uuid.UUID, ident: str) -> Release | None:
    """`{release_id_or_version}`: the id, or the version with or without its `v`."""
    return await find_one(db, releases_of(app_id), ident, Release.id, (Release.version, _version))


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
    # Code and the app's own vars roll back; add-ons and the vars they provide do not.
    from_addons = await db.get(ReleaseAddonVars, target.id)
    skip = set(from_addons.keys) if from_addons is not None else set()
    await replace_config(db, app.id, {k: v for k, v in target.config.items() if k not in skip})
    release = await create_release(
        db, app, user, f"Rollback to v{target.version}", slug_id=target.slug_id
    )
    slug = await db.get(Slug, target.slug_id) if target.slug_id is not None else None
    if slug is not None:
        await sync_formation(db, app, slug, user)
    await db.flush()
    return release


async def _copy_slug(db: AsyncSession, slug: Slug, app: App) -> Slug:
    """The app's own copy of another app's slug, sharing its tarball.

    A copy keeps the release working when the other app (and its slugs) is deleted;
    a blob is garbage only once no slug row names its key.
    """
    copy = Slug(
        app_id=app.id,
        process_types=dict(slug.process_types),
        commit=slug.commit,
        commit_description=slug.commit_description,
        checksum=slug.checksum,
        size=slug.size,
        stack=slug.stack,
        buildpack_provided_description=slug.buildpack_provided_description,
        blob_key=slug.blob_key,
    )
    db.add(copy)
    await db.flush()
    return copy


async def deploy_slug(
    db: AsyncSession, app: App, user: Account, slug_ident: str, description: str | None = None
) -> Release:
    uid = as_uuid(slug_ident)
    slug = await db.get(Slug, uid) if uid is not None else None
    if slug is None:
        raise NotFound("slug")
    if slug.app_id != app.id:
        # Releasing another app's slug (copying slugs) reads that app's code.
        source = await db.get(App, slug.app_id)
        access = await access_to(db, slug.app_id, user.id) if source is not None else None
        if source is None or access is None:
            raise Forbidden("You do not have access to the app this slug belongs to.")
        access.require(source, "code:fetch")
    if slug.blob_key is None:
        raise InvalidParams(
            f"Slug {slug.id} has no tarball yet: PUT it to the slug's blob URL "
            "(from POST /apps/{app}/slugs), then release it."
        )
    await lock_app(db, app)
    if slug.app_id != app.id:
        slug = await _copy_slug(db, slug, app)
    text = description or (f"Deploy {slug.commit[:7]}" if slug.commit else "Deploy")
    release = await create_release(db, app, user, text, slug_id=slug.id)
    app.slug_size = slug.size
    app.buildpack_provided_description = slug.buildpack_provided_description
    await sync_formation(db, app, slug, user)
    return release

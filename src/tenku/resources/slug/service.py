"""Slugs: created through the API (then uploaded to their blob URL) or by builds.

A slug's `blob_key` is set only once its tarball is completely stored, so a slug
without one has nothing to run yet and cannot be released. Every upload goes to a
key of its own and the first upload to finish wins, so a slug never changes once
uploaded.
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.base import utcnow
from tenku.db.models import App, Slug
from tenku.resources.common import get_in_app
from tenku.resources.slug.schemas import SlugCreate, expected_digest
from tenku.resources.stack.catalog import find_stack
from tenku.web.errors import Conflict, InvalidParams, NotFound


async def create_slug(db: AsyncSession, app: App, params: SlugCreate) -> Slug:
    stack_name = app.build_stack
    if params.stack is not None:
        stack = find_stack(params.stack)
        if stack is None:
            raise InvalidParams(f"Invalid stack provided: no stack is named {params.stack}.")
        stack_name = stack.name
    slug = Slug(
        app_id=app.id,
        process_types=dict(params.process_types),
        commit=params.commit,
        commit_description=params.commit_description,
        checksum=params.checksum,
        stack=stack_name,
        buildpack_provided_description=params.buildpack_provided_description,
    )
    db.add(slug)
    await db.flush()
    return slug


async def get_slug(db: AsyncSession, app: App, ident: str) -> Slug:
    return await get_in_app(db, Slug, app.id, ident, "slug")


def new_blob_key(slug_id: uuid.UUID) -> str:
    return f"slugs/{slug_id}-{secrets.token_hex(8)}.tgz"


async def upload_target(db: AsyncSession, slug_id: uuid.UUID) -> str | None:
    """Check that the slug still awaits its tarball; the SHA-256 it must have, if known."""
    slug = await db.get(Slug, slug_id)
    if slug is None:
        raise NotFound("slug", "This slug no longer exists.")
    if slug.blob_key is not None:
        raise Conflict("This slug's tarball is already uploaded; a slug never changes.")
    return expected_digest(slug.checksum)


async def record_upload(
    db: AsyncSession, slug_id: uuid.UUID, key: str, size: int, sha256: str
) -> bool:
    """Attach a stored tarball to its slug; False when another upload finished first."""
    # A checksum the creator gave was verified while the tarball streamed in; without
    # one, the computed one lets downloaders verify theirs.
    found = await db.execute(
        update(Slug)
        .where(Slug.id == slug_id, Slug.blob_key.is_(None))
        .values(
            blob_key=key,
            size=size,
            checksum=func.coalesce(Slug.checksum, f"SHA256:{sha256}"),
            updated_at=utcnow(),
        )
        .returning(Slug.id)
        .execution_options(synchronize_session=False)
    )
    return found.first() is not None


async def blob_key_of(db: AsyncSession, slug_id: uuid.UUID) -> str | None:
    row = (await db.execute(select(Slug.blob_key).where(Slug.id == slug_id))).first()
    return row[0] if row is not None else None

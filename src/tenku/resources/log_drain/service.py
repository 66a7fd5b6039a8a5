from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import App, LogDrain
from tenku.web.errors import InvalidParams, NotFound
from tenku.web.lookup import get_one

TAKEN = "Url has already been taken for this app."


def drains_of(app_id: uuid.UUID) -> Select[LogDrain]:
    return select(LogDrain).where(LogDrain.app_id == app_id)


async def get_drain(db: AsyncSession, app_id: uuid.UUID, ident: str) -> LogDrain:
    """`{log_drain_id_or_url_or_token}`: any of the three, within the app."""
    return await get_one(
        db,
        drains_of(app_id),
        ident,
        LogDrain.id,
        LogDrain.url,
        LogDrain.token,
        missing=NotFound("log_drain"),
    )


async def add_drain(db: AsyncSession, app: App, url: str) -> LogDrain:
    taken = (await db.execute(drains_of(app.id).where(LogDrain.url == url))).first()
    if taken is not None:
        raise InvalidParams(TAKEN)
    drain = LogDrain(app_id=app.id, url=url, token=f"d.{uuid.uuid4()}")
    db.add(drain)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise InvalidParams(TAKEN) from exc
    return drain


async def remove_drain(db: AsyncSession, app: App, ident: str) -> LogDrain:
    drain = await get_drain(db, app.id, ident)
    if drain.addon_id is not None:
        raise InvalidParams("This drain belongs to an add-on; remove the add-on instead.")
    await db.delete(drain)
    await db.flush()
    return drain

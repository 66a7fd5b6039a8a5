"""Reading and writing an app's config vars, below any release logic."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import ConfigVar


async def current_config(db: AsyncSession, app_id: uuid.UUID) -> dict[str, str]:
    rows = await db.execute(
        select(ConfigVar.key, ConfigVar.value)
        .where(ConfigVar.app_id == app_id)
        .order_by(ConfigVar.key)
    )
    return {row.key: row.value for row in rows}


async def replace_config(db: AsyncSession, app_id: uuid.UUID, config: dict[str, str]) -> None:
    await db.execute(delete(ConfigVar).where(ConfigVar.app_id == app_id))
    db.add_all(ConfigVar(app_id=app_id, key=k, value=v) for k, v in config.items())
    await db.flush()

"""App bodies for a whole page at once: one query for the owners of every app on it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, App
from tenku.resources.app.schemas import AppOut


async def owner_emails(db: AsyncSession, apps: Sequence[App]) -> dict[uuid.UUID, str]:
    ids = {app.owner_id for app in apps}
    if not ids:
        return {}
    rows = await db.execute(select(Account.id, Account.email).where(Account.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


async def render_apps(
    db: AsyncSession, apps: Sequence[App], settings: Settings, model: type[AppOut] = AppOut
) -> list[AppOut]:
    emails = await owner_emails(db, apps)
    return [model.of(app, emails[app.owner_id], settings) for app in apps]


async def render_app(db: AsyncSession, app: App, settings: Settings) -> AppOut:
    return (await render_apps(db, [app], settings))[0]

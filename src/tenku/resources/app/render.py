"""App bodies for a whole page at once: one query for the owners of every app on it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, App
from tenku.resources.app.schemas import AppOut


async def owner_emails(
    db: AsyncSession, apps: Sequence[App], known: Account | None = None
) -> dict[uuid.UUID, str]:
    """Each app's owner's email; `known` (the caller, usually the owner) needs no query."""
    emails = {known.id: known.email} if known is not None else {}
    ids = {app.owner_id for app in apps} - emails.keys()
    if ids:
        rows = await db.execute(select(Account.id, Account.email).where(Account.id.in_(ids)))
        emails.update((row[0], row[1]) for row in rows)
    return emails


async def render_apps(
    db: AsyncSession,
    apps: Sequence[App],
    settings: Settings,
    model: type[AppOut] = AppOut,
    known: Account | None = None,
) -> list[AppOut]:
    emails = await owner_emails(db, apps, known)
    return [model.of(app, emails[app.owner_id], settings) for app in apps]


async def render_app(
    db: AsyncSession, app: App, settings: Settings, known: Account | None = None
) -> AppOut:
    return (await render_apps(db, [app], settings, known=known))[0]

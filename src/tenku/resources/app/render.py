"""App bodies for a whole page at once: one query for the owners of every app on it,
one for the teams."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, App, Team
from tenku.resources.app.schemas import AppLike, AppOut
from tenku.resources.common import AccountRef, Ref
from tenku.web.render import as_columns

# Heroku's address for a team as an app's owner. The CLI tells team apps from personal
# ones by it: `apps:transfer` sends a team app's transfer to a person to
# PATCH /teams/apps/{app} only when the owner's email ends so, and `access` hides it.
TEAM_OWNER_DOMAIN = "herokumanager.com"


def team_owner(team: Ref, settings: Settings) -> AccountRef:
    """Who a team app's `owner` is: the team, as `<team>@herokumanager.com`."""
    return AccountRef.trusted(email=f"{team.name}@{TEAM_OWNER_DOMAIN}", id=team.id)


async def owners(
    db: AsyncSession, apps: Sequence[AppLike], settings: Settings, known: Account | None = None
) -> dict[uuid.UUID, tuple[AccountRef, Ref | None]]:
    """Each app's owner and team; `known` (the caller, usually the owner) needs no query."""
    emails = {known.id: known.email} if known is not None else {}
    ids = {app.owner_id for app in apps if app.owner_id is not None} - emails.keys()
    if ids:
        rows = await db.execute(select(Account.id, Account.email).where(Account.id.in_(ids)))
        emails.update((row[0], row[1]) for row in rows)
    team_ids = {app.organization_id for app in apps if app.organization_id is not None}
    teams: dict[uuid.UUID, Ref] = {}
    if team_ids:
        rows = await db.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids)))
        teams.update((row[0], Ref.trusted(id=row[0], name=row[1])) for row in rows)
    # One body per owner and team, shared by their apps (a page is mostly one owner's).
    refs: dict[uuid.UUID, tuple[AccountRef, Ref | None]] = {}
    for team_id, team in teams.items():
        refs[team_id] = (team_owner(team, settings), team)
    for owner_id, email in emails.items():
        refs[owner_id] = (AccountRef.trusted(email=email, id=owner_id), None)
    found: dict[uuid.UUID, tuple[AccountRef, Ref | None]] = {}
    for app in apps:
        holder = app.organization_id if app.organization_id is not None else app.owner_id
        assert holder is not None
        found[app.id] = refs[holder]
    return found


async def render_apps(
    db: AsyncSession,
    apps: Sequence[AppLike],
    settings: Settings,
    model: type[AppOut] = AppOut,
    known: Account | None = None,
) -> list[AppOut]:
    if apps and isinstance(apps[0], Row):
        apps = as_columns(cast(Sequence[Row[Any]], apps))
    found = await owners(db, apps, settings, known)
    return [model.of(app, owner, settings, team) for app in apps for owner, team in [found[app.id]]]


async def render_app(
    db: AsyncSession, app: App, settings: Settings, known: Account | None = None
) -> AppOut:
    return (await render_apps(db, [app], settings, known=known))[0]

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, App, Collaborator, Team
from tenku.ids import as_uuid
from tenku.resources.account.service import find_account
from tenku.resources.app.access import Access, access_to
from tenku.resources.app.permissions import PERMISSIONS
from tenku.resources.app.render import owners
from tenku.resources.app.schemas import AppCreate
from tenku.resources.app.service import create_app, personal_apps, visible_apps
from tenku.resources.organization_app.schemas import (
    OrganizationAppCreate,
    OrganizationAppOut,
    OrganizationAppUpdate,
)
from tenku.resources.organization_app.teams import (
    CREATORS,
    MEMBERS,
    default_team,
    drop_idle_collaborators,
    ensure_member,
    find_team,
    flush_or_conflict,
    get_team,
    role_in,
)
from tenku.web.errors import Forbidden, InvalidParams, NotFound

# What a collaborator of a personal app keeps when the app moves into a team: all they
# could do but `manage`, which on a team app carries deleting, transferring and access.
CARRIED_OVER = ["view", "deploy", "operate"]


def team_apps(team_id: uuid.UUID, account_id: uuid.UUID) -> Select[Any]:
    """The team's apps the account may see."""
    return visible_apps(account_id).where(App.organization_id == team_id)


async def apps_listed_by_default(db: AsyncSession, caller: Account) -> Select[Any]:
    """The caller's default team's apps, or their personal apps when they have none."""
    team = await default_team(db, caller.id)
    if team is None:
        return personal_apps(caller.id)
    return team_apps(team.id, caller.id)


async def team_for_listing(db: AsyncSession, caller: Account, ident: str) -> Team:
    team = await get_team(db, ident)
    if await role_in(db, team.id, caller.id) is None:
        raise Forbidden(f"You do not have access to the team {team.name}.")
    return team


async def render(
    db: AsyncSession, apps: Sequence[App], caller: Account, settings: Settings
) -> list[OrganizationAppOut]:
    """A page of app bodies: one query for owners, one for teams, one for `joined`."""
    found = await owners(db, apps, settings, caller)
    joined: set[uuid.UUID] = set()
    if apps:
        rows = await db.execute(
            select(Collaborator.app_id).where(
                Collaborator.account_id == caller.id,
                Collaborator.app_id.in_([app.id for app in apps]),
            )
        )
        joined = set(rows.scalars())
    return [
        OrganizationAppOut.of(app, owner, settings, team, app.id in joined)
        for app in apps
        for owner, team in [found[app.id]]
    ]


async def create(
    db: AsyncSession, caller: Account, params: OrganizationAppCreate, settings: Settings
) -> App:
    """An app in the team named (`organization` or `team`), else in the caller's default
    team, else, or with `personal`, the caller's own."""
    if params.space is not None:
        raise InvalidParams("Tenku has no private spaces: leave out `space`.")
    named = params.team or params.organization
    if named is not None and params.personal:
        raise InvalidParams("An app is either personal or in a team: leave out `personal`.")
    team: Team | None = None
    if named is not None:
        team = await get_team(db, named)
    elif not params.personal:
        team = await default_team(db, caller.id)
    plain = AppCreate(name=params.name, region=params.region, stack=params.stack)
    if team is None:
        if params.locked:
            raise InvalidParams("Only team apps can be locked.")
        return await create_app(db, caller, plain, settings)
    role = await role_in(db, team.id, caller.id)
    if role not in CREATORS:
        raise Forbidden(f"Only admins and members of {team.name} can create apps in it.")
    app = await create_app(db, caller, plain, settings, team=team)
    app.locked = bool(params.locked)
    if role != "admin":
        # Members may do anything to the apps they create (admins already may).
        db.add(
            Collaborator(
                app_id=app.id, account_id=caller.id, role="collaborator", permissions=[*PERMISSIONS]
            )
        )
    await db.flush()
    return app


async def update(
    db: AsyncSession,
    caller: Account,
    access: Access,
    app: App,
    changes: OrganizationAppUpdate,
) -> App:
    if changes.owner is None and changes.locked is None:
        raise InvalidParams("Give `locked` to lock or unlock the app, or `owner` to transfer it.")
    if changes.owner is not None:
        access.require(app, "app:transfer")
        recipient = await _recipient(db, caller, changes.owner)
        if isinstance(recipient, Team):
            await _to_team(db, caller, app, recipient)
        else:
            await _to_account(db, app, recipient)
        # What the caller may still do to the app, for a `locked` in the same request.
        access = await access_to(db, app.id, caller.id) or Access("none", frozenset())
    if changes.locked is not None:
        if app.organization_id is None:
            raise InvalidParams(f"Only team apps can be locked, and {app.name} is not one.")
        access.require(app, "app:lock")
        app.locked = changes.locked
    await db.flush()
    return app


async def _recipient(db: AsyncSession, caller: Account, ident: str) -> Account | Team:
    """`owner`: an account (email, id, `~`) or a team (name, or an id no account has)."""
    if ident == "~":
        return caller
    if "@" in ident:
        account = await find_account(db, ident)
        if account is None:
            raise NotFound("user")
        return account
    uid = as_uuid(ident)
    if uid is not None:
        found = await db.get(Account, uid)
        if found is not None:
            return found
    team = await find_team(db, ident)
    if team is None:
        raise NotFound("team")
    return team


async def _to_account(db: AsyncSession, app: App, recipient: Account) -> None:
    """A team app into a team member's own account. Everyone else's access goes (as on
    Heroku, whose CLI warns "All collaborators will be removed from this app"): a
    team grant has no meaning on a personal app, whose collaborators may do nearly all."""
    if app.organization_id is None:
        raise InvalidParams(
            f"{app.name} is not a team app: transfer it to another account with an app "
            "transfer, which they accept."
        )
    role = await role_in(db, app.organization_id, recipient.id)
    if role not in MEMBERS:
        team = await db.get(Team, app.organization_id)
        name = team.name if team is not None else "the team"
        raise InvalidParams(
            f"{recipient.email} is not a member of {name}: a team app can only be "
            "transferred to a member's account."
        )
    team_id = app.organization_id
    kept: Collaborator | None = None
    for row in await _collaborators(db, app):
        if row.account_id == recipient.id:
            kept = row
        else:
            await db.delete(row)
    if kept is None:
        kept = Collaborator(app_id=app.id, account_id=recipient.id)
        db.add(kept)
    kept.role = "owner"
    kept.permissions = []
    app.owner_id = recipient.id
    app.organization_id = None
    app.locked = False
    await flush_or_conflict(db)
    await drop_idle_collaborators(db, team_id)


async def _to_team(db: AsyncSession, caller: Account, app: App, team: Team) -> None:
    """An app into `team`, whose admin or member the caller must be. Collaborators stay,
    each made a member of the team (as a `collaborator`) if they were not."""
    if await role_in(db, team.id, caller.id) not in CREATORS:
        raise Forbidden(f"Only admins and members of {team.name} can transfer apps to it.")
    if app.organization_id == team.id:
        return
    former_team = app.organization_id
    for row in await _collaborators(db, app):
        if app.organization_id is None:
            # Personal: the owner may still do anything, the others all but manage.
            row.permissions = [*PERMISSIONS] if row.role == "owner" else [*CARRIED_OVER]
            row.role = "collaborator"
        await ensure_member(db, team.id, row.account_id)
    app.organization_id = team.id
    app.owner_id = None
    await flush_or_conflict(db)
    if former_team is not None:
        await drop_idle_collaborators(db, former_team)


async def _collaborators(db: AsyncSession, app: App) -> list[Collaborator]:
    stmt = select(Collaborator).where(Collaborator.app_id == app.id)
    return list((await db.execute(stmt)).scalars())

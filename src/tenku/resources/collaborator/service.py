from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle

from tenku.db.models import Account, App, Collaborator, Team, TeamMember
from tenku.ids import as_uuid
from tenku.resources.account.service import find_account, normalize_email
from tenku.resources.app.access import ADMIN_ROLES, MEMBER_ROLES, Access, access_to, granted
from tenku.resources.app.permissions import PERMISSIONS
from tenku.resources.organization_app.teams import (
    drop_idle_collaborators,
    ensure_member,
    role_in,
)
from tenku.web.errors import InvalidParams, NotFound
from tenku.web.lookup import by_ident

# A collaborator's row and account, and on a team app their role in the team.
Held = tuple[Collaborator, Account, str | None]
# What a collaborator added to a team app without permissions named (POST
# /apps/{app}/collaborators) may do: all but manage, which on a team app carries
# deleting, transferring and who has access.
STATIC_GRANT = ("view", "deploy", "operate")


def _team_role(app: App) -> Any:
    return and_(
        TeamMember.account_id == Collaborator.account_id,
        TeamMember.team_id == app.organization_id,
    )


def collaborators_of(app: App) -> Select[Any, Collaborator, Account, str]:
    """Every account with access to the app, the owner included, and their team role.

    `heroku access` prints this list as it is, and `apps:info` filters the
    owner out of it, so the owner belongs here (with role "owner") and is
    never listed twice. The leading bundle carries the sort keys (`id`,
    `email`) that paging reads from the first column of each row.
    """
    return (
        select(
            Bundle("keys", Collaborator.id, Account.email), Collaborator, Account, TeamMember.role
        )
        .join(Account, Account.id == Collaborator.account_id)
        .outerjoin(TeamMember, _team_role(app))
        .where(Collaborator.app_id == app.id)
    )


async def find_collaborator(db: AsyncSession, app: App, ident: str) -> Held | None:
    """`{collaborator_email_or_id}`: the collaborator's id, its user's id, or the email."""
    stmt = (
        select(Collaborator, Account, TeamMember.role)
        .join(Account, Account.id == Collaborator.account_id)
        .outerjoin(TeamMember, _team_role(app))
        .where(Collaborator.app_id == app.id)
    )
    ids = (Collaborator.id, Collaborator.account_id)
    narrowed = by_ident(stmt, ident, ids, (Account.email, normalize_email))
    row = (await db.execute(narrowed)).first() if narrowed is not None else None
    return None if row is None else (row[0], row[1], row[2])


async def get_collaborator(db: AsyncSession, app: App, ident: str) -> Held:
    found = await find_collaborator(db, app, ident)
    if found is None:
        raise NotFound("collaborator")
    return found


def _is_self(caller: Account, ident: str) -> bool:
    return ident == "~" or as_uuid(ident) == caller.id or normalize_email(ident) == caller.email


async def _user(db: AsyncSession, caller: Account, ident: str) -> Account:
    user = caller if ident == "~" else await find_account(db, ident)
    if user is None:
        raise NotFound("user")
    return user


async def _refuse_existing(db: AsyncSession, app: App, user: Account) -> None:
    row = (
        await db.execute(
            select(Collaborator.role).where(
                Collaborator.app_id == app.id, Collaborator.account_id == user.id
            )
        )
    ).first()
    if row is not None and row[0] == "owner":
        raise InvalidParams(f"{user.email} is the owner of {app.name}.")
    if row is not None:
        raise InvalidParams(f"{user.email} is already a collaborator on {app.name}.")


async def _insert(
    db: AsyncSession, app: App, user: Account, role: str, permissions: Sequence[str]
) -> Collaborator:
    collaborator = Collaborator(
        app_id=app.id, account_id=user.id, role=role, permissions=list(permissions)
    )
    db.add(collaborator)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise InvalidParams(f"{user.email} is already a collaborator on {app.name}.") from exc
    return collaborator


async def add_collaborator(db: AsyncSession, app: App, caller: Account, user_ident: str) -> Held:
    """POST /apps/{app}/collaborators: on a personal app a plain collaborator; on a team
    app one holding STATIC_GRANT (the caller may already edit the app's access)."""
    user = await _user(db, caller, user_ident)
    if app.organization_id is not None:
        return await _add_to_team_app(db, app, user, STATIC_GRANT)
    existing = await access_to(db, app.id, user.id)
    if existing is not None and existing.role == "owner":
        raise InvalidParams(f"{user.email} is the owner of {app.name}.")
    if existing is not None:
        raise InvalidParams(f"{user.email} is already a collaborator on {app.name}.")
    return await _insert(db, app, user, "collaborator", []), user, None


def grant(permissions: Sequence[str]) -> list[str]:
    """Permission names as stored: known ones only, view always, in the matrix's order."""
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown:
        raise InvalidParams(
            f"Invalid permissions provided: {', '.join(unknown)} "
            f"(permissions are {', '.join(PERMISSIONS)})."
        )
    return [p for p in PERMISSIONS if p in permissions or p == "view"]


async def add_team_collaborator(
    db: AsyncSession,
    app: App,
    caller: Account,
    access: Access,
    user_ident: str,
    permissions: Sequence[str] | None,
) -> Held:
    """POST /teams/apps/{app}/collaborators: a collaborator holding `permissions`, or what
    their role in the team gives (members and viewers the team's member permissions,
    anyone else view). Whoever may edit the app's access adds anyone; a member joins an
    unlocked app alone (`heroku apps:join`), with no more than members hold anyway."""
    if app.organization_id is None:
        raise InvalidParams(
            f"{app.name} is not a team app: add collaborators with POST /apps/{app.name}/"
            "collaborators."
        )
    editor = access.allows("access:edit")
    if not editor and not _is_self(caller, user_ident):
        access.require(app, "access:edit")
    user = await _user(db, caller, user_ident)
    wanted = None if permissions is None else grant(permissions)
    team = await db.get(Team, app.organization_id)
    assert team is not None
    from_team = grant(team.member_permissions or ())
    role = await role_in(db, app.organization_id, user.id)
    if wanted is None and role in ADMIN_ROLES:
        wanted = [*PERMISSIONS]
    elif wanted is None:
        wanted = from_team if role in MEMBER_ROLES else ["view"]
    if not editor:
        joining = role in MEMBER_ROLES and not app.locked
        if not joining or not granted(wanted) <= granted(from_team):
            access.require(app, "access:edit")
    return await _add_to_team_app(db, app, user, wanted)


async def _add_to_team_app(
    db: AsyncSession, app: App, user: Account, permissions: Sequence[str]
) -> Held:
    assert app.organization_id is not None
    await _refuse_existing(db, app, user)
    role = await ensure_member(db, app.organization_id, user.id)
    collaborator = await _insert(db, app, user, "collaborator", grant(permissions))
    return collaborator, user, role


async def update_permissions(
    db: AsyncSession, app: App, ident: str, permissions: Sequence[str]
) -> Held:
    if app.organization_id is None:
        raise InvalidParams(f"{app.name} is not a team app: its collaborators hold no permissions.")
    collaborator, user, role = await get_collaborator(db, app, ident)
    collaborator.permissions = grant(permissions)
    await db.flush()
    return collaborator, user, role


async def remove_collaborator(
    db: AsyncSession, app: App, caller: Account, access: Access, ident: str
) -> Held:
    """Owners remove anyone but themselves; a collaborator may only leave. A team's
    `collaborator` left holding none of its apps leaves the team too."""
    collaborator, user, role = await get_collaborator(db, app, ident)
    if user.id != caller.id:
        access.require(app, "access:edit")
    if collaborator.role == "owner":
        raise InvalidParams(f"{user.email} owns {app.name} and cannot be removed from it.")
    await db.delete(collaborator)
    await db.flush()
    if app.organization_id is not None:
        await drop_idle_collaborators(db, app.organization_id)
    return collaborator, user, role

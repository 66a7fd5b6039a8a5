"""Teams as the app resources need them: found by name or id, and who belongs to them."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import App, Collaborator, Team, TeamMember
from tenku.web.errors import Conflict, NotFound
from tenku.web.lookup import find_one

# Team roles that may create apps in a team and transfer apps into it.
CREATORS = frozenset({"admin", "member"})
# Team roles whose holders are members of the team proper (a `collaborator` only holds
# the apps they were added to): who may receive a team app in their own account.
MEMBERS = frozenset({"admin", "member", "viewer"})


async def find_team(db: AsyncSession, ident: str) -> Team | None:
    return await find_one(db, select(Team), ident, Team.id, Team.name)


async def get_team(db: AsyncSession, ident: str) -> Team:
    team = await find_team(db, ident)
    if team is None:
        raise NotFound("team")
    return team


# Built once: every GET /account (which the CLI sends for most commands) asks for the
# default team, and building a statement cost more than running it.
_ACCOUNT = bindparam("account_id", type_=TeamMember.account_id.type)
_ROLE = select(TeamMember.role).where(
    TeamMember.team_id == bindparam("team_id", type_=TeamMember.team_id.type),
    TeamMember.account_id == _ACCOUNT,
)
_DEFAULT_TEAM = (
    select(Team)
    .join(TeamMember, TeamMember.team_id == Team.id)
    .where(TeamMember.account_id == _ACCOUNT, TeamMember.is_default.is_(True))
    .order_by(Team.name)
    .limit(1)
)


async def role_in(db: AsyncSession, team_id: uuid.UUID, account_id: uuid.UUID) -> str | None:
    found = await db.execute(_ROLE, {"team_id": team_id, "account_id": account_id})
    role: str | None = found.scalar_one_or_none()
    return role


async def default_team(db: AsyncSession, account_id: uuid.UUID) -> Team | None:
    found = await db.execute(_DEFAULT_TEAM, {"account_id": account_id})
    team: Team | None = found.scalar_one_or_none()
    return team


async def ensure_member(db: AsyncSession, team_id: uuid.UUID, account_id: uuid.UUID) -> str:
    """The account's role in the team, which makes it a `collaborator` if it had none:
    anyone holding one of a team's apps belongs to the team (Heroku lists them so)."""
    role = await role_in(db, team_id, account_id)
    if role is None:
        role = "collaborator"
        db.add(TeamMember(team_id=team_id, account_id=account_id, role=role, is_default=False))
        await flush_or_conflict(db)
    return role


async def flush_or_conflict(db: AsyncSession) -> None:
    """Flush rows a concurrent request may have written first (a 409, not a 500)."""
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("The request conflicts with a concurrent change; please retry.") from exc


async def drop_idle_collaborators(db: AsyncSession, team_id: uuid.UUID) -> None:
    """Team `collaborator`s left holding none of the team's apps leave the team."""
    holding = (
        select(Collaborator.id)
        .join(App, App.id == Collaborator.app_id)
        .where(App.organization_id == team_id, Collaborator.account_id == TeamMember.account_id)
        .exists()
    )
    await db.execute(
        delete(TeamMember)
        .where(TeamMember.team_id == team_id, TeamMember.role == "collaborator", ~holding)
        .execution_options(synchronize_session=False)
    )

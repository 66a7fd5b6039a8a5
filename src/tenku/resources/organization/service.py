from __future__ import annotations

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, App, Team, TeamMember
from tenku.resources.app.schemas import check_name
from tenku.resources.organization.access import RESERVED, OnTeam
from tenku.resources.organization.schemas import OrganizationUpdate
from tenku.web.errors import InvalidParams

# How many of a team's apps a refusal to delete it names.
NAMED_APPS = 5


def teams_of(account: Account) -> Select[Team, TeamMember]:
    """The teams the account belongs to, each with its membership."""
    return (
        select(Team, TeamMember)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.account_id == account.id)
    )


def _check_name(name: str) -> str:
    try:
        check_name(name)
    except ValueError as exc:
        raise InvalidParams(f"Invalid name provided: {exc}.") from exc
    if name in RESERVED:
        raise InvalidParams(f"Invalid name provided: {name} is reserved.")
    return name


async def _name_taken(db: AsyncSession, name: str) -> bool:
    return (await db.execute(select(Team.id).where(Team.name == name))).first() is not None


async def create_team(db: AsyncSession, name: str, admin: Account) -> tuple[Team, TeamMember]:
    """A new team, with `admin` as its first admin (the API's caller, or the operator's pick)."""
    if await _name_taken(db, _check_name(name)):
        raise InvalidParams("Name is already taken")
    team = Team(name=name)
    db.add(team)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise InvalidParams("Name is already taken") from exc
    member = TeamMember(team_id=team.id, account_id=admin.id, role="admin", is_default=False)
    db.add(member)
    await db.flush()
    return team, member


async def update_team(db: AsyncSession, on: OnTeam, changes: OrganizationUpdate) -> None:
    """`default` is the caller's own choice; a new name is an admin's."""
    team, member = on.team, on.member
    if changes.name is not None and changes.name != team.name:
        on.require_admin("rename it")
        if await _name_taken(db, _check_name(changes.name)):
            raise InvalidParams("Name is already taken")
        team.name = changes.name
    if changes.default is True and not member.is_default:
        # One default team per account: whichever was the default before stops being it.
        await db.execute(
            update(TeamMember)
            .where(TeamMember.account_id == member.account_id, TeamMember.id != member.id)
            .values(is_default=False)
        )
        member.is_default = True
    elif changes.default is False:
        member.is_default = False
    await db.flush()


async def delete_team(db: AsyncSession, on: OnTeam) -> None:
    """An admin deletes a team that holds no apps; its members, allow-list and
    invitations go with it (the database cascades)."""
    on.require_admin("delete it")
    team = on.team
    held = list(
        (
            await db.execute(
                select(App.name)
                .where(App.organization_id == team.id)
                .order_by(App.name)
                .limit(NAMED_APPS + 1)
            )
        ).scalars()
    )
    if held:
        shown = ", ".join(held[:NAMED_APPS]) + (", ..." if len(held) > NAMED_APPS else "")
        raise InvalidParams(
            f"The {team.name} team still has apps ({shown}). "
            "Delete them or transfer them out of the team before deleting it."
        )
    await db.delete(team)
    await db.flush()

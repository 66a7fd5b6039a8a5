from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle

from tenku.db.models import Account, App, Collaborator, Team, TeamMember
from tenku.resources.account.service import find_account, normalize_email
from tenku.resources.app.access import ADMIN_ROLES
from tenku.resources.organization.access import OnTeam
from tenku.web.errors import InvalidParams, NotFound
from tenku.web.lookup import by_ident

# Who a member added without a role becomes when the team's preference is unset.
FALLBACK_ROLE = "member"


def members_of(team_id: uuid.UUID) -> Select[Any, TeamMember, Account]:
    """The team's members; the leading bundle carries the sort keys (`id`, `email`)."""
    return (
        select(Bundle("keys", TeamMember.id, Account.email), TeamMember, Account)
        .join(Account, Account.id == TeamMember.account_id)
        .where(TeamMember.team_id == team_id)
    )


def member_not_found() -> NotFound:
    return NotFound("team_member", "Couldn't find that team member.")


async def find_member(
    db: AsyncSession, team_id: uuid.UUID, ident: str
) -> tuple[TeamMember, Account] | None:
    """`{organization_member_email_or_id}`: the membership's id, its user's id, or the email."""
    stmt = (
        select(TeamMember, Account)
        .join(Account, Account.id == TeamMember.account_id)
        .where(TeamMember.team_id == team_id)
    )
    ids = (TeamMember.id, TeamMember.account_id)
    narrowed = by_ident(stmt, ident, ids, (Account.email, normalize_email))
    row = (await db.execute(narrowed)).first() if narrowed is not None else None
    return None if row is None else (row[0], row[1])


async def _keep_an_admin(db: AsyncSession, team: Team, leaving: TeamMember) -> None:
    """Refuse to take away the team's last admin. The team's row is locked first, so two
    admins demoting each other at once cannot both succeed."""
    await db.execute(select(Team.id).where(Team.id == team.id).with_for_update())
    others = (
        await db.execute(
            select(func.count())
            .select_from(TeamMember)
            .where(
                TeamMember.team_id == team.id,
                TeamMember.id != leaving.id,
                TeamMember.role.in_(ADMIN_ROLES),
            )
        )
    ).scalar_one()
    if not others:
        raise InvalidParams(
            f"The {team.name} team must keep at least one admin; make someone else an admin first."
        )


async def set_member(
    db: AsyncSession, on: OnTeam, email: str, role: str | None, create: bool = True
) -> tuple[TeamMember, Account, bool]:
    """Add the account with `email` to the team, or change its role; whether it was added.

    Only admins do either; `create=False` only changes an existing member."""
    on.require_admin("add or change members")
    account = await find_account(db, email)
    if account is None:
        raise NotFound("user", "Couldn't find that user.")
    found = await find_member(db, on.team.id, str(account.id))
    if found is None:
        if not create:
            raise member_not_found()
        member = TeamMember(
            team_id=on.team.id,
            account_id=account.id,
            role=role or on.team.default_permission or FALLBACK_ROLE,
            is_default=False,
        )
        db.add(member)
        try:
            await db.flush()
        except IntegrityError as exc:
            raise InvalidParams(f"{account.email} is already a member of {on.team.name}.") from exc
        return member, account, True
    member, _ = found
    if role is not None and role != member.role:
        if member.role in ADMIN_ROLES and role not in ADMIN_ROLES:
            await _keep_an_admin(db, on.team, member)
        member.role = role
        await db.flush()
    return member, account, False


async def remove_member(db: AsyncSession, on: OnTeam, ident: str) -> tuple[TeamMember, Account]:
    """Admins remove anyone, anyone may leave; never the last admin.

    The member's access to the team's apps ends with it: their collaborator rows on
    every app of the team go in the same transaction."""
    found = await find_member(db, on.team.id, ident)
    if found is None:
        raise member_not_found()
    member, account = found
    if account.id != on.caller.account.id:
        on.require_admin("remove other members")
    if member.role in ADMIN_ROLES:
        await _keep_an_admin(db, on.team, member)
    team_apps = select(App.id).where(App.organization_id == on.team.id)
    await db.execute(
        delete(Collaborator).where(
            Collaborator.account_id == account.id, Collaborator.app_id.in_(team_apps)
        )
    )
    await db.delete(member)
    await db.flush()
    return member, account

"""Team invitations: the invitation service's rows with a team and a role.

Team admins invite and revoke; every member sees the pending ones (`heroku members` lists
them). One invitation per team and email is pending at a time: inviting again gives it
the new role and a new token, and mails again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, Invitation, Team, TeamMember
from tenku.resources.account.service import find_account, normalize_email
from tenku.resources.invitation import service as invitations
from tenku.resources.organization_member.schemas import OrganizationMemberOut
from tenku.resources.team_invitation.schemas import TeamInvitationOut
from tenku.web.errors import Forbidden, InvalidParams, NotFound


def team_invitations(team_id: uuid.UUID) -> Select[Invitation]:
    return invitations.pending().where(Invitation.team_id == team_id)


async def render(
    db: AsyncSession, team: Team, rows: Sequence[Invitation]
) -> list[TeamInvitationOut]:
    """Bodies for a page of a team's invitations: the accounts involved in one query."""
    ids = {i.invited_by_id for i in rows if i.invited_by_id} | {
        i.account_id for i in rows if i.account_id
    }
    emails = {i.email for i in rows if i.account_id is None}
    accounts: list[Account] = []
    if ids or emails:
        accounts = list(
            (
                await db.execute(
                    select(Account).where(or_(Account.id.in_(ids), Account.email.in_(emails)))
                )
            ).scalars()
        )
    by_id = {a.id: a for a in accounts}
    by_email = {a.email: a for a in accounts}
    out = []
    for invitation in rows:
        account = (
            by_id.get(invitation.account_id)
            if invitation.account_id
            else by_email.get(invitation.email)
        )
        inviter = by_id.get(invitation.invited_by_id) if invitation.invited_by_id else None
        user = invitations.invitee(invitation, account)
        out.append(TeamInvitationOut.of(invitation, team, user, inviter))
    return out


async def render_one(db: AsyncSession, team: Team, invitation: Invitation) -> TeamInvitationOut:
    [body] = await render(db, team, [invitation])
    return body


async def invite(
    db: AsyncSession, inviter: Account, team: Team, email: str, role: str | None
) -> tuple[Invitation, str, Account | None]:
    """Invite `email` into `team` (or invite again); the token is for the mail only."""
    if role is None:
        role = team.default_permission or "member"
    if role not in invitations.ROLES:
        raise InvalidParams(
            f"Invalid role provided: {role} (one of {', '.join(invitations.ROLES)})."
        )
    email = normalize_email(email)
    # Invitations of one team are made one at a time (PostgreSQL: the team's row is
    # locked; SQLite has one writer), so an email never gets two pending ones.
    await db.execute(select(Team.id).where(Team.id == team.id).with_for_update())
    account = await find_account(db, email)
    if account is not None and await _member(db, team, account) is not None:
        raise InvalidParams(f"{email} is already a member of {team.name}.")
    token, digest = invitations.mint_token()
    invitation = (
        await db.execute(
            select(Invitation).where(
                Invitation.team_id == team.id,
                Invitation.email == email,
                Invitation.finalized_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if invitation is None:
        invitation = Invitation(email=email, team_id=team.id)
        db.add(invitation)
    invitation.token_hash = digest
    invitation.role = role
    invitation.invited_by_id = inviter.id
    invitation.account_id = account.id if account is not None else None
    await db.flush()
    return invitation, token, account


async def _member(db: AsyncSession, team: Team, account: Account) -> TeamMember | None:
    found: TeamMember | None = (
        await db.execute(
            select(TeamMember).where(
                TeamMember.team_id == team.id, TeamMember.account_id == account.id
            )
        )
    ).scalar_one_or_none()
    return found


async def revoke(db: AsyncSession, team: Team, email: str) -> Invitation:
    """Withdraw the invitation not yet used for `email` (expired or not)."""
    invitation = (
        await db.execute(
            select(Invitation).where(
                Invitation.team_id == team.id,
                Invitation.email == normalize_email(email),
                Invitation.finalized_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if invitation is None:
        raise NotFound("invitation", f"There is no invitation for {email} to {team.name}.")
    await db.delete(invitation)
    await db.flush()
    return invitation


async def by_token(db: AsyncSession, token: str) -> tuple[Invitation, Team]:
    invitation = await invitations.by_token(db, token)
    team = None
    if invitation is not None and invitation.team_id is not None:
        team = await db.get(Team, invitation.team_id)
    if invitation is None or team is None:
        raise NotFound("invitation")
    return invitation, team


async def accept(db: AsyncSession, caller: Account, token: str) -> OrganizationMemberOut:
    """The caller joins the team the invitation is for, if it is for them."""
    invitation, team = await by_token(db, token)
    if not invitations.invited(invitation, caller):
        raise Forbidden(
            f"This invitation to {team.name} is for {invitation.email}: "
            "log in as that account to accept it."
        )
    await invitations.claim(db, invitation)
    member = await invitations.join_team(db, invitation, caller)
    return OrganizationMemberOut.of(member, caller)

"""Invitations, to Tenku and into teams: one row each, finalized once by a mailed token.

The token is 256 random bits, mailed and kept only as its SHA-256 digest, and found by
that digest (as API tokens are): nothing compares a stored secret byte by byte. A token
works for TTL after it was minted (re-inviting mints a new one), and once.

Who finalizes how: a person with no account, or with an account that has no password yet,
sets a password (`PATCH /invitations/{token}`), which creates the account (its id is then
the invitation's, the `user.id` every answer gave) or completes it; someone who already has
an account accepts a team invitation while logged in (`POST
/teams/invitations/{token}/accept`). Either way a team invitation makes a team member.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.base import utcnow
from tenku.db.models import Account, Invitation, Team, TeamMember
from tenku.resources.account.schemas import AccountUpdate
from tenku.resources.account.service import create_account, find_account, normalize_email
from tenku.resources.common import AccountRef
from tenku.resources.invitation.schemas import Invitee
from tenku.security import hash_password_async, token_digest
from tenku.web.errors import InvalidParams, NotFound

# How long a mailed token works.
TTL = timedelta(days=7)
# The roles a team invitation may give (TeamMember.role).
ROLES = ("admin", "member", "viewer", "collaborator")


def mint_token() -> tuple[str, str]:
    """A new token and the digest stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def expires_at(invitation: Invitation) -> datetime:
    # The token was minted with the row's last change (a re-invitation mints a new one).
    return invitation.updated_at + TTL


def pending() -> Select[Invitation]:
    """Invitations whose token still works: not finalized, not expired."""
    return select(Invitation).where(
        Invitation.finalized_at.is_(None), Invitation.updated_at > utcnow() - TTL
    )


async def by_token(db: AsyncSession, token: str) -> Invitation | None:
    if not token or len(token) > 256:
        return None
    stmt = pending().where(Invitation.token_hash == token_digest(token))
    found: Invitation | None = (await db.execute(stmt)).scalar_one_or_none()
    return found


async def invitee_account(db: AsyncSession, invitation: Invitation) -> Account | None:
    """The invited person's account: the one named when inviting, or one made since."""
    if invitation.account_id is not None:
        return await db.get(Account, invitation.account_id)
    return await find_account(db, invitation.email)


def needs_password(account: Account | None) -> bool:
    """Whether finalizing this invitation means choosing a password (no account yet, or an
    account made without one) rather than accepting it while logged in."""
    return account is None or account.password_hash is None


def invitee(invitation: Invitation, account: Account | None) -> Invitee:
    if account is None:
        return Invitee(email=invitation.email, id=invitation.id, name=invitation.name)
    return Invitee(email=account.email, id=account.id, name=account.name)


def user_ref(invitation: Invitation, account: Account | None) -> AccountRef:
    who = invitee(invitation, account)
    return AccountRef(email=who.email, id=who.id)


@dataclass
class Found:
    invitation: Invitation
    account: Account | None


async def for_password(db: AsyncSession, token: str) -> Found:
    """The invitation `/invitations/{token}` serves: pending, for someone without a
    password (anyone else logs in instead; a token is never a way to reset a password)."""
    invitation = await by_token(db, token)
    account = None if invitation is None else await invitee_account(db, invitation)
    if invitation is None or not needs_password(account):
        raise NotFound("invitation")
    return Found(invitation, account)


async def invite(
    db: AsyncSession, inviter: Account, email: str, name: str | None
) -> tuple[Invitation, str]:
    """An invitation to Tenku; the token is for the mail only."""
    email = normalize_email(email)
    account = await find_account(db, email)
    if not needs_password(account):
        raise InvalidParams(f"{email} already has an account.")
    token, digest = mint_token()
    invitation = Invitation(
        token_hash=digest,
        email=email,
        name=name,
        account_id=account.id if account is not None else None,
        invited_by_id=inviter.id,
    )
    db.add(invitation)
    await db.flush()
    return invitation, token


def check_password(password: str) -> None:
    """The rules a new password of an account follows (PATCH /account's `new_password`)."""
    try:
        AccountUpdate(new_password=password)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidParams(f"Invalid password provided: {message}.") from exc


async def claim(db: AsyncSession, invitation: Invitation) -> None:
    """Mark the invitation used, once: of two concurrent finalizations one gets a 404."""
    done: Any = await db.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.finalized_at.is_(None))
        .values(finalized_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    if done.rowcount != 1:
        raise NotFound("invitation")


async def finalize(
    db: AsyncSession, token: str, password: str, confirmation: str
) -> tuple[Invitation, Account]:
    """Set the invitee's password (creating the account), once; join the team if any."""
    check_password(password)
    if password != confirmation:
        raise InvalidParams("Password confirmation doesn't match password.")
    found = await for_password(db, token)
    invitation, account = found.invitation, found.account
    await claim(db, invitation)
    if account is None:
        account = await create_account(
            db, invitation.email, password, invitation.name, account_id=invitation.id
        )
    else:
        account.password_hash = await hash_password_async(password)
        if account.name is None:
            account.name = invitation.name
    if invitation.team_id is not None:
        await join_team(db, invitation, account)
    await db.flush()
    return invitation, account


async def join_team(db: AsyncSession, invitation: Invitation, account: Account) -> TeamMember:
    """The account's membership of the invitation's team; one it already has is kept as
    it is (an invitation never lowers an admin)."""
    assert invitation.team_id is not None
    existing = (
        await db.execute(
            select(TeamMember).where(
                TeamMember.team_id == invitation.team_id, TeamMember.account_id == account.id
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    team = await db.get(Team, invitation.team_id)
    role = invitation.role or (team.default_permission if team else None) or "member"
    member = TeamMember(team_id=invitation.team_id, account_id=account.id, role=role)
    db.add(member)
    await db.flush()
    return member


def invited(invitation: Invitation, account: Account) -> bool:
    """Whether `account` is the one the invitation is for."""
    if invitation.account_id is not None:
        return invitation.account_id == account.id
    return invitation.email == account.email

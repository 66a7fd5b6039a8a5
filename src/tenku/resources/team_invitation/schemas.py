from __future__ import annotations

import uuid

from pydantic import EmailStr, Field

from tenku.db.models import Account, Invitation, Team, TeamMember
from tenku.resources.common import In, Out, Ref
from tenku.resources.invitation.schemas import Invitee
from tenku.web.render import Timestamp


class TeamInvitationOut(Out):
    created_at: Timestamp
    id: uuid.UUID
    # Null once the account that invited is gone.
    invited_by: Invitee | None
    role: str | None
    team: Ref
    updated_at: Timestamp
    user: Invitee

    @classmethod
    def of(
        cls, invitation: Invitation, team: Team, user: Invitee, inviter: Account | None
    ) -> TeamInvitationOut:
        return cls(
            created_at=invitation.created_at,
            id=invitation.id,
            invited_by=(
                None
                if inviter is None
                else Invitee(email=inviter.email, id=inviter.id, name=inviter.name)
            ),
            role=invitation.role,
            team=Ref.of(team),
            updated_at=invitation.updated_at,
            user=user,
        )


class TeamInvitationCreate(In):
    email: EmailStr
    # admin, member, viewer or collaborator; none: the team's default permission.
    role: str | None = Field(default=None, max_length=32)


class MemberUser(Out):
    email: str
    id: uuid.UUID
    name: str | None


class TeamMemberOut(Out):
    """A team membership, as accepting an invitation makes it."""

    created_at: Timestamp
    email: str
    federated: bool = False
    id: uuid.UUID
    role: str
    two_factor_authentication: bool
    updated_at: Timestamp
    user: MemberUser

    @classmethod
    def of(cls, member: TeamMember, account: Account) -> TeamMemberOut:
        return cls(
            created_at=member.created_at,
            email=account.email,
            id=member.id,
            role=member.role,
            two_factor_authentication=account.two_factor_authentication,
            updated_at=member.updated_at,
            user=MemberUser(email=account.email, id=account.id, name=account.name),
        )

from __future__ import annotations

import uuid

from pydantic import EmailStr, Field

from tenku.db.models import Account, Invitation, Team
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

from __future__ import annotations

import uuid

from pydantic import Field, field_validator

from tenku.db.models import Account, TeamMember
from tenku.resources.common import In, Out, Ref
from tenku.web.render import Timestamp

# The roles a member may be given. The reference also lists `owner`, which no member of
# a Tenku team holds (a team owns its apps); `viewer` is today's read-only role.
ROLES = ("admin", "member", "viewer", "collaborator")


class MemberUser(Out):
    email: str
    id: uuid.UUID
    name: str | None = None


class OrganizationMemberOut(Out):
    created_at: Timestamp
    email: str
    federated: bool = False
    # Every member has one; the reference's examples predate it.
    id: uuid.UUID | None = None
    identity_provider: Ref | None = None
    role: str | None
    two_factor_authentication: bool
    updated_at: Timestamp
    user: MemberUser

    @classmethod
    def of(cls, member: TeamMember, account: Account) -> OrganizationMemberOut:
        return cls(
            created_at=member.created_at,
            email=account.email,
            id=member.id,
            role=member.role,
            two_factor_authentication=account.two_factor_authentication,
            updated_at=member.updated_at,
            user=MemberUser(email=account.email, id=account.id, name=account.name),
        )


def check_role(value: str | None) -> str | None:
    if value is not None and value not in ROLES:
        raise ValueError(f"must be one of {', '.join(ROLES[:-1])} or {ROLES[-1]}")
    return value


class MemberChange(In):
    """`role` left out (or null) is the team's `default-permission` for a new member, and
    no change for an existing one."""

    email: str = Field(min_length=1, max_length=254)
    role: str | None = None

    _role = field_validator("role")(check_role)

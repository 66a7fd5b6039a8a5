from __future__ import annotations

import uuid

from pydantic import field_validator

from tenku.db.models import Team, TeamMember
from tenku.resources.app.schemas import check_name
from tenku.resources.common import In, Out, Ref
from tenku.web.render import Timestamp


class OrganizationOut(Out):
    """The reference's organization, with what Heroku's team body has added since (the
    CLI reads `type`); Tenku's teams are plain teams, with no enterprise, identity
    provider, billing or member limit behind them."""

    created_at: Timestamp
    credit_card_collections: bool = False
    default: bool
    enterprise_account: Ref | None = None
    id: uuid.UUID
    identity_provider: Ref | None = None
    membership_limit: int | None = None
    name: str
    provisioned_licenses: bool = False
    role: str | None
    type: str = "team"
    updated_at: Timestamp

    @classmethod
    def of(cls, team: Team, member: TeamMember) -> OrganizationOut:
        """The team as `member` sees it: their role, and whether it is their default."""
        return cls(
            created_at=team.created_at,
            default=member.is_default,
            id=team.id,
            name=team.name,
            role=member.role,
            updated_at=team.updated_at,
        )


class OrganizationUpdate(In):
    default: bool | None = None
    name: str | None = None

    _name = field_validator("name")(check_name)


class TeamCreate(In):
    name: str

    _name = field_validator("name")(check_name)

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from tenku.db.models import Team
from tenku.resources.common import In, Out
from tenku.resources.user_preferences.schemas import dashed

# The role a member added without one gets.
DefaultPermission = Literal["admin", "member", "viewer"]


class OrganizationPreferencesOut(Out):
    """Sent under the reference's dashed names (`whitelisting-enabled`)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=dashed, validate_by_name=True, serialize_by_alias=True
    )

    default_permission: DefaultPermission | None = None
    whitelisting_enabled: bool | None = None

    @classmethod
    def of(cls, team: Team) -> OrganizationPreferencesOut:
        return cls.model_validate(
            {
                "default_permission": team.default_permission,
                "whitelisting_enabled": team.whitelisting_enabled,
            }
        )


class OrganizationPreferencesUpdate(In):
    """Only the dashed names count; a preference left out stays as it is."""

    model_config = ConfigDict(extra="ignore", alias_generator=dashed, validate_by_name=False)

    default_permission: DefaultPermission | None = None
    whitelisting_enabled: bool | None = None

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tenku.resources.organization.access import OnTeam
from tenku.resources.organization_preferences.schemas import OrganizationPreferencesUpdate


async def update_preferences(
    db: AsyncSession, on: OnTeam, changes: OrganizationPreferencesUpdate
) -> None:
    on.require_admin("change its preferences")
    sent = changes.model_fields_set
    if "default_permission" in sent:
        on.team.default_permission = changes.default_permission
    if "whitelisting_enabled" in sent:
        # Null (the reference allows it) is the absence of restrictions.
        on.team.whitelisting_enabled = bool(changes.whitelisting_enabled)
    await db.flush()

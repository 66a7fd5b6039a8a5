"""A team's preferences, under both of the team's names."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tenku.resources.organization.access import PREFERENCES, TEAM, TeamReader, TeamWriter
from tenku.resources.organization_preferences import service
from tenku.resources.organization_preferences.schemas import (
    OrganizationPreferencesOut,
    OrganizationPreferencesUpdate,
)
from tenku.web.deps import TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get(PREFERENCES, response_model=OrganizationPreferencesOut)
@router.get(f"{TEAM}/preferences", response_model=OrganizationPreferencesOut)
async def info(on: TeamReader) -> Response:
    """The team's preferences; every member may read them."""
    return model_response(OrganizationPreferencesOut.of(on.team))


@router.patch(PREFERENCES, response_model=OrganizationPreferencesOut)
@router.patch(f"{TEAM}/preferences", response_model=OrganizationPreferencesOut)
async def update(
    on: TeamWriter,
    changes: OrganizationPreferencesUpdate = body(OrganizationPreferencesUpdate),
) -> Response:
    """Change the team's preferences (admins)."""
    await service.update_preferences(on.db, on, changes)
    return model_response(OrganizationPreferencesOut.of(on.team))

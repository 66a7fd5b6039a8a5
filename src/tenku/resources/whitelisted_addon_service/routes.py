"""A team's add-on allow-list, under both of the team's names."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import TeamAddonService
from tenku.resources.addon.registry import AddonCatalog
from tenku.resources.organization.access import ORGANIZATION, TEAM, TeamReader, TeamWriter
from tenku.resources.whitelisted_addon_service import service
from tenku.resources.whitelisted_addon_service.schemas import (
    WhitelistCreate,
    WhitelistedAddonServiceOut,
)
from tenku.web.deps import TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(TeamAddonService.id)
ORGANIZATION_LIST = f"{ORGANIZATION}/whitelisted-addon-services"
TEAM_LIST = f"{TEAM}/whitelisted-addon-services"
ENTRY = "{whitelisted_addon_service_id_or_name}"


@router.get(
    ORGANIZATION_LIST,
    response_model=list[WhitelistedAddonServiceOut],
    openapi_extra=ranged(SORT),
)
@router.get(TEAM_LIST, response_model=list[WhitelistedAddonServiceOut], openapi_extra=ranged(SORT))
async def list_services(request: Request, on: TeamReader, cat: AddonCatalog) -> Response:
    """List the add-on services on the team's allow-list; every member may."""
    return await paged(
        request,
        on.db,
        service.allowed_of(on.team.id),
        SORT,
        WhitelistedAddonServiceOut,
        lambda rows: [WhitelistedAddonServiceOut.of(e, a, cat) for e, a in rows],
    )


@router.post(ORGANIZATION_LIST, response_model=list[WhitelistedAddonServiceOut], status_code=201)
@router.post(TEAM_LIST, response_model=list[WhitelistedAddonServiceOut], status_code=201)
async def create(
    on: TeamWriter, cat: AddonCatalog, params: WhitelistCreate = body(WhitelistCreate)
) -> Response:
    """Add an add-on service to the team's allow-list (admins)."""
    entry, added_by = await service.allow(on.db, cat, on, params.addon_service)
    out = WhitelistedAddonServiceOut.of(entry, added_by, cat)
    return list_response(WhitelistedAddonServiceOut, [out], status=201)


@router.delete(f"{ORGANIZATION_LIST}/{ENTRY}", response_model=WhitelistedAddonServiceOut)
@router.delete(f"{TEAM_LIST}/{ENTRY}", response_model=WhitelistedAddonServiceOut)
async def delete(
    whitelisted_addon_service_id_or_name: str, on: TeamWriter, cat: AddonCatalog
) -> Response:
    """Take an add-on service off the team's allow-list (admins)."""
    entry, added_by = await service.disallow(on.db, cat, on, whitelisted_addon_service_id_or_name)
    return model_response(WhitelistedAddonServiceOut.of(entry, added_by, cat))

"""The add-ons of a team's apps, under both of the team's names."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Addon, App
from tenku.resources.addon.registry import AddonCatalog
from tenku.resources.addon.render import Expand, render_addons
from tenku.resources.addon.schemas import AddonOut
from tenku.resources.app.access import visible_app_ids
from tenku.resources.organization.access import ORGANIZATION, TEAM, TeamReader
from tenku.web.deps import TransactionRoute
from tenku.web.lists import paged, ranged, sorting

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Addon.id, Addon.name, default="name")


@router.get(f"{ORGANIZATION}/addons", response_model=list[AddonOut], openapi_extra=ranged(SORT))
@router.get(f"{TEAM}/addons", response_model=list[AddonOut], openapi_extra=ranged(SORT))
async def list_addons(request: Request, on: TeamReader, cat: AddonCatalog) -> Response:
    """List the add-ons of the team's apps: all of them for admins, for other members
    those of the team apps they may see."""
    team_apps = select(App.id).where(
        App.organization_id == on.team.id, App.id.in_(visible_app_ids(on.caller.account.id))
    )
    stmt = select(Addon).where(Addon.app_id.in_(team_apps), Addon.state != "deprovisioned")
    expand = Expand.of(request)
    return await paged(
        request, on.db, stmt, SORT, AddonOut, lambda a: render_addons(on.db, cat, a, expand)
    )

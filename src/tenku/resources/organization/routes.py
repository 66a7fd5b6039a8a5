"""Teams: the reference's organizations, served under both names."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Team
from tenku.resources.organization import service
from tenku.resources.organization.access import ORGANIZATION, TEAM, TeamReader, TeamWriter
from tenku.resources.organization.schemas import OrganizationOut, OrganizationUpdate, TeamCreate
from tenku.web.deps import AppsReader, AppsWriter, Db, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Team.id, Team.name)


@router.get("/organizations", response_model=list[OrganizationOut], openapi_extra=ranged(SORT))
@router.get("/teams", response_model=list[OrganizationOut], openapi_extra=ranged(SORT))
async def list_teams(request: Request, caller: AppsReader, db: Db) -> Response:
    """List the teams you are a member of."""
    return await paged(
        request,
        db,
        service.teams_of(caller.account),
        SORT,
        OrganizationOut,
        lambda rows: [OrganizationOut.of(team, member) for team, member in rows],
    )


@router.get(ORGANIZATION, response_model=OrganizationOut)
@router.get(TEAM, response_model=OrganizationOut)
async def info(on: TeamReader) -> Response:
    """Info for a team."""
    return model_response(OrganizationOut.of(on.team, on.member))


@router.patch(ORGANIZATION, response_model=OrganizationOut)
@router.patch(TEAM, response_model=OrganizationOut)
async def update(
    on: TeamWriter, changes: OrganizationUpdate = body(OrganizationUpdate)
) -> Response:
    """Set or unset the team as your default team, or rename it (admins)."""
    await service.update_team(on.db, on, changes)
    return model_response(OrganizationOut.of(on.team, on.member))


@router.post("/teams", response_model=OrganizationOut, status_code=201)
async def create(caller: AppsWriter, db: Db, params: TeamCreate = body(TeamCreate)) -> Response:
    """Create a team; you become its admin."""
    team, member = await service.create_team(db, params.name, caller.account)
    return model_response(OrganizationOut.of(team, member), status=201)


@router.delete(TEAM, response_model=OrganizationOut)
async def delete(on: TeamWriter) -> Response:
    """Delete a team that holds no apps (admins)."""
    out = OrganizationOut.of(on.team, on.member)
    await service.delete_team(on.db, on)
    return model_response(out)

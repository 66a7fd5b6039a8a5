"""Team members, under both of the team's names."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Account, TeamMember
from tenku.resources.organization.access import (
    ORGANIZATION,
    TEAM,
    TeamReader,
    TeamWriter,
    path_param,
)
from tenku.resources.organization_member import service
from tenku.resources.organization_member.schemas import MemberChange, OrganizationMemberOut
from tenku.web.deps import TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(TeamMember.id, Account.email)
UPDATED: dict[int | str, dict[str, Any]] = {
    200: {"model": OrganizationMemberOut, "description": "An existing member's new role."}
}
# A member in a path, as the reference names it and as today's API does.
MEMBER_PARAMS = ("organization_member_email_or_id", "team_member_email_or_id")


@router.get(
    f"{ORGANIZATION}/members",
    response_model=list[OrganizationMemberOut],
    openapi_extra=ranged(SORT),
)
@router.get(
    f"{TEAM}/members", response_model=list[OrganizationMemberOut], openapi_extra=ranged(SORT)
)
async def list_members(request: Request, on: TeamReader) -> Response:
    """List members of the team."""
    on.require_member_view()
    return await paged(
        request,
        on.db,
        service.members_of(on.team.id),
        SORT,
        OrganizationMemberOut,
        lambda rows: [OrganizationMemberOut.of(m, a) for _, m, a in rows],
    )


@router.put(
    f"{ORGANIZATION}/members",
    response_model=OrganizationMemberOut,
    status_code=201,
    responses=UPDATED,
)
@router.put(
    f"{TEAM}/members", response_model=OrganizationMemberOut, status_code=201, responses=UPDATED
)
async def create_or_update(on: TeamWriter, params: MemberChange = body(MemberChange)) -> Response:
    """Add a member to the team (201), or change a member's role (200)."""
    member, account, created = await service.set_member(on.db, on, params.email, params.role)
    out = OrganizationMemberOut.of(member, account)
    return model_response(out, status=201 if created else 200)


@router.patch(f"{TEAM}/members", response_model=OrganizationMemberOut)
async def update(on: TeamWriter, params: MemberChange = body(MemberChange)) -> Response:
    """Change a team member's role (`heroku members:set`)."""
    member, account, _ = await service.set_member(
        on.db, on, params.email, params.role, create=False
    )
    return model_response(OrganizationMemberOut.of(member, account))


@router.delete(
    f"{ORGANIZATION}/members/{{organization_member_email_or_id}}",
    response_model=OrganizationMemberOut,
)
@router.delete(f"{TEAM}/members/{{team_member_email_or_id}}", response_model=OrganizationMemberOut)
async def delete(request: Request, on: TeamWriter) -> Response:
    """Remove a member from the team; their access to its apps ends with it."""
    ident = path_param(request, MEMBER_PARAMS)
    member, account = await service.remove_member(on.db, on, ident)
    return model_response(OrganizationMemberOut.of(member, account))

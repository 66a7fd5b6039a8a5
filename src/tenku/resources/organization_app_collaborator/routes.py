"""Collaborators on team apps, under the reference's /organizations paths and the CLI's
/teams ones, and the permissions they may hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, ViewApp, deciding, writing
from tenku.resources.collaborator import service
from tenku.resources.collaborator.routes import SORT
from tenku.resources.organization_app_collaborator.schemas import (
    PERMISSION_LIST,
    OrganizationAppCollaboratorCreate,
    OrganizationAppCollaboratorOut,
    OrganizationAppCollaboratorUpdate,
    TeamAppPermissionOut,
)
from tenku.web.deps import AnyCaller, TransactionRoute, body
from tenku.web.lists import catalog_list, paged, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
Out = OrganizationAppCollaboratorOut


@router.post(
    "/organizations/apps/{app_id_or_name}/collaborators", response_model=Out, status_code=201
)
@router.post("/teams/apps/{app_id_or_name}/collaborators", response_model=Out, status_code=201)
async def create(
    on: Annotated[OnApp, deciding("access:edit")],
    params: OrganizationAppCollaboratorCreate = body(OrganizationAppCollaboratorCreate),
) -> Response:
    """Add a collaborator to a team app, or join it (`heroku access:add`, `apps:join`)."""
    collaborator, user, role = await service.add_team_collaborator(
        on.db, on.app, on.caller.account, on.access, params.user, params.permissions
    )
    return model_response(Out.of(collaborator, user, on.app, role), status=201)


@router.get(
    "/organizations/apps/{app_id_or_name}/collaborators",
    response_model=list[Out],
    openapi_extra=ranged(SORT),
)
@router.get(
    "/teams/apps/{app_id_or_name}/collaborators",
    response_model=list[Out],
    openapi_extra=ranged(SORT),
)
async def list_collaborators(request: Request, on: ViewApp) -> Response:
    """List the collaborators on a team app."""
    return await paged(
        request,
        on.db,
        service.collaborators_of(on.app),
        SORT,
        Out,
        lambda rows: [Out.of(c, a, on.app, r) for _, c, a, r in rows],
    )


@router.get(
    "/organizations/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}",
    response_model=Out,
)
@router.get(
    "/teams/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}",
    response_model=Out,
)
async def info(collaborator_email_or_id: str, on: ViewApp) -> Response:
    """Info for a collaborator on a team app."""
    collaborator, user, role = await service.get_collaborator(
        on.db, on.app, collaborator_email_or_id
    )
    return model_response(Out.of(collaborator, user, on.app, role))


@router.patch(
    "/organizations/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}",
    response_model=Out,
)
@router.patch(
    "/teams/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}",
    response_model=Out,
)
async def update(
    collaborator_email_or_id: str,
    on: Annotated[OnApp, writing("access:edit")],
    changes: OrganizationAppCollaboratorUpdate = body(OrganizationAppCollaboratorUpdate),
) -> Response:
    """Change what a collaborator may do on a team app (`heroku access:update`)."""
    collaborator, user, role = await service.update_permissions(
        on.db, on.app, collaborator_email_or_id, changes.permissions
    )
    return model_response(Out.of(collaborator, user, on.app, role))


@router.delete(
    "/organizations/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}",
    response_model=Out,
)
@router.delete(
    "/teams/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}",
    response_model=Out,
)
async def delete(
    collaborator_email_or_id: str, on: Annotated[OnApp, deciding("access:edit")]
) -> Response:
    """Remove a collaborator from a team app; anyone may remove themselves."""
    collaborator, user, role = await service.remove_collaborator(
        on.db, on.app, on.caller.account, on.access, collaborator_email_or_id
    )
    return model_response(Out.of(collaborator, user, on.app, role))


@router.get(
    "/teams/permissions",
    response_model=list[TeamAppPermissionOut],
    openapi_extra=ranged(["name"]),
)
async def permissions(request: Request, caller: AnyCaller) -> Response:
    """List the permissions a team app's collaborators may hold (`heroku access`)."""
    return catalog_list(request, TeamAppPermissionOut, PERMISSION_LIST, ("name",))

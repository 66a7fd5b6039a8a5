from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Account, Collaborator
from tenku.resources.app.access import OnApp, ViewApp, deciding, writing
from tenku.resources.collaborator import service
from tenku.resources.collaborator.schemas import CollaboratorCreate, CollaboratorOut
from tenku.web.deps import TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Collaborator.id, Account.email)


@router.post(
    "/apps/{app_id_or_name}/collaborators", response_model=CollaboratorOut, status_code=201
)
async def create(
    on: Annotated[OnApp, writing("access:edit")],
    params: CollaboratorCreate = body(CollaboratorCreate),
) -> Response:
    collaborator, user, role = await service.add_collaborator(
        on.db, on.app, on.caller.account, params.user
    )
    return model_response(CollaboratorOut.of(collaborator, user, on.app, role), status=201)


@router.get(
    "/apps/{app_id_or_name}/collaborators",
    response_model=list[CollaboratorOut],
    openapi_extra=ranged(SORT),
)
async def list_collaborators(request: Request, on: ViewApp) -> Response:
    return await paged(
        request,
        on.db,
        service.collaborators_of(on.app),
        SORT,
        CollaboratorOut,
        lambda rows: [CollaboratorOut.of(c, a, on.app, r) for _, c, a, r in rows],
    )


@router.get(
    "/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}",
    response_model=CollaboratorOut,
)
async def info(collaborator_email_or_id: str, on: ViewApp) -> Response:
    collaborator, user, role = await service.get_collaborator(
        on.db, on.app, collaborator_email_or_id
    )
    return model_response(CollaboratorOut.of(collaborator, user, on.app, role))


@router.delete(
    "/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}",
    response_model=CollaboratorOut,
)
async def delete(
    collaborator_email_or_id: str, on: Annotated[OnApp, deciding("access:edit")]
) -> Response:
    collaborator, user, role = await service.remove_collaborator(
        on.db, on.app, on.caller.account, on.access, collaborator_email_or_id
    )
    return model_response(CollaboratorOut.of(collaborator, user, on.app, role))

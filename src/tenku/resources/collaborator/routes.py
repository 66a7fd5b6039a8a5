from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Account, Collaborator
from tenku.resources.app.access import OnApp, on_app
from tenku.resources.collaborator import service
from tenku.resources.collaborator.schemas import CollaboratorCreate, CollaboratorOut
from tenku.web.deps import TransactionRoute, body
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = {"email": field(Account.email), "id": field(Collaborator.id)}


@router.post("/apps/{app_id_or_name}/collaborators")
async def create(
    on: OnApp = on_app("app:write", need="owner"),
    params: CollaboratorCreate = body(CollaboratorCreate),
) -> Response:
    app = on.app
    db = on.db
    caller = on.caller
    collaborator, user = await service.add_collaborator(db, app, caller.account, params.user)
    return model_response(CollaboratorOut.of(collaborator, user, app), status=201)


@router.get("/apps/{app_id_or_name}/collaborators")
async def list_collaborators(
    request: Request,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    page = await paginate(db, request, service.collaborators_of(app.id), SORT, Collaborator.id)
    items = [CollaboratorOut.of(c, a, app) for _, c, a in page.rows]
    return list_response(CollaboratorOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}")
async def info(
    collaborator_email_or_id: str,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    collaborator, user = await service.get_collaborator(db, app.id, collaborator_email_or_id)
    return model_response(CollaboratorOut.of(collaborator, user, app))


@router.delete("/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}")
async def delete(
    collaborator_email_or_id: str,
    on: OnApp = on_app("app:write"),
) -> Response:
    app = on.app
    db = on.db
    caller = on.caller
    collaborator, user = await service.remove_collaborator(
        db, app, caller.account, collaborator_email_or_id
    )
    return model_response(CollaboratorOut.of(collaborator, user, app))

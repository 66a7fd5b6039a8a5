from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Account, Collaborator
from tenku.resources.app.service import get_app
from tenku.resources.collaborator import service
from tenku.resources.collaborator.schemas import CollaboratorCreate, CollaboratorOut
from tenku.web.deps import Principal, TransactionRoute, body, get_db, scoped
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = {"email": field(Account.email), "id": field(Collaborator.id)}


@router.post("/apps/{app_id_or_name}/collaborators")
async def create(
    app_id_or_name: str,
    caller: Principal = scoped("app:write"),
    params: CollaboratorCreate = body(CollaboratorCreate),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name, need="owner")
    collaborator, user = await service.add_collaborator(db, app, caller.account, params.user)
    return model_response(CollaboratorOut.of(collaborator, user, app), status=201)


@router.get("/apps/{app_id_or_name}/collaborators")
async def list_collaborators(
    request: Request,
    app_id_or_name: str,
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    page = await paginate(db, request, service.collaborators_of(app.id), SORT, Collaborator.id)
    items = [CollaboratorOut.of(c, a, app) for _, c, a in page.rows]
    return list_response(CollaboratorOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}")
async def info(
    app_id_or_name: str,
    collaborator_email_or_id: str,
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    collaborator, user = await service.get_collaborator(db, app.id, collaborator_email_or_id)
    return model_response(CollaboratorOut.of(collaborator, user, app))


@router.delete("/apps/{app_id_or_name}/collaborators/{collaborator_email_or_id}")
async def delete(
    app_id_or_name: str,
    collaborator_email_or_id: str,
    caller: Principal = scoped("app:write"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    collaborator, user = await service.remove_collaborator(
        db, app, caller.account, collaborator_email_or_id
    )
    return model_response(CollaboratorOut.of(collaborator, user, app))

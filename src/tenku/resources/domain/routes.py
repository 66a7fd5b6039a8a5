from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Domain
from tenku.resources.app.service import get_app
from tenku.resources.domain import service
from tenku.resources.domain.schemas import DomainCreate, DomainOut
from tenku.web.deps import Principal, TransactionRoute, app_context, body, get_db, scoped
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = {"hostname": field(Domain.hostname), "id": field(Domain.id)}


@router.post("/apps/{app_id_or_name}/domains")
async def create(
    request: Request,
    app_id_or_name: str,
    caller: Principal = scoped("app:write"),
    params: DomainCreate = body(DomainCreate),
    db: AsyncSession = Depends(get_db),
) -> Response:
    settings = app_context(request).settings
    app = await get_app(db, caller, app_id_or_name, need="write")
    domain = await service.add_domain(db, app, params, settings)
    return model_response(DomainOut.of(domain, app, settings), status=201)


@router.get("/apps/{app_id_or_name}/domains")
async def list_domains(
    request: Request,
    app_id_or_name: str,
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    page = await paginate(db, request, service.domains_of(app.id), SORT, Domain.id)
    settings = app_context(request).settings
    items = [DomainOut.of(d, app, settings) for (d,) in page.rows]
    return list_response(DomainOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/domains/{domain_id_or_hostname}")
async def info(
    request: Request,
    app_id_or_name: str,
    domain_id_or_hostname: str,
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    domain = await service.get_domain(db, app.id, domain_id_or_hostname)
    return model_response(DomainOut.of(domain, app, app_context(request).settings))


@router.delete("/apps/{app_id_or_name}/domains/{domain_id_or_hostname}")
async def delete(
    request: Request,
    app_id_or_name: str,
    domain_id_or_hostname: str,
    caller: Principal = scoped("app:write"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name, need="write")
    domain = await service.remove_domain(db, app, domain_id_or_hostname)
    return model_response(DomainOut.of(domain, app, app_context(request).settings))

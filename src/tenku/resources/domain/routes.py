from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Domain
from tenku.resources.app.access import OnApp, on_app
from tenku.resources.domain import service
from tenku.resources.domain.schemas import DomainCreate, DomainOut
from tenku.web.deps import TransactionRoute, app_context, body
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = {"hostname": field(Domain.hostname), "id": field(Domain.id)}


@router.post("/apps/{app_id_or_name}/domains")
async def create(
    request: Request,
    on: OnApp = on_app("app:write", need="write"),
    params: DomainCreate = body(DomainCreate),
) -> Response:
    settings = app_context(request).settings
    app = on.app
    db = on.db
    domain = await service.add_domain(db, app, params, settings)
    return model_response(DomainOut.of(domain, app, settings), status=201)


@router.get("/apps/{app_id_or_name}/domains")
async def list_domains(
    request: Request,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    page = await paginate(db, request, service.domains_of(app.id), SORT, Domain.id)
    settings = app_context(request).settings
    items = [DomainOut.of(d, app, settings) for (d,) in page.rows]
    return list_response(DomainOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/domains/{domain_id_or_hostname}")
async def info(
    request: Request,
    domain_id_or_hostname: str,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    domain = await service.get_domain(db, app.id, domain_id_or_hostname)
    return model_response(DomainOut.of(domain, app, app_context(request).settings))


@router.delete("/apps/{app_id_or_name}/domains/{domain_id_or_hostname}")
async def delete(
    request: Request,
    domain_id_or_hostname: str,
    on: OnApp = on_app("app:write", need="write"),
) -> Response:
    app = on.app
    db = on.db
    domain = await service.remove_domain(db, app, domain_id_or_hostname)
    return model_response(DomainOut.of(domain, app, app_context(request).settings))

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Domain
from tenku.resources.app.access import OnApp, reading, writing
from tenku.resources.domain import service
from tenku.resources.domain.schemas import DomainCreate, DomainOut, DomainUpdate
from tenku.web.deps import Context, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Domain.id, Domain.hostname)


@router.post("/apps/{app_id_or_name}/domains", response_model=DomainOut, status_code=201)
async def create(
    on: Annotated[OnApp, writing("domains:edit")],
    ctx: Context,
    params: DomainCreate = body(DomainCreate),
) -> Response:
    domain = await service.add_domain(on.db, on.app, params, ctx.settings)
    endpoint = await service.endpoint_of(on.db, domain)
    return model_response(DomainOut.of(domain, on.app, ctx.settings, endpoint), status=201)


@router.get(
    "/apps/{app_id_or_name}/domains", response_model=list[DomainOut], openapi_extra=ranged(SORT)
)
async def list_domains(
    request: Request, on: Annotated[OnApp, reading("domains:view")], ctx: Context
) -> Response:
    async def render(domains: list[Domain]) -> list[DomainOut]:
        endpoints = await service.endpoints_by_id(on.db, on.app.id)
        return [
            DomainOut.of(
                d,
                on.app,
                ctx.settings,
                endpoints.get(d.sni_endpoint_id) if d.sni_endpoint_id else None,
            )
            for d in domains
        ]

    return await paged(request, on.db, service.domains_of(on.app.id), SORT, DomainOut, render)


@router.get("/apps/{app_id_or_name}/domains/{domain_id_or_hostname}", response_model=DomainOut)
async def info(
    domain_id_or_hostname: str, on: Annotated[OnApp, reading("domains:view")], ctx: Context
) -> Response:
    domain = await service.get_domain(on.db, on.app.id, domain_id_or_hostname)
    endpoint = await service.endpoint_of(on.db, domain)
    return model_response(DomainOut.of(domain, on.app, ctx.settings, endpoint))


@router.patch(
    "/apps/{app_id_or_name}/domains/{domain_id_or_hostname}",
    response_model=DomainOut,
    summary="Update",
)
async def update(
    domain_id_or_hostname: str,
    on: Annotated[OnApp, writing("domains:edit")],
    ctx: Context,
    params: DomainUpdate = body(DomainUpdate),
) -> Response:
    """Associate an SNI endpoint."""
    domain, endpoint = await service.associate(
        on.db, on.app, domain_id_or_hostname, params.sni_endpoint
    )
    return model_response(DomainOut.of(domain, on.app, ctx.settings, endpoint))


@router.delete("/apps/{app_id_or_name}/domains/{domain_id_or_hostname}", response_model=DomainOut)
async def delete(
    domain_id_or_hostname: str, on: Annotated[OnApp, writing("domains:edit")], ctx: Context
) -> Response:
    domain = await service.remove_domain(on.db, on.app, domain_id_or_hostname)
    endpoint = await service.endpoint_of(on.db, domain)
    return model_response(DomainOut.of(domain, on.app, ctx.settings, endpoint))

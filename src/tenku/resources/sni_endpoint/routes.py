"""SNI endpoints: certificates an app serves its custom domains with, chosen by SNI.

The reference documents them as SSL endpoints (`/apps/{app}/ssl-endpoints`); the CLI
uses today's name (`/apps/{app}/sni-endpoints`). Both paths serve the same rows with the
same bodies.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import SniEndpoint
from tenku.resources.app.access import OnApp, reading, writing
from tenku.resources.sni_endpoint import service
from tenku.resources.sni_endpoint.schemas import EndpointCreate, EndpointOut, EndpointUpdate
from tenku.web.context import AppContext
from tenku.web.deps import Context, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(SniEndpoint.id, SniEndpoint.name)
SSL = "/apps/{app_id_or_name}/ssl-endpoints"
SNI = "/apps/{app_id_or_name}/sni-endpoints"
Viewing = Annotated[OnApp, reading("domains:view")]
Editing = Annotated[OnApp, writing("domains:edit")]


async def _body(on: OnApp, ctx: AppContext, endpoint: SniEndpoint) -> EndpointOut:
    domains = await service.domains_using(on.db, [endpoint.id])
    return EndpointOut.of(endpoint, on.app, domains.get(endpoint.id, []), ctx.settings)


async def _one(on: OnApp, ctx: AppContext, endpoint: SniEndpoint, status: int = 200) -> Response:
    return model_response(await _body(on, ctx, endpoint), status=status)


async def _create(on: OnApp, ctx: AppContext, params: EndpointCreate) -> Response:
    endpoint = await service.add_endpoint(on.db, on.app, params, ctx.sealer)
    return await _one(on, ctx, endpoint, status=201)


async def _list(request: Request, on: OnApp, ctx: AppContext) -> Response:
    async def render(rows: list[SniEndpoint]) -> list[EndpointOut]:
        domains = await service.domains_using(on.db, [e.id for e in rows])
        return [EndpointOut.of(e, on.app, domains.get(e.id, []), ctx.settings) for e in rows]

    return await paged(request, on.db, service.endpoints_of(on.app.id), SORT, EndpointOut, render)


async def _info(on: OnApp, ctx: AppContext, ident: str) -> Response:
    return await _one(on, ctx, await service.get_endpoint(on.db, on.app.id, ident))


async def _update(on: OnApp, ctx: AppContext, ident: str, params: EndpointUpdate) -> Response:
    endpoint = await service.update_endpoint(on.db, on.app, ident, params, ctx.sealer)
    return await _one(on, ctx, endpoint)


async def _delete(on: OnApp, ctx: AppContext, ident: str) -> Response:
    endpoint = await service.get_endpoint(on.db, on.app.id, ident)
    # The body shows the domains that used it until now.
    body = await _body(on, ctx, endpoint)
    await service.remove_endpoint(on.db, endpoint)
    return model_response(body)


# The reference's paths.


@router.post(SSL, response_model=EndpointOut, status_code=201)
async def create(
    on: Editing, ctx: Context, params: EndpointCreate = body(EndpointCreate)
) -> Response:
    return await _create(on, ctx, params)


@router.get(SSL, response_model=list[EndpointOut], openapi_extra=ranged(SORT))
async def list_endpoints(request: Request, on: Viewing, ctx: Context) -> Response:
    return await _list(request, on, ctx)


@router.get(SSL + "/{ssl_endpoint_id_or_name}", response_model=EndpointOut)
async def info(ssl_endpoint_id_or_name: str, on: Viewing, ctx: Context) -> Response:
    return await _info(on, ctx, ssl_endpoint_id_or_name)


@router.patch(SSL + "/{ssl_endpoint_id_or_name}", response_model=EndpointOut)
async def update(
    ssl_endpoint_id_or_name: str,
    on: Editing,
    ctx: Context,
    params: EndpointUpdate = body(EndpointUpdate),
) -> Response:
    return await _update(on, ctx, ssl_endpoint_id_or_name, params)


@router.delete(SSL + "/{ssl_endpoint_id_or_name}", response_model=EndpointOut)
async def delete(ssl_endpoint_id_or_name: str, on: Editing, ctx: Context) -> Response:
    return await _delete(on, ctx, ssl_endpoint_id_or_name)


# The CLI's paths (certs:*, domains:add).


@router.post(SNI, response_model=EndpointOut, status_code=201, summary="Create")
async def create_sni(
    on: Editing, ctx: Context, params: EndpointCreate = body(EndpointCreate)
) -> Response:
    """Create a new SNI endpoint."""
    return await _create(on, ctx, params)


@router.get(SNI, response_model=list[EndpointOut], openapi_extra=ranged(SORT), summary="List")
async def list_sni(request: Request, on: Viewing, ctx: Context) -> Response:
    """List existing SNI endpoints."""
    return await _list(request, on, ctx)


@router.get(SNI + "/{sni_endpoint_id_or_name}", response_model=EndpointOut, summary="Info")
async def info_sni(sni_endpoint_id_or_name: str, on: Viewing, ctx: Context) -> Response:
    """Info for existing SNI endpoint."""
    return await _info(on, ctx, sni_endpoint_id_or_name)


@router.patch(SNI + "/{sni_endpoint_id_or_name}", response_model=EndpointOut, summary="Update")
async def update_sni(
    sni_endpoint_id_or_name: str,
    on: Editing,
    ctx: Context,
    params: EndpointUpdate = body(EndpointUpdate),
) -> Response:
    """Update an existing SNI endpoint."""
    return await _update(on, ctx, sni_endpoint_id_or_name, params)


@router.delete(SNI + "/{sni_endpoint_id_or_name}", response_model=EndpointOut, summary="Delete")
async def delete_sni(sni_endpoint_id_or_name: str, on: Editing, ctx: Context) -> Response:
    """Delete existing SNI endpoint."""
    return await _delete(on, ctx, sni_endpoint_id_or_name)

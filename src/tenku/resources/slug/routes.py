from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, reading, writing
from tenku.resources.slug import service
from tenku.resources.slug.schemas import SlugCreate, SlugOut
from tenku.storage.urls import blob_url, slug_subject
from tenku.web.deps import Context, TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.post("/apps/{app_id_or_name}/slugs", response_model=SlugOut, status_code=201)
async def create(
    request: Request,
    on: Annotated[OnApp, writing("code:push")],
    ctx: Context,
    params: SlugCreate = body(SlugCreate),
) -> Response:
    slug = await service.create_slug(on.db, on.app, params)
    url = blob_url(ctx.settings, ctx.signer, slug_subject(slug.id), "PUT", request=request)
    return model_response(SlugOut.of(slug, "put", url), status=201)


@router.get("/apps/{app_id_or_name}/slugs/{slug_id}", response_model=SlugOut)
async def info(
    request: Request,
    slug_id: str,
    on: Annotated[OnApp, reading("code:fetch")],
    ctx: Context,
) -> Response:
    # The slug's URL downloads the app's code.
    slug = await service.get_slug(on.db, on.app, slug_id)
    url = blob_url(ctx.settings, ctx.signer, slug_subject(slug.id), "GET", request=request)
    return model_response(SlugOut.of(slug, "get", url))

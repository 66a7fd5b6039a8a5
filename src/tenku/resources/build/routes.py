from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.liveness import live_runners
from tenku.db.models import Build
from tenku.resources.app.access import OnApp, ViewApp, writing
from tenku.resources.build import service, streams
from tenku.resources.build.schemas import BuildCreate, BuildOut
from tenku.storage.urls import base_url
from tenku.web.context import AppContext
from tenku.web.deps import Context, TransactionRoute, body
from tenku.web.lists import paged, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
# The output stream a build points at; it authenticates by its token, not the caller's.
router.include_router(streams.router)


def render(
    request: Request, ctx: AppContext, build: Build, reader: uuid.UUID, live: frozenset[str]
) -> BuildOut:
    url = base_url(ctx.settings, request) + service.stream_path(ctx.signer, build.id, reader)
    return BuildOut.of(build, url, live)


@router.post("/apps/{app_id_or_name}/builds", response_model=BuildOut, status_code=201)
async def create(
    request: Request,
    on: Annotated[OnApp, writing("code:push")],
    ctx: Context,
    params: BuildCreate = body(BuildCreate),
) -> Response:
    # The transaction's commit nudges the runtime, which claims the build.
    build = await service.create_build(on.db, ctx.settings, on.app, on.caller.account, params)
    return model_response(
        render(request, ctx, build, on.caller.account.id, frozenset()), status=201
    )


@router.get(
    "/apps/{app_id_or_name}/builds",
    response_model=list[BuildOut],
    openapi_extra=ranged(service.SORT),
)
async def list_builds(request: Request, on: ViewApp, ctx: Context) -> Response:
    live = await live_runners(on.db, ctx.settings.runtime_heartbeat)
    return await paged(
        request,
        on.db,
        service.builds_of(on.app.id),
        service.SORT,
        BuildOut,
        lambda builds: [render(request, ctx, b, on.caller.account.id, live) for b in builds],
    )


@router.get("/apps/{app_id_or_name}/builds/{build_id}", response_model=BuildOut)
async def info(request: Request, build_id: str, on: ViewApp, ctx: Context) -> Response:
    build = await service.get_build(on.db, on.app, build_id)
    live = await live_runners(on.db, ctx.settings.runtime_heartbeat)
    return model_response(render(request, ctx, build, on.caller.account.id, live))

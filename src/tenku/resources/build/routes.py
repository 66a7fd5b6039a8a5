from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Build
from tenku.nudge import nudge
from tenku.resources.app.access import OnApp, on_app
from tenku.resources.build import service, streams
from tenku.resources.build.schemas import BuildCreate, BuildOut
from tenku.storage.urls import base_url
from tenku.web.deps import TransactionRoute, after_commit, app_context, body
from tenku.web.ranges import paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
# The output stream a build points at; it authenticates by its token, not the caller's.
router.include_router(streams.router)


def render(request: Request, build: Build) -> BuildOut:
    ctx = app_context(request)
    url = base_url(ctx.settings, request) + service.stream_path(ctx.signer, build.id)
    return BuildOut.of(build, url)


@router.post("/apps/{app_id_or_name}/builds")
async def create(
    request: Request,
    on: OnApp = on_app("app:write", need="write"),
    params: BuildCreate = body(BuildCreate),
) -> Response:
    settings = app_context(request).settings
    build = await service.create_build(on.db, settings, on.app, on.caller.account, params)

    async def wake_runtime() -> None:
        nudge(settings)

    after_commit(request, wake_runtime)
    return model_response(render(request, build), status=201)


@router.get("/apps/{app_id_or_name}/builds")
async def list_builds(request: Request, on: OnApp = on_app("app:read")) -> Response:
    # Build ids are random: the time they were requested is the natural order.
    page = await paginate(
        on.db, request, service.builds_of(on.app.id), service.SORT, Build.id, "started_at"
    )
    items = [render(request, b) for (b,) in page.rows]
    return list_response(BuildOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/builds/{build_id}")
async def info(request: Request, build_id: str, on: OnApp = on_app("app:read")) -> Response:
    build = await service.get_build(on.db, on.app, build_id)
    return model_response(render(request, build))

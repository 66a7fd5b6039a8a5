from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.liveness import live_runners
from tenku.resources.app.access import ViewApp
from tenku.resources.build import service
from tenku.resources.build.output import all_lines
from tenku.resources.build.routes import render
from tenku.resources.build_result.schemas import BuildResultOut, ResultBuild, ResultLine
from tenku.web.deps import Context, TransactionRoute
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/builds/{build_id}/result", response_model=BuildResultOut)
async def info(request: Request, build_id: str, on: ViewApp, ctx: Context) -> Response:
    build = await service.get_build(on.db, on.app, build_id)
    lines = await all_lines(on.db, build.id)
    live = await live_runners(on.db, ctx.settings.runtime_heartbeat)
    shown = render(request, ctx, build, on.caller.account.id, live)
    return model_response(
        BuildResultOut(
            build=ResultBuild(
                id=build.id, status=shown.status, output_stream_url=shown.output_stream_url
            ),
            exit_code=build.exit_code,
            lines=[ResultLine(line=text, stream=stream) for stream, text in lines],
        )
    )

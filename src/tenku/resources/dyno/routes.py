from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.liveness import live_runners
from tenku.resources.app.access import OnApp, reading, writing
from tenku.resources.common import Accepted
from tenku.resources.dyno import service
from tenku.resources.dyno.schemas import DynoCreate, DynoOut
from tenku.web.deps import Context, TransactionRoute, body
from tenku.web.lists import paged, ranged
from tenku.web.render import model_response, raw_json

router = APIRouter(route_class=TransactionRoute)


@router.get(
    "/apps/{app_id_or_name}/dynos", response_model=list[DynoOut], openapi_extra=ranged(service.SORT)
)
async def list_dynos(
    request: Request, on: Annotated[OnApp, reading("dynos:view")], ctx: Context
) -> Response:
    live = await live_runners(on.db, ctx.settings.runtime_heartbeat)
    return await paged(
        request,
        on.db,
        service.dynos_of(on.app.id),
        service.SORT,
        DynoOut,
        lambda dynos: [DynoOut.of(row, on.app, live) for row in dynos],
    )


@router.get("/apps/{app_id_or_name}/dynos/{dyno_id_or_name}", response_model=DynoOut)
async def info(
    dyno_id_or_name: str, on: Annotated[OnApp, reading("dynos:view")], ctx: Context
) -> Response:
    dyno = await service.get_dyno(on.db, on.app, dyno_id_or_name)
    live = await live_runners(on.db, ctx.settings.runtime_heartbeat)
    return model_response(DynoOut.of(dyno, on.app, live))


@router.post("/apps/{app_id_or_name}/dynos", response_model=DynoOut, status_code=201)
async def create(
    on: Annotated[OnApp, writing("dynos:run")], ctx: Context, params: DynoCreate = body(DynoCreate)
) -> Response:
    created = await service.create_dyno(on.db, ctx.settings, on.app, on.caller.account, params)
    return model_response(
        DynoOut.of(created.dyno, on.app, frozenset(), created.attach_url), status=201
    )


@router.delete("/apps/{app_id_or_name}/dynos", response_model=Accepted, status_code=202)
async def restart_all(on: Annotated[OnApp, writing("dynos:restart")]) -> Response:
    await service.restart_all(on.db, on.app)
    return raw_json({}, 202)


@router.delete(
    "/apps/{app_id_or_name}/dynos/{dyno_id_or_name}", response_model=Accepted, status_code=202
)
async def restart(dyno_id_or_name: str, on: Annotated[OnApp, writing("dynos:restart")]) -> Response:
    await service.restart(on.db, on.app, dyno_id_or_name)
    return raw_json({}, 202)


@router.post(
    "/apps/{app_id_or_name}/dynos/{dyno_id_or_name}/actions/stop",
    response_model=Accepted,
    status_code=202,
)
async def stop(dyno_id_or_name: str, on: Annotated[OnApp, writing("dynos:restart")]) -> Response:
    """Stop a dyno, or every dyno of a process type named instead (`ps:stop`)."""
    await service.stop(on.db, on.app, dyno_id_or_name)
    return raw_json({}, 202)


# `ps:restart --process-type` and `ps:stop --process-type` (plural "formations").
@router.delete(
    "/apps/{app_id_or_name}/formations/{formation_type}", response_model=Accepted, status_code=202
)
async def restart_formation(
    formation_type: str, on: Annotated[OnApp, writing("dynos:restart")]
) -> Response:
    """Restart every dyno of a process type (`ps:restart --process-type`)."""
    await service.restart_formation(on.db, on.app, formation_type)
    return raw_json({}, 202)


@router.post(
    "/apps/{app_id_or_name}/formations/{formation_type}/actions/stop",
    response_model=Accepted,
    status_code=202,
)
async def stop_formation(
    formation_type: str, on: Annotated[OnApp, writing("dynos:restart")]
) -> Response:
    """Stop every dyno of a process type (`ps:stop --process-type`)."""
    await service.stop_formation(on.db, on.app, formation_type)
    return raw_json({}, 202)

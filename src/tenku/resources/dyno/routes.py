from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Dyno
from tenku.resources.app.access import OnApp, on_app
from tenku.resources.dyno import service
from tenku.resources.dyno.schemas import DynoCreate, DynoOut
from tenku.web.deps import TransactionRoute, app_context, body
from tenku.web.ranges import paginate
from tenku.web.render import list_response, model_response, raw_json

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/dynos")
async def list_dynos(request: Request, on: OnApp = on_app("app:read")) -> Response:
    # `ps` groups dynos by name, so names are the natural order.
    page = await paginate(
        on.db, request, service.dynos_of(on.app.id), service.SORT, Dyno.id, "name"
    )
    items = [DynoOut.of(row, on.app) for (row,) in page.rows]
    return list_response(DynoOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/dynos/{dyno_id_or_name}")
async def info(dyno_id_or_name: str, on: OnApp = on_app("app:read")) -> Response:
    dyno = await service.get_dyno(on.db, on.app, dyno_id_or_name)
    return model_response(DynoOut.of(dyno, on.app))


@router.post("/apps/{app_id_or_name}/dynos")
async def create(
    request: Request,
    on: OnApp = on_app("app:write", need="write"),
    params: DynoCreate = body(DynoCreate),
) -> Response:
    settings = app_context(request).settings
    created = await service.create_dyno(on.db, settings, on.app, on.caller.account, params)
    return model_response(DynoOut.of(created.dyno, on.app, created.attach_url), status=201)


@router.delete("/apps/{app_id_or_name}/dynos")
async def restart_all(on: OnApp = on_app("app:write", need="write")) -> Response:
    await service.restart_all(on.db, on.app)
    return raw_json({}, 202)


@router.delete("/apps/{app_id_or_name}/dynos/{dyno_id_or_name}")
async def restart(dyno_id_or_name: str, on: OnApp = on_app("app:write", need="write")) -> Response:
    await service.restart(on.db, on.app, dyno_id_or_name)
    return raw_json({}, 202)


@router.post("/apps/{app_id_or_name}/dynos/{dyno_id_or_name}/actions/stop")
async def stop(dyno_id_or_name: str, on: OnApp = on_app("app:write", need="write")) -> Response:
    await service.stop(on.db, on.app, dyno_id_or_name)
    return raw_json({}, 202)


# `ps:restart --process-type` and `ps:stop --process-type` (plural "formations").
@router.delete("/apps/{app_id_or_name}/formations/{formation_type}")
async def restart_formation(
    formation_type: str, on: OnApp = on_app("app:write", need="write")
) -> Response:
    await service.restart_formation(on.db, on.app, formation_type)
    return raw_json({}, 202)


@router.post("/apps/{app_id_or_name}/formations/{formation_type}/actions/stop")
async def stop_formation(
    formation_type: str, on: OnApp = on_app("app:write", need="write")
) -> Response:
    await service.stop_formation(on.db, on.app, formation_type)
    return raw_json({}, 202)

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Formation
from tenku.resources.app.access import OnApp, on_app
from tenku.resources.formation import service
from tenku.resources.formation.schemas import (
    FormationBatch,
    FormationChange,
    FormationOut,
    FormationUpdate,
)
from tenku.web.deps import TransactionRoute, body
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = {"id": field(Formation.id), "type": field(Formation.type)}


@router.get("/apps/{app_id_or_name}/formation")
async def list_formation(
    request: Request,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    page = await paginate(db, request, service.formation_of(app.id), SORT, Formation.id)
    items = [FormationOut.of(row, app) for (row,) in page.rows]
    return list_response(FormationOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/formation/{formation_id_or_type}")
async def info(
    formation_id_or_type: str,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    row = await service.get_formation(db, app, formation_id_or_type)
    return model_response(FormationOut.of(row, app))


@router.patch("/apps/{app_id_or_name}/formation")
async def batch_update(
    on: OnApp = on_app("app:write", need="write"),
    params: FormationBatch = body(FormationBatch),
) -> Response:
    app = on.app
    db = on.db
    rows = await service.update_formation(db, app, on.caller.account, params.updates)
    return list_response(FormationOut, [FormationOut.of(row, app) for row in rows])


@router.patch("/apps/{app_id_or_name}/formation/{formation_id_or_type}")
async def update(
    formation_id_or_type: str,
    on: OnApp = on_app("app:write", need="write"),
    params: FormationUpdate = body(FormationUpdate),
) -> Response:
    app = on.app
    db = on.db
    change = FormationChange(type=formation_id_or_type, **params.model_dump())
    (row,) = await service.update_formation(db, app, on.caller.account, [change])
    return model_response(FormationOut.of(row, app))

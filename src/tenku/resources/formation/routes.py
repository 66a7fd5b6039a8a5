from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Formation
from tenku.resources.app.access import OnApp, reading, writing
from tenku.resources.formation import service
from tenku.resources.formation.schemas import (
    FormationBatch,
    FormationChange,
    FormationOut,
    FormationUpdate,
)
from tenku.web.deps import TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Formation.id, Formation.type)


@router.get(
    "/apps/{app_id_or_name}/formation",
    response_model=list[FormationOut],
    openapi_extra=ranged(SORT),
)
async def list_formation(request: Request, on: Annotated[OnApp, reading("dynos:view")]) -> Response:
    return await paged(
        request,
        on.db,
        service.formation_of(on.app.id),
        SORT,
        FormationOut,
        lambda rows: [FormationOut.of(row, on.app) for row in rows],
    )


@router.get("/apps/{app_id_or_name}/formation/{formation_id_or_type}", response_model=FormationOut)
async def info(formation_id_or_type: str, on: Annotated[OnApp, reading("dynos:view")]) -> Response:
    row = await service.get_formation(on.db, on.app, formation_id_or_type)
    return model_response(FormationOut.of(row, on.app))


@router.patch("/apps/{app_id_or_name}/formation", response_model=list[FormationOut])
async def batch_update(
    on: Annotated[OnApp, writing("dynos:scale")], params: FormationBatch = body(FormationBatch)
) -> Response:
    rows = await service.update_formation(on.db, on.app, on.caller.account, params.updates)
    return list_response(FormationOut, [FormationOut.of(row, on.app) for row in rows])


@router.patch(
    "/apps/{app_id_or_name}/formation/{formation_id_or_type}", response_model=FormationOut
)
async def update(
    formation_id_or_type: str,
    on: Annotated[OnApp, writing("dynos:scale")],
    params: FormationUpdate = body(FormationUpdate),
) -> Response:
    change = FormationChange(type=formation_id_or_type, **params.model_dump())
    (row,) = await service.update_formation(on.db, on.app, on.caller.account, [change])
    return model_response(FormationOut.of(row, on.app))

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import LogDrain
from tenku.resources.app.access import OnApp, reading, writing
from tenku.resources.log_drain import service
from tenku.resources.log_drain.schemas import LogDrainCreate, LogDrainOut
from tenku.web.deps import TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(LogDrain.id, LogDrain.url)


def _extended(request: Request) -> bool:
    return request.query_params.get("extended", "").lower() == "true"


@router.post("/apps/{app_id_or_name}/log-drains", response_model=LogDrainOut, status_code=201)
async def create(
    on: Annotated[OnApp, writing("drains:edit")], params: LogDrainCreate = body(LogDrainCreate)
) -> Response:
    drain = await service.add_drain(on.db, on.app, params.url)
    return model_response(LogDrainOut.of(drain), status=201)


@router.get(
    "/apps/{app_id_or_name}/log-drains",
    response_model=list[LogDrainOut],
    openapi_extra=ranged(SORT),
)
async def list_drains(request: Request, on: Annotated[OnApp, reading("drains:view")]) -> Response:
    # Drain URLs often embed credentials: only those with a role on the app get here.
    extended = _extended(request)
    return await paged(
        request,
        on.db,
        service.drains_of(on.app.id),
        SORT,
        LogDrainOut,
        lambda drains: [LogDrainOut.of(d, extended) for d in drains],
    )


@router.get(
    "/apps/{app_id_or_name}/log-drains/{log_drain_id_or_url_or_token}", response_model=LogDrainOut
)
async def info(
    request: Request,
    log_drain_id_or_url_or_token: str,
    on: Annotated[OnApp, reading("drains:view")],
) -> Response:
    drain = await service.get_drain(on.db, on.app.id, log_drain_id_or_url_or_token)
    return model_response(LogDrainOut.of(drain, _extended(request)))


@router.delete(
    "/apps/{app_id_or_name}/log-drains/{log_drain_id_or_url_or_token}", response_model=LogDrainOut
)
async def delete(
    log_drain_id_or_url_or_token: str, on: Annotated[OnApp, writing("drains:edit")]
) -> Response:
    drain = await service.remove_drain(on.db, on.app, log_drain_id_or_url_or_token)
    return model_response(LogDrainOut.of(drain))

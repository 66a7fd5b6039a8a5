from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import LogDrain
from tenku.resources.app.service import get_app
from tenku.resources.log_drain import service
from tenku.resources.log_drain.schemas import LogDrainCreate, LogDrainOut
from tenku.web.deps import Principal, TransactionRoute, body, get_db, scoped
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = {"id": field(LogDrain.id), "url": field(LogDrain.url)}


def _extended(request: Request) -> bool:
    return request.query_params.get("extended", "").lower() == "true"


@router.post("/apps/{app_id_or_name}/log-drains")
async def create(
    app_id_or_name: str,
    caller: Principal = scoped("app:write"),
    params: LogDrainCreate = body(LogDrainCreate),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name, need="write")
    drain = await service.add_drain(db, app, params.url)
    return model_response(LogDrainOut.of(drain), status=201)


@router.get("/apps/{app_id_or_name}/log-drains")
async def list_drains(
    request: Request,
    app_id_or_name: str,
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    # Drain URLs often embed credentials; `get_app` lets only the app's owner
    # and collaborators past this point.
    app = await get_app(db, caller, app_id_or_name)
    page = await paginate(db, request, service.drains_of(app.id), SORT, LogDrain.id)
    extended = _extended(request)
    items = [LogDrainOut.of(d, extended) for (d,) in page.rows]
    return list_response(LogDrainOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/log-drains/{log_drain_id_or_url_or_token}")
async def info(
    request: Request,
    app_id_or_name: str,
    log_drain_id_or_url_or_token: str,
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    drain = await service.get_drain(db, app.id, log_drain_id_or_url_or_token)
    return model_response(LogDrainOut.of(drain, _extended(request)))


@router.delete("/apps/{app_id_or_name}/log-drains/{log_drain_id_or_url_or_token}")
async def delete(
    app_id_or_name: str,
    log_drain_id_or_url_or_token: str,
    caller: Principal = scoped("app:write"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name, need="write")
    drain = await service.remove_drain(db, app, log_drain_id_or_url_or_token)
    return model_response(LogDrainOut.of(drain))

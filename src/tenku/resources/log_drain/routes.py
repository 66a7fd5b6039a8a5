from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import LogDrain
from tenku.resources.app.access import OnApp, on_app
from tenku.resources.log_drain import service
from tenku.resources.log_drain.schemas import LogDrainCreate, LogDrainOut
from tenku.web.deps import TransactionRoute, body
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = {"id": field(LogDrain.id), "url": field(LogDrain.url)}


def _extended(request: Request) -> bool:
    return request.query_params.get("extended", "").lower() == "true"


@router.post("/apps/{app_id_or_name}/log-drains")
async def create(
    on: OnApp = on_app("app:write", need="write"),
    params: LogDrainCreate = body(LogDrainCreate),
) -> Response:
    app = on.app
    db = on.db
    drain = await service.add_drain(db, app, params.url)
    return model_response(LogDrainOut.of(drain), status=201)


@router.get("/apps/{app_id_or_name}/log-drains")
async def list_drains(
    request: Request,
    on: OnApp = on_app("app:read"),
) -> Response:
    # Drain URLs often embed credentials; `get_app` lets only the app's owner
    # and collaborators past this point.
    app = on.app
    db = on.db
    page = await paginate(db, request, service.drains_of(app.id), SORT, LogDrain.id)
    extended = _extended(request)
    items = [LogDrainOut.of(d, extended) for (d,) in page.rows]
    return list_response(LogDrainOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/log-drains/{log_drain_id_or_url_or_token}")
async def info(
    request: Request,
    log_drain_id_or_url_or_token: str,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    drain = await service.get_drain(db, app.id, log_drain_id_or_url_or_token)
    return model_response(LogDrainOut.of(drain, _extended(request)))


@router.delete("/apps/{app_id_or_name}/log-drains/{log_drain_id_or_url_or_token}")
async def delete(
    log_drain_id_or_url_or_token: str,
    on: OnApp = on_app("app:write", need="write"),
) -> Response:
    app = on.app
    db = on.db
    drain = await service.remove_drain(db, app, log_drain_id_or_url_or_token)
    return model_response(LogDrainOut.of(drain))

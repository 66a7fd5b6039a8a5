from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.render import render_apps
from tenku.resources.app.service import SORT
from tenku.resources.filter_apps import service
from tenku.resources.filter_apps.schemas import AppFilter, FilteredAppOut
from tenku.web.deps import AppsReader, Context, ReadDb, TransactionRoute, body
from tenku.web.lists import paged, ranged

router = APIRouter(route_class=TransactionRoute)


@router.post("/filters/apps", response_model=list[FilteredAppOut], openapi_extra=ranged(SORT))
async def filter_apps(
    request: Request,
    caller: AppsReader,
    db: ReadDb,
    ctx: Context,
    params: AppFilter = body(AppFilter),
) -> Response:
    stmt = service.filtered_apps(caller.account.id, params.in_.id)
    return await paged(
        request,
        db,
        stmt,
        SORT,
        FilteredAppOut,
        lambda apps: render_apps(db, apps, ctx.settings, FilteredAppOut),
    )

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import App
from tenku.resources.app.service import SORT
from tenku.resources.filter_apps import service
from tenku.resources.filter_apps.schemas import AppFilter, FilteredAppOut
from tenku.web.deps import Principal, TransactionRoute, app_context, body, get_read_db, scoped
from tenku.web.ranges import paginate
from tenku.web.render import list_response

router = APIRouter(route_class=TransactionRoute)


@router.post("/filters/apps")
async def filter_apps(
    request: Request,
    caller: Principal = scoped("app:read"),
    params: AppFilter = body(AppFilter),
    db: AsyncSession = Depends(get_read_db),
) -> Response:
    stmt = service.filtered_apps(caller.account.id, params.in_.id)
    page = await paginate(db, request, stmt, SORT, App.id)
    settings = app_context(request).settings
    items = [FilteredAppOut.of(app, email, settings) for app, email in page.rows]
    return list_response(FilteredAppOut, items, page.status, page.headers)

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import App
from tenku.resources.account.service import resolve_self
from tenku.resources.addon.flows import before_app_delete
from tenku.resources.app import service
from tenku.resources.app.access import OnApp, on_app
from tenku.resources.app.schemas import AppCreate, AppOut, AppUpdate
from tenku.web.deps import Principal, TransactionRoute, app_context, body, get_db, scoped
from tenku.web.ranges import paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)


@router.post("/apps")
async def create(
    request: Request,
    caller: Principal = scoped("app:write"),
    params: AppCreate = body(AppCreate),
    db: AsyncSession = Depends(get_db),
) -> Response:
    settings = app_context(request).settings
    app = await service.create_app(db, caller.account, params, settings)
    return model_response(AppOut.of(app, caller.account.email, settings), status=201)


@router.get("/apps")
@router.get("/users/{account_email_or_id_or_self}/apps")
async def list_apps(
    request: Request,
    account_email_or_id_or_self: str = "~",
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    account = await resolve_self(db, caller.account, account_email_or_id_or_self)
    page = await paginate(db, request, service.visible_apps(account.id), service.SORT, App.id)
    settings = app_context(request).settings
    items = [AppOut.of(app, email, settings) for app, email in page.rows]
    return list_response(AppOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}")
async def info(
    request: Request,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    email = await service.owner_email(db, app)
    return model_response(AppOut.of(app, email, app_context(request).settings))


@router.patch("/apps/{app_id_or_name}")
async def update(
    request: Request,
    on: OnApp = on_app("app:write", need="write"),
    changes: AppUpdate = body(AppUpdate),
) -> Response:
    settings = app_context(request).settings
    app = on.app
    db = on.db
    caller = on.caller
    app = await service.update_app(db, caller, app, changes, settings)
    email = await service.owner_email(db, app)
    return model_response(AppOut.of(app, email, settings))


@router.delete("/apps/{app_id_or_name}")
async def delete(
    request: Request,
    on: OnApp = on_app("app:write", need="owner"),
) -> Response:
    app = on.app
    db = on.db
    out = AppOut.of(app, await service.owner_email(db, app), app_context(request).settings)
    await before_app_delete(request, db, app)
    await service.delete_app(db, app)
    return model_response(out)

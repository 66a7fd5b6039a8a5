from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.account.service import resolve_self
from tenku.resources.addon.flows import before_app_delete
from tenku.resources.app import service
from tenku.resources.app.access import OnApp, ViewAppColumns, deciding, writing
from tenku.resources.app.render import app_list, render_app
from tenku.resources.app.schemas import AppCreate, AppOut, AppUpdate
from tenku.web.deps import AppsReader, AppsWriter, Context, Db, Reader, TransactionRoute, body
from tenku.web.lists import paged, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.post("/apps", response_model=AppOut, status_code=201)
async def create(
    caller: AppsWriter, db: Db, ctx: Context, params: AppCreate = body(AppCreate)
) -> Response:
    app = await service.create_app(db, caller.account, params, ctx.settings)
    out = await render_app(db, app, ctx.settings, caller.account)
    return model_response(out, status=201)


@router.get("/apps", response_model=list[AppOut], openapi_extra=ranged(service.SORT))
async def list_apps(request: Request, caller: AppsReader, reads: Reader, ctx: Context) -> Response:
    """Every app the caller may see, team apps included (`heroku apps --all`)."""
    return await paged(
        request,
        reads,
        service.VISIBLE_APP_PAGES,
        service.SORT,
        AppOut,
        lambda rows: app_list(reads, rows, ctx.settings, known=caller.known),
        params={service.ACCOUNT: caller.known.id},
    )


@router.get(
    "/users/{account_email_or_id_or_self}/apps",
    response_model=list[AppOut],
    openapi_extra=ranged(service.SORT),
)
async def list_user_apps(
    request: Request,
    caller: AppsReader,
    db: Db,
    ctx: Context,
    account_email_or_id_or_self: str,
) -> Response:
    """Owned and collaborated apps, team apps left out (`heroku apps`), as the reference
    says."""
    account = await resolve_self(db, caller.account, account_email_or_id_or_self)
    return await paged(
        request,
        db,
        service.PERSONAL_APP_PAGES,
        service.SORT,
        AppOut,
        lambda rows: app_list(db, rows, ctx.settings, known=caller.known),
        params={service.ACCOUNT: account.id},
    )


@router.get("/apps/{app_id_or_name}", response_model=AppOut)
async def info(on: ViewAppColumns, ctx: Context) -> Response:
    return model_response(await render_app(on.reads, on.app, ctx.settings, on.caller.known))


@router.patch("/apps/{app_id_or_name}", response_model=AppOut)
async def update(
    on: Annotated[OnApp, deciding("app:rename", "maintenance:edit", "stack:migrate")],
    ctx: Context,
    changes: AppUpdate = body(AppUpdate),
) -> Response:
    app = await service.update_app(on.db, on.access, on.app, changes, ctx.settings)
    return model_response(await render_app(on.db, app, ctx.settings, on.caller.account))


@router.delete("/apps/{app_id_or_name}", response_model=AppOut)
async def delete(
    request: Request, on: Annotated[OnApp, writing("app:delete")], ctx: Context
) -> Response:
    out = await render_app(on.db, on.app, ctx.settings)
    await before_app_delete(request, on.db, on.app)
    await service.delete_app(on.db, on.app)
    return model_response(out)

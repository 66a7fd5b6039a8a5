from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app_setup import service
from tenku.resources.app_setup.schemas import AppSetupCreate, AppSetupOut
from tenku.storage.urls import base_url
from tenku.web.deps import AppsReader, AppsWriter, Context, Db, TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.post("/app-setups", response_model=AppSetupOut, status_code=201)
async def create(
    request: Request,
    caller: AppsWriter,
    db: Db,
    ctx: Context,
    params: AppSetupCreate = body(AppSetupCreate),
) -> Response:
    # The transaction's commit nudges the runtime, which performs the setup.
    setup = await service.create_setup(db, caller.account, params, ctx.settings)
    out = service.render(setup, base_url(ctx.settings, request), ctx.signer, caller.account.id)
    return model_response(out, status=201)


@router.get("/app-setups/{app_setup_id}", response_model=AppSetupOut)
async def info(
    request: Request, app_setup_id: str, caller: AppsReader, db: Db, ctx: Context
) -> Response:
    setup = await service.get_setup(db, caller.account, app_setup_id)
    out = service.render(setup, base_url(ctx.settings, request), ctx.signer, caller.account.id)
    return model_response(out)
